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

A late cause that shows two groups to be one incident (``Join.merged``) merges
the groups for later decisions, and their incidents become one: the cause
joins the one that survives, preferably one people may have seen already
(``fixed``), else one that exists, else the one its group holds. An incident
opened in this same call does not exist yet, so its alerts simply go to the
survivor; each other incident is a ``Link`` for the caller, who moves its
alerts when nobody has seen it and notes the link otherwise
(``shared.incidents.merge``). The cause's ``placed`` entry keeps the incidents
it linked, so a retried delivery does what a crashed attempt left undone.

An alert the grouping moves to a cause that arrived after it (``Join.drew``)
goes with it: decided in this same call, its decision changes; placed by an
earlier delivery, it is a ``Move`` for the caller, who moves it while nobody
has seen its incident (``shared.incidents.merge.move_alert``). The cause's
``placed`` entry keeps its moves too, for a retried delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
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
class Move:
    """An alert placed by an earlier delivery that ``cause``, arrived since though it
    began first, explains better: it goes from ``from_id`` to ``to_id`` unless people
    may have seen ``from_id``."""

    fingerprint: str
    from_id: str
    to_id: str
    reason: str
    cause: Alert


@dataclass(frozen=True, slots=True)
class Link:
    """Two incidents a late cause showed to be one: ``other_id`` goes into ``incident_id``
    unless people may have seen it."""

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
    fixed: Callable[[str], bool] = lambda _incident: False,
) -> tuple[list[Decision], list[Link], list[Move]]:
    """Assign ``alerts`` (new firing ones, in the order to decide them) under the ETag.

    ``closed``: incidents found resolved; their groups are forgotten first, so
    their alerts and any relation to them open or join another. ``fixed``:
    whether people may have seen an incident (asked when a late cause merges
    groups, which makes it the one the others go into, and before an alert
    leaves it: it keeps what people may have seen).
    """
    closed = set(closed)
    seen: dict[str, bool] = {}

    def settled(incident: str) -> bool:
        if incident not in seen:
            seen[incident] = fixed(incident)
        return seen[incident]

    for _ in range(_ATTEMPTS):
        doc = store.get(Container.DEDUP, tenant_id, STATE_ID)
        incident_of: dict[str, str] = dict(doc.get("incidents", {})) if doc else {}
        opened: set[str] = set()  # incidents this call opens: none of them exists yet

        def keeps(
            _tenant: str, group: str, of: dict[str, str] = incident_of, new: set[str] = opened
        ) -> bool:
            """Its alerts stay put: people may have seen its incident."""
            incident = of.get(group, group)
            return incident not in new and settled(incident)

        grouper = Grouper(
            {tenant_id: topology}, params=params, new_id=lambda _t: new_id(), settled=keeps
        )
        placed: dict[str, list[Any]] = dict(doc.get("placed", {})) if doc else {}
        if doc is not None:
            grouper.restore(tenant_id, doc.get("grouper", {}))
        grouper.forget(
            tenant_id, [g for g, i in incident_of.items() if i in closed] + sorted(closed)
        )
        decisions: list[Decision] = []
        links: list[Link] = []
        moves: list[Move] = []
        for alert in alerts:
            earlier = placed.get(alert.fingerprint)
            if earlier is not None and str(earlier[0]) not in closed:
                decisions.append(Decision(alert=alert, incident_id=str(earlier[0]), join=None))
                linked = earlier[2] if len(earlier) > 2 else ()
                links.extend(Link(str(earlier[0]), str(o), alert) for o in linked)
                made = earlier[3] if len(earlier) > 3 else ()
                moves.extend(Move(str(f), str(a), str(b), str(r), alert) for f, a, b, r in made)
                continue
            join = grouper.assign(alert)
            incident = incident_of.get(join.group_id, join.group_id)
            cause_of = False
            linked = []
            if join.merged:
                merged = list(dict.fromkeys(incident_of.get(g, g) for g in join.merged))
                if join.relation is Relation.OPENED:
                    incident, cause_of = merged[0], True
                ones = list(dict.fromkeys([incident, *merged]))
                incident = _survivor(ones, opened, settled)
                incident_of[join.group_id] = incident
                for other in ones:
                    if other == incident:
                        continue
                    if other in opened:  # never created: its alerts simply go there too
                        opened.discard(other)
                        decisions = [
                            replace(d, incident_id=incident) if d.incident_id == other else d
                            for d in decisions
                        ]
                        for p in placed.values():
                            if p[0] == other:
                                p[0] = incident
                    else:
                        linked.append(other)
                links.extend(Link(incident_id=incident, other_id=o, alert=alert) for o in linked)
            elif join.relation is Relation.OPENED:
                opened.add(incident)
            drawn: list[list[str]] = []
            for moved in join.drew:
                source = incident_of.get(str(moved.moved_from), str(moved.moved_from))
                earlier = placed.get(moved.fingerprint)
                if earlier is not None:
                    earlier[0] = incident
                if source == incident:
                    continue
                decided_here = False  # then it is not placed anywhere yet
                for n, d in enumerate(decisions):
                    if d.alert.fingerprint == moved.fingerprint:
                        decided_here = decided_here or d.join is not None
                        join_now = moved if d.join is not None else None
                        decisions[n] = replace(d, incident_id=incident, join=join_now)
                if not decided_here:
                    drawn.append([moved.fingerprint, source, incident, moved.reason])
            moves.extend(Move(f, a, b, r, alert) for f, a, b, r in drawn)
            entry: list[Any] = [incident, alert.starts_at.timestamp()]
            placed[alert.fingerprint] = entry + (
                [linked, drawn] if drawn else [linked] * bool(linked)
            )
            decisions.append(
                Decision(alert=alert, incident_id=incident, join=join, cause_of=cause_of)
            )
        if all(d.join is None for d in decisions):
            return decisions, links, moves  # all placed before: nothing to store
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
        return decisions, links, moves
    raise PreconditionFailed(f"{tenant_id}: grouping state too contended")


def _survivor(ones: Sequence[str], opened: set[str], fixed: Callable[[str], bool]) -> str:
    """The incident the others go into: one people may have seen (it cannot move),
    else one that exists (the others' alerts move, not its), else the first."""
    existing = [i for i in ones if i not in opened]
    return next((i for i in existing if fixed(i)), (existing or list(ones))[0])


def placed_incident(store: DocumentStore, tenant_id: str, fingerprint: str) -> str | None:
    """The incident the grouping state placed ``fingerprint`` in, if it still holds it."""
    doc = store.get(Container.DEDUP, tenant_id, STATE_ID)
    earlier = (doc or {}).get("placed", {}).get(fingerprint)
    return None if earlier is None else str(earlier[0])
