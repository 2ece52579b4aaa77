"""Raw deliveries, stored before they are acknowledged so nothing is lost."""

from __future__ import annotations

from enum import StrEnum

from shared.models.base import TenantDocument, UtcDatetime


class RawEventOutcome(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    INVALID = "invalid"
    FAILED = "failed"
    """Answered with an error the sender retries (503 on contention, a store outage):
    its retry is a new raw event."""


class RawEvent(TenantDocument):
    """One delivery as received; ``outcome`` leaves ``received`` on every answer."""

    source: str
    received_at: UtcDatetime
    body: str
    content_type: str | None = None
    outcome: RawEventOutcome = RawEventOutcome.RECEIVED
    reason: str | None = None
    incident_ids: tuple[str, ...] = ()
