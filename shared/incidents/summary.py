"""Reading an incident and the changes around it from the store."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.errors import NotFound
from shared.models.base import iso
from shared.models.change import ChangeEvent
from shared.models.incident import Incident
from shared.ports.store import Container, DocumentStore, Filter


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


def changes_before(
    store: DocumentStore, incident: Incident, *, lookback: timedelta
) -> tuple[ChangeEvent, ...]:
    """Changes to the incident's services from ``lookback`` before it began."""
    # Alert times, not receive times: a replayed or delayed delivery must not
    # widen the window to changes made long after the incident began.
    latest_start = incident.latest_start or incident.first_seen
    return recent_changes(
        store,
        incident.tenant_id,
        set(incident.services),
        start=incident.first_seen - lookback,
        end=latest_start,
    )
