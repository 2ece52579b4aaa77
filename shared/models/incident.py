"""Incidents: alerts correlated into one thing to work on."""

from __future__ import annotations

from enum import StrEnum

from shared.models.alert import AlertStatus, Severity
from shared.models.base import Model, TenantDocument, UtcDatetime


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertRef(Model):
    """What an incident keeps of each of its alerts."""

    id: str
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


class Incident(TenantDocument):
    title: str
    status: IncidentStatus = IncidentStatus.OPEN
    severity: Severity = Severity.WARNING
    services: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()
    fingerprints: tuple[str, ...] = ()
    alerts: tuple[AlertRef, ...] = ()
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    source_links: tuple[str, ...] = ()
    notes: tuple[dict[str, str], ...] = ()
    created_at: UtcDatetime
    updated_at: UtcDatetime
    acknowledged_at: UtcDatetime | None = None
    resolved_at: UtcDatetime | None = None
    last_signalled_at: UtcDatetime | None = None
    """When ingestion last told the orchestration its alerts changed (throttles storms)."""

    @property
    def firing_alerts(self) -> tuple[AlertRef, ...]:
        return tuple(a for a in self.alerts if a.status is not AlertStatus.RESOLVED)
