"""Live grouping: ``Grouper.assign`` over a tenant's alerts, its state kept in the store.

Each delivery reads the tenant's grouping document (``Container.DEDUP``, id
``STATE_ID``), restores a ``Grouper`` from it, assigns the delivery's new
firing alerts (earliest onset first, as ``correlate`` does within a
delivery), and writes it back under the ETag it read; a concurrent delivery
that wrote first makes this one decide again on the newer state. Nothing is
written to incidents before the decisions are stored, and a group's id is the
id of the incident it fills, so a delivery retried after a crash finds its
alerts placed (``placed``) and creates a missing incident under the same id.

The document stays small: groups quiet for longer than the grouping horizon
before the latest onset are dropped (no alert can join them any more), and so
are groups whose incident was resolved (``closed``); alerts placed are kept
only as long as their onset is within the horizon, after which the
fingerprint index (``fp:`` documents) says where each went.

A late cause that shows two groups to be one incident (``Join.merged``) does
not move alerts between incidents already posted: the groups are merged for
later decisions, and their incidents are linked (``Link``). When the cause
opened a group of its own, it joins the incident the first of those groups
opened instead of opening another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.correlation.grouping import Grouper, Join, Params, Relation
from shared.errors import Conflict, PreconditionFailed
from shared.models.alert import Alert
from shared.models.tenant import Topology
from shared.ports.store import Container, DocumentStore

STATE_ID = "grouping-state"
"""The tenant's grouping document in ``Container.DEDUP`` (one per tenant partition)."""
_ATTEMPTS = 50


@dataclass(frozen=True, slots=True)
class Decision:
    """Where one new firing alert goes, and why."""

    alert: Alert
    incident_id: str
    join: Join | None
    """The decision; None when the alert was placed by an earlier attempt of a delivery."""
    cause_of: bool = False
    """It is the late cause of the alerts that opened ``incident_id`` (it opened a group
    and gathered theirs): it joins their incident rather than opening one."""


@dataclass(frozen=True, slots=True)
class Link:
    """Two incidents a late cause showed to be one; their alerts stay where they are."""

    incident_id: str
    other_id: str
    alert: Alert


def decide(
    store: DocumentStore,
    tenant_id: str,
    alerts: Sequence[Alert],
    topology: Topology,
    *,
    new_id: Callable[[], str],
    closed: Iterable[str] = (),
    params: Params | None = None,
) -> tuple[list[Decision], list[Link]]:
    """Assign ``alerts`` (new firing ones, in the order to decide them) under the ETag.

    ``closed``: incidents found resolved; their groups are forgotten first, so
    their alerts and any relation to them open or join another.
    """
    closed = set(closed)
    for _ in range(_ATTEMPTS):
        doc = store.get(Container.DEDUP, tenant_id, STATE_ID)
        grouper = Grouper({tenant_id: topology}, params=params, new_id=lambda _t: new_id())
        incident_of: dict[str, str] = dict(doc.get("incidents", {})) if doc else {}
        placed: dict[str, list[Any]] = dict(doc.get("placed", {})) if doc else {}
        if doc is not None:
            grouper.restore(tenant_id, doc.get("grouper", {}))
        grouper.forget(
            tenant_id, [g for g, i in incident_of.items() if i in closed] + sorted(closed)
        )
        decisions: list[Decision] = []
        links: list[Link] = []
        for alert in alerts:
            earlier = placed.get(alert.fingerprint)
            if earlier is not None and str(earlier[0]) not in closed:
                decisions.append(Decision(alert=alert, incident_id=str(earlier[0]), join=None))
                continue
            join = grouper.assign(alert)
            incident = incident_of.get(join.group_id, join.group_id)
            cause_of = False
            if join.merged:
                merged = list(dict.fromkeys(incident_of.get(g, g) for g in join.merged))
                if join.relation is Relation.OPENED:
                    incident, cause_of = merged[0], True
                    incident_of[join.group_id] = incident
                links.extend(
                    Link(incident_id=incident, other_id=m, alert=alert)
                    for m in merged
                    if m != incident
                )
            placed[alert.fingerprint] = [incident, alert.starts_at.timestamp()]
            decisions.append(
                Decision(alert=alert, incident_id=incident, join=join, cause_of=cause_of)
            )
        if all(d.join is None for d in decisions):
            return decisions, links  # all placed before: nothing to store
        state = grouper.export(tenant_id)
        live = {g["id"] for g in state["groups"]}
        latest = max((float(g["last"]) for g in state["groups"]), default=0.0)
        record = {
            "id": STATE_ID,
            "tenantId": tenant_id,
            "grouper": state,
            "incidents": {g: i for g, i in incident_of.items() if g in live},
            "placed": {
                fp: p
                for fp, p in placed.items()
                if float(p[1]) >= latest - grouper.horizon and str(p[0]) not in closed
            },
        }
        try:
            if doc is None:
                store.create(Container.DEDUP, tenant_id, record)
            else:
                store.replace(Container.DEDUP, tenant_id, record, etag=str(doc["_etag"]))
        except (Conflict, PreconditionFailed):
            continue  # another delivery decided first: decide again on its state
        return decisions, links
    raise PreconditionFailed(f"{tenant_id}: grouping state too contended")


def placed_incident(store: DocumentStore, tenant_id: str, fingerprint: str) -> str | None:
    """The incident the grouping state placed ``fingerprint`` in, if it still holds it."""
    doc = store.get(Container.DEDUP, tenant_id, STATE_ID)
    earlier = (doc or {}).get("placed", {}).get(fingerprint)
    return None if earlier is None else str(earlier[0])
