"""Which alerts an incident holds: one ``IncidentAlert`` document per alert.

The incident document keeps only what stays the same size however many alerts
join (a count, the latest start, the services and hosts), so a delivery's
store work depends on the alerts it carries, not on the incident's. Readers
that show alerts take a bounded sample (``with_alerts``); status decisions
that need "is any alert still firing?" ask the store (``any_with_status``),
which answers from an index on both adapters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.errors import Conflict, PreconditionFailed
from shared.models.alert import Alert, AlertStatus
from shared.models.incident import AlertRef, Incident, IncidentAlert, alert_facts, member_id
from shared.ports.store import Container, DocumentStore, Filter

DISPLAY_LIMIT = 50
"""Alerts read for a message or a listing; the count is shown for the rest."""
CONTEXT_LIMIT = 500
"""Alerts, latest first, that an analysis reads at most."""
_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one delivery changed in an incident's alerts."""

    added: int = 0
    """Alerts new to the incident."""
    settles: bool = False
    """An alert was delivered resolved or acknowledged: the incident's status needs deciding."""
    created: tuple[str, ...] = ()
    """The memberships this call created (``added`` of them), by id."""


def member(incident_id: str, alert: Alert) -> IncidentAlert:
    return IncidentAlert(
        id=member_id(incident_id, alert.id),
        tenant_id=alert.tenant_id,
        incident_id=incident_id,
        alert_id=alert.id,
        **alert_facts(alert),
    )


def record(
    store: DocumentStore, tenant_id: str, incident_id: str, alerts: Sequence[Alert]
) -> Recorded:
    """Write each alert's membership: one point read and at most one write per alert.

    A late re-delivery of "firing" never undoes a resolution already recorded.
    Creation is exactly-once (``create``), so ``added`` counts each alert once
    however many deliveries race; a retried delivery finds its alerts recorded
    and adds nothing.
    """
    created: list[str] = []
    for alert in alerts:
        wanted = member(incident_id, alert)
        for _ in range(_ATTEMPTS):
            current = store.get(Container.INCIDENT_ALERTS, tenant_id, wanted.id)
            if current is None:
                try:
                    store.create(Container.INCIDENT_ALERTS, tenant_id, wanted.to_doc())
                except Conflict:
                    continue
                created.append(wanted.id)
                break
            etag = str(current.pop("_etag"))
            known = IncidentAlert.from_doc(current)
            if known == wanted or (known.status is AlertStatus.RESOLVED and alert.is_firing):
                break
            try:
                store.replace(Container.INCIDENT_ALERTS, tenant_id, wanted.to_doc(), etag=etag)
            except PreconditionFailed:
                continue
            break
        else:
            raise PreconditionFailed(f"alert {alert.id} of {incident_id} is contended")
    settles = any(a.status is not AlertStatus.FIRING for a in alerts)
    return Recorded(added=len(created), settles=settles, created=tuple(created))


def move(
    store: DocumentStore, tenant_id: str, from_id: str, to_id: str
) -> tuple[IncidentAlert, ...]:
    """Move every alert of ``from_id`` into ``to_id``; the memberships as moved.

    Each is written to ``to_id`` before it is removed from ``from_id``, so an
    alert is never in neither, and running it again moves what is left (a
    retried merge, or an alert a racing delivery recorded in ``from_id`` late).
    Where ``to_id`` holds the alert already, the more settled of the two stays:
    a resolution is never undone. Costs ``from_id``'s alerts: it is called only
    for an incident nobody has seen yet, which is young and small.
    """
    docs = store.query(Container.INCIDENT_ALERTS, tenant_id, [Filter("incidentId", "=", from_id)])
    moved: list[IncidentAlert] = []
    for doc in docs:
        doc.pop("_etag", None)
        old = IncidentAlert.from_doc(doc)
        wanted = old.model_copy(update={"id": member_id(to_id, old.alert_id), "incident_id": to_id})
        _put(store, tenant_id, wanted)
        store.delete(Container.INCIDENT_ALERTS, tenant_id, old.id)
        moved.append(wanted)
    return tuple(moved)


def _put(store: DocumentStore, tenant_id: str, wanted: IncidentAlert) -> None:
    for _ in range(_ATTEMPTS):
        current = store.get(Container.INCIDENT_ALERTS, tenant_id, wanted.id)
        if current is None:
            try:
                store.create(Container.INCIDENT_ALERTS, tenant_id, wanted.to_doc())
            except Conflict:
                continue
            return
        etag = str(current.pop("_etag"))
        known = IncidentAlert.from_doc(current)
        if known == wanted or known.status is AlertStatus.RESOLVED:
            return
        if wanted.status is AlertStatus.FIRING and known.status is AlertStatus.ACKNOWLEDGED:
            return
        try:
            store.replace(Container.INCIDENT_ALERTS, tenant_id, wanted.to_doc(), etag=etag)
        except PreconditionFailed:
            continue
        return
    raise PreconditionFailed(f"alert {wanted.alert_id} of {wanted.incident_id} is contended")


def any_with_status(
    store: DocumentStore, tenant_id: str, incident_id: str, status: AlertStatus
) -> bool:
    """Whether any alert of the incident has ``status`` (one indexed lookup)."""
    found = store.query(
        Container.INCIDENT_ALERTS,
        tenant_id,
        [Filter("incidentId", "=", incident_id), Filter("status", "=", status.value)],
        limit=1,
    )
    return bool(found)


def members(
    store: DocumentStore,
    tenant_id: str,
    incident_id: str,
    *,
    limit: int,
    latest_first: bool = False,
) -> tuple[AlertRef, ...]:
    """Up to ``limit`` alerts of the incident by start time."""
    docs = store.query(
        Container.INCIDENT_ALERTS,
        tenant_id,
        [Filter("incidentId", "=", incident_id)],
        order_by="starts_at",
        descending=latest_first,
        limit=limit,
    )
    return tuple(IncidentAlert.from_doc(doc).ref for doc in docs)


def with_alerts(
    store: DocumentStore, incident: Incident, *, limit: int = DISPLAY_LIMIT
) -> Incident:
    """The incident with its first ``limit`` alerts filled in for display."""
    sample = members(store, incident.tenant_id, incident.id, limit=limit)
    return incident.model_copy(update={"alerts": sample})
