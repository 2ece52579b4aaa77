"""The plain incident summary: the incident, its alerts, and what changed.

This is the first thing the incident orchestration produces; the intelligence
stage adds hypotheses on top of the same inputs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.errors import NotFound
from shared.models.alert import Alert
from shared.models.base import Model, iso
from shared.models.change import ChangeEvent
from shared.models.incident import Incident
from shared.ports.store import Container, DocumentStore, Filter


class IncidentSummary(Model):
    incident: Incident
    alerts: tuple[Alert, ...]
    changes: tuple[ChangeEvent, ...]


def load_incident(store: DocumentStore, tenant_id: str, incident_id: str) -> Incident:
    doc = store.get(Container.INCIDENTS, tenant_id, incident_id)
    if doc is None:
        raise NotFound(f"no incident {incident_id} for tenant {tenant_id}")
    return Incident.from_doc(doc)


def recent_changes(
    store: DocumentStore, tenant_id: str, services: set[str], *, start: datetime, end: datetime
) -> tuple[ChangeEvent, ...]:
    """Changes to ``services`` (all services when empty) between ``start`` and ``end``."""
    docs = store.query(
        Container.CHANGES,
        tenant_id,
        [Filter("at", ">=", iso(start)), Filter("at", "<=", iso(end))],
        order_by="at",
    )
    changes = (ChangeEvent.from_doc(d) for d in docs)
    return tuple(c for c in changes if not services or c.service in services)


def assemble_summary(
    store: DocumentStore,
    tenant_id: str,
    incident_id: str,
    *,
    lookback: timedelta,
    related_services: set[str] | None = None,
) -> IncidentSummary:
    incident = load_incident(store, tenant_id, incident_id)
    alerts = []
    for ref in incident.alerts:
        doc = store.get(Container.ALERTS, tenant_id, ref.id)
        if doc is not None:
            alerts.append(Alert.from_doc(doc))
    services = set(incident.services) | (related_services or set())
    # Alert times, not receive times: a replayed or delayed delivery must not
    # widen the window to changes made long after the incident began.
    latest_start = max((ref.starts_at for ref in incident.alerts), default=incident.first_seen)
    changes = recent_changes(
        store, tenant_id, services, start=incident.first_seen - lookback, end=latest_start
    )
    return IncidentSummary(incident=incident, alerts=tuple(alerts), changes=changes)
