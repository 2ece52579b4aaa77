"""Incidents: alerts correlated into one thing to work on."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from shared.models.alert import Alert, AlertStatus, Severity
from shared.models.base import Model, TenantDocument, UtcDatetime, doc_id


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class _AlertFacts(Model):
    """What an incident shows of each of its alerts."""

    fingerprint: str
    name: str
    status: AlertStatus
    severity: Severity
    service: str | None = None
    instance: str | None = None
    summary: str = ""
    starts_at: UtcDatetime
    ends_at: UtcDatetime | None = None
    source: str


def alert_facts(alert: Alert) -> dict[str, Any]:
    """The ``_AlertFacts`` fields of an alert (for ``AlertRef`` and ``IncidentAlert``)."""
    return {
        "fingerprint": alert.fingerprint,
        "name": alert.name,
        "status": alert.status,
        "severity": alert.severity,
        "service": alert.service,
        "instance": alert.instance,
        "summary": alert.summary,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "source": alert.source.value,
    }


class AlertRef(_AlertFacts):
    """One alert of an incident, as readers get it."""

    id: str


class IncidentAlert(TenantDocument, _AlertFacts):
    """One alert's membership in an incident: a document of its own.

    Kept apart from the incident so that a delivery reads and writes only the
    alerts it carries, whatever the size of the incident (a storm of thousands
    of alerts costs each delivery the same). ``id`` is ``member_id``.
    """

    incident_id: str = Field(alias="incidentId")
    alert_id: str

    @property
    def ref(self) -> AlertRef:
        return AlertRef.model_validate(
            self.model_dump(exclude={"id", "tenant_id", "incident_id", "alert_id"})
            | {"id": self.alert_id}
        )


def member_id(incident_id: str, alert_id: str) -> str:
    """The ``IncidentAlert`` id of an alert in an incident."""
    return doc_id("member:", f"{incident_id}:{alert_id}")


class Incident(TenantDocument):
    title: str
    status: IncidentStatus = IncidentStatus.OPEN
    severity: Severity = Severity.WARNING
    services: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()
    alert_count: int = 0
    """How many alerts the incident holds (each an ``IncidentAlert`` document); for a
    merged one (``merged_into``), how many it held when merged."""
    latest_start: UtcDatetime | None = None
    """The latest start time of its alerts."""
    alerts: tuple[AlertRef, ...] = Field(default=(), exclude=True)
    """A bounded sample of its alerts, earliest first, for display: filled by
    ``shared.incidents.alerts.with_alerts``, never stored with the incident."""
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    source_links: tuple[str, ...] = ()
    notes: tuple[dict[str, str], ...] = ()
    created_at: UtcDatetime
    updated_at: UtcDatetime
    acknowledged_at: UtcDatetime | None = None
    resolved_at: UtcDatetime | None = None
    alert_revision: int = 0
    """Bumped by every alert change; the orchestration re-analyses while it is behind."""
    wake_requested_at: UtcDatetime | None = None
    """When ingestion last woke the orchestration and it has not drained since (see
    ``shared.incidents.work``): further changes until then need no wake of their own."""
    announced_at: UtcDatetime | None = None
    """When its orchestration claimed the first post of its message, just before
    posting (``shared.incidents.merge.claim_post``). Once set, the incident is
    never merged into another: people may have seen it."""
    merged_into: str | None = None
    """The incident its alerts were moved to before anyone had seen it
    (``shared.incidents.merge``). Such an incident is resolved at the merge, holds
    no alerts any more and keeps ``alert_count`` as it was, and its orchestration
    ends without posting."""

    @property
    def firing_alerts(self) -> tuple[AlertRef, ...]:
        return tuple(a for a in self.alerts if a.status is not AlertStatus.RESOLVED)
