"""Alerts, normalised from any source into one shape."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from shared.models.base import TenantDocument, UtcDatetime


class AlertSource(StrEnum):
    ALERTMANAGER = "alertmanager"
    PAGERDUTY = "pagerduty"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"critical": 3, "warning": 2, "info": 1}[self.value]


class Alert(TenantDocument):
    """One alert as the product sees it, whatever sent it.

    ``id`` is ``fingerprint`` plus the start time, so a re-fire after resolution
    is a new alert while re-deliveries of the same one collapse.
    """

    source: AlertSource
    fingerprint: str = Field(min_length=1)
    status: AlertStatus
    name: str
    summary: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    service: str | None = None
    instance: str | None = None
    severity: Severity = Severity.WARNING
    starts_at: UtcDatetime
    ends_at: UtcDatetime | None = None
    source_url: str | None = None
    raw_event_id: str | None = None
    extra: dict[str, Any] = {}

    @property
    def is_firing(self) -> bool:
        return self.status is not AlertStatus.RESOLVED
