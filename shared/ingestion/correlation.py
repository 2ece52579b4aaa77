"""Correlation: which incident each alert of a delivery belongs to.

The decision is ``shared.correlation``'s, the one ``correlate`` makes on a
storm file: a delivery's alerts are taken earliest onset first and each new
firing alert joins the incident of the group ``Grouper.assign`` puts it in,
or opens one (``shared.ingestion.grouping`` keeps the tenant's groups in the
store under optimistic concurrency). A delivery may so touch several
incidents: an Alertmanager group often mixes incidents in a storm.

- An alert already placed (the same fingerprint, a re-delivery or its
  resolution) goes where it went, through the fingerprint index (``fp:``
  documents, which also keep why it joined); a "firing" for an alert known
  resolved is an out-of-order re-delivery and is dropped.
- An incident found resolved takes no new alert: its group is forgotten and
  the alert decided again (a re-fire after resolution opens a new incident).
- Each incident notes why each of its services and hosts is there (one note
  per relation and service or host, so its size is not its alerts').
- A late cause that shows two incidents to be one merges them when nobody has
  seen the one absorbed yet: its alerts, counts and fingerprints move to the
  survivor, which is woken to analyse again, and it is resolved as merged
  (``shared.incidents.merge``). One already posted or acted on keeps its
  alerts: both get a note ("likely same cause as INC-…"). An alert routed to
  a merged incident (a repeat, a resolution, a retried delivery) goes to the
  one it was merged into.
- An alert decided before a cause that began before it arrived, and that the
  cause explains better, moves to the cause's incident while nobody has seen
  the one it is in: its membership, count and fingerprint move, both
  incidents note why and analyse again (``merge.move_alert``).
- When none of an incident's alerts fires any more, it is resolved.

Lookups are point reads, never scans; an incident's document costs the
delivery's size, never the incident's (``shared.incidents.alerts``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.correlation.grouping import Params, Relation
from shared.correlation.storm import in_order
from shared.errors import Conflict
from shared.incidents import alerts as members
from shared.incidents import merge
from shared.incidents.work import announced, wake_needed
from shared.ingestion import grouping as state
from shared.ingestion.grouping import Decision, Link, Move
from shared.models.alert import Alert, AlertStatus
from shared.models.base import doc_id, iso
from shared.models.incident import AlertRef, Incident, IncidentAlert, IncidentStatus, alert_facts
from shared.models.tenant import Topology
from shared.ports.store import Container, DocumentStore, update_with_retry

_ROUNDS = 4
_FP_TTL = 7 * 24 * 3600
"""How long a fingerprint keeps pointing at its incident (re-fires after that start anew)."""


@dataclass(frozen=True, slots=True)
class IncidentTouch:
    """An incident a delivery created or changed, and whether to tell its orchestration."""

    incident_id: str
    created: bool
    status: IncidentStatus
    signal: bool = True
    """Start (``created``) or wake its orchestration. False for an incident of info
    alerts only, which has none (``shared.incidents.work.announced``), and when a
    wake is pending already."""


INCIDENT_ID = re.compile(r"INC-[0-9]{6}-[0-9A-F]{6}")
"""Every incident id ``new_incident_id`` mints, and nothing else: no ``/``, no ``--``
(the separator of durable instance ids), so an id from a button or a command that
matches it can name nothing but an incident."""


def new_incident_id(at: datetime) -> str:
    return f"INC-{at:%y%m%d}-{secrets.token_hex(3).upper()}"


def is_incident_id(text: str) -> bool:
    """Whether ``text`` has the shape of an id ``new_incident_id`` mints."""
    return INCIDENT_ID.fullmatch(text) is not None


def correlation_key(alert: Alert) -> str:
    if alert.service:
        return f"service:{alert.service}"
    if alert.instance:
        return f"host:{alert.instance}"
    return f"fingerprint:{alert.fingerprint}"


def _ref(alert: Alert) -> AlertRef:
    return AlertRef(id=alert.id, **alert_facts(alert))


def _title(alerts: Sequence[Alert]) -> str:
    lead = max(alerts, key=lambda a: (a.severity.rank, -a.starts_at.timestamp()))
    where = lead.service or lead.instance
    return f"{lead.name} on {where}" if where else lead.name


def summarise(
    incident: Incident,
    alerts: Sequence[Alert],
    at: datetime,
    *,
    added: int,
    status: IncidentStatus,
) -> Incident:
    """The incident's own fields after a delivery of ``alerts``, ``added`` of them new.

    Costs the size of the delivery, never of the incident: the alerts
    themselves are ``IncidentAlert`` documents (``shared.incidents.alerts``).
    Severity is the highest of the alerts fired while it was open.
    """
    firing = [a for a in alerts if a.is_firing]
    severity = incident.severity
    if firing or incident.alert_count == 0:
        top = max((a.severity for a in firing or alerts), key=lambda s: s.rank)
        if incident.alert_count == 0 or top.rank > severity.rank:
            severity = top
    resolved_at = incident.resolved_at
    acknowledged_at = incident.acknowledged_at
    if status is IncidentStatus.RESOLVED:
        resolved_at = resolved_at or at
    elif status is IncidentStatus.ACKNOWLEDGED:
        acknowledged_at = acknowledged_at or at
    elif incident.status is IncidentStatus.RESOLVED:
        resolved_at = None
    links = list(incident.source_links)
    for alert in alerts:
        if alert.source_url and alert.source_url not in links:
            links.append(alert.source_url)
    starts = [a.starts_at for a in alerts]
    return incident.model_copy(
        update={
            "alert_count": incident.alert_count + added,
            "services": tuple(
                dict.fromkeys([*incident.services, *(a.service for a in alerts if a.service)])
            ),
            "instances": tuple(
                dict.fromkeys([*incident.instances, *(a.instance for a in alerts if a.instance)])
            ),
            "severity": severity,
            "status": status,
            "resolved_at": resolved_at,
            "acknowledged_at": acknowledged_at,
            "first_seen": min([incident.first_seen, *starts]),
            "latest_start": max([*starts, *filter(None, [incident.latest_start])]),
            "last_seen": max([incident.last_seen, at]),
            "source_links": tuple(links[:20]),
            "updated_at": at,
        }
    )


def merge_alerts(incident: Incident, alerts: Sequence[Alert], at: datetime) -> Incident:
    """An in-memory incident with ``alerts`` folded into its ``alerts`` (replays, tests).

    The same rules as the store's (``Correlator``): the same alert twice is
    one; a late "firing" never undoes a resolution; the incident resolves when
    no alert fires and is acknowledged when every firing one is.
    """
    refs = {ref.id: ref for ref in incident.alerts}
    added = 0
    for alert in alerts:
        previous = refs.get(alert.id)
        if previous is not None and previous.status is AlertStatus.RESOLVED and alert.is_firing:
            continue
        added += previous is None
        refs[alert.id] = _ref(alert)
    ordered = sorted(refs.values(), key=lambda r: (r.starts_at, r.id))
    firing = [r for r in ordered if r.status is not AlertStatus.RESOLVED]
    status = incident.status
    if not firing:
        status = IncidentStatus.RESOLVED
    elif all(r.status is AlertStatus.ACKNOWLEDGED for r in firing):
        status = IncidentStatus.ACKNOWLEDGED
    elif status is IncidentStatus.RESOLVED:
        status = IncidentStatus.OPEN
    merged = summarise(incident, alerts, at, added=added, status=status)
    return merged.model_copy(update={"alerts": tuple(ordered)})


def _join_note(decision: Decision) -> tuple[str, str] | None:
    """(key, text) of the note saying why the alert is in its incident; None for a repeat.

    One note per relation and service or host: the incident says why each of
    its services and hosts is there, and its size stays that of its services
    and hosts, not of its alerts (each alert's own reason is on its ``fp:``
    document).
    """
    join = decision.join
    alert = decision.alert
    if join is None or join.relation is Relation.SAME_ALERT:
        return None
    if decision.cause_of:
        where = alert.service or alert.instance or alert.fingerprint
        return (
            f"cause:{where}",
            f"{merge.where(alert)} joined: the likelier cause of the alerts that opened this "
            f"incident, arrived after them (alert {alert.fingerprint})",
        )
    if join.relation is Relation.OPENED:
        return "opened", f"Opened by {merge.where(alert)} (alert {alert.fingerprint})"
    reason = join.reason.split("; merged", 1)[0]
    key = f"{join.relation.value}:{join.via}:{alert.service or alert.instance}"
    return key, f"{merge.where(alert)} joined: {reason}"


def _note(key: str, text: str, at: datetime) -> dict[str, str]:
    return {"at": iso(at), "source": "correlation", "key": key, "text": text}


def _with_notes(incident: Incident, notes: Sequence[dict[str, str]]) -> Incident:
    """``incident`` with the notes whose key it does not have yet."""
    keys = {n.get("key") for n in incident.notes}
    new = [n for n in notes if n["key"] not in keys]
    if not new:
        return incident
    return incident.model_copy(update={"notes": (*incident.notes, *new)})


def _combine(touches: Sequence[IncidentTouch]) -> tuple[IncidentTouch, ...]:
    """One touch per incident, in first-touched order."""
    by_id: dict[str, IncidentTouch] = {}
    for t in touches:
        before = by_id.get(t.incident_id)
        if before is None:
            by_id[t.incident_id] = t
        else:
            by_id[t.incident_id] = IncidentTouch(
                incident_id=t.incident_id,
                created=before.created or t.created,
                status=t.status,
                signal=before.signal or t.signal,
            )
    return tuple(by_id.values())


class Correlator:
    """Splits each delivery's alerts into incidents by ``Grouper.assign``."""

    def __init__(self, store: DocumentStore, *, params: Params | None = None) -> None:
        self._store = store
        self._params = params

    def apply(
        self,
        tenant_id: str,
        alerts: Sequence[Alert],
        at: datetime,
        topology: Topology | None = None,
    ) -> tuple[IncidentTouch, ...]:
        """Fold ``alerts`` (one delivery) into incidents; the incidents touched."""
        alerts = in_order(a for a in alerts if not self._late_firing(tenant_id, a))
        if not alerts:
            return ()
        for alert in alerts:
            self._store.upsert(Container.ALERTS, tenant_id, alert.to_doc())
        index = {
            fp: self._store.get(Container.DEDUP, tenant_id, doc_id("fp:", fp))
            for fp in dict.fromkeys(a.fingerprint for a in alerts)
        }
        known = {fp: str(doc["incidentId"]) for fp, doc in index.items() if doc is not None}
        closed: set[str] = set()
        absorbed: set[str] = set()
        touches: list[IncidentTouch] = []
        pending = list(alerts)
        for _ in range(_ROUNDS):
            routed, links, moves = self._route(tenant_id, pending, known, closed, at, topology)
            pending = []
            placed: list[tuple[str, list[Decision]]] = []
            for incident_id, decisions in routed.items():
                touch = self._place(tenant_id, incident_id, decisions, at)
                if touch is not None:
                    touches.append(touch)
                    placed.append((touch.incident_id, decisions))
                    continue
                # Resolved since its group formed: its group is forgotten and its
                # firing alerts decided again (a re-fire opens or joins another).
                closed.add(incident_id)
                pending.extend(d.alert for d in decisions if d.alert.is_firing)
            for link in links:
                if link.incident_id not in closed and link.other_id not in closed:
                    touch = self._merge_or_link(tenant_id, link, at)
                    if touch is not None:
                        absorbed.add(link.other_id)
                        touches.append(touch)
            for move in moves:
                if move.from_id not in closed and move.to_id not in closed:
                    touches.extend(self._move(tenant_id, move, at))
            # Fingerprints last: until the cause's is written, its delivery retried
            # goes through the grouping state again, which recalls the links it made.
            for incident_id, decisions in placed:
                if incident_id in absorbed:  # placed, then merged away by a late cause
                    incident_id, _ = merge.follow(self._store, tenant_id, incident_id)
                self._reindex(tenant_id, incident_id, decisions, index)
            if not pending:
                # An incident merged away has nothing left to start or wake: its
                # orchestration, if any, ends at its first post (``merge``).
                return _combine([t for t in touches if t.incident_id not in absorbed])
        raise Conflict(f"{tenant_id}: incidents kept resolving under this delivery")

    def _route(
        self,
        tenant_id: str,
        alerts: Sequence[Alert],
        known: dict[str, str],
        closed: set[str],
        at: datetime,
        topology: Topology | None,
    ) -> tuple[dict[str, list[Decision]], list[Link], list[Move]]:
        """Each alert's incident: where its fingerprint went, else the grouping's decision.

        Resolutions and repeats go where the alert went and decide nothing; a
        resolution of an alert never placed has nowhere to go.
        """
        routed: dict[str, list[Decision]] = {}
        fresh: list[Alert] = []
        for alert in alerts:
            incident = known.get(alert.fingerprint)
            if incident is not None and incident not in closed:
                routed.setdefault(incident, []).append(Decision(alert, incident, None))
            elif alert.is_firing:
                fresh.append(alert)
            else:
                placed = state.placed_incident(self._store, tenant_id, alert.fingerprint)
                if placed is not None and placed not in closed:
                    routed.setdefault(placed, []).append(Decision(alert, placed, None))
        links: list[Link] = []
        moves: list[Move] = []
        if fresh:
            decided, links, moves = state.decide(
                self._store,
                tenant_id,
                fresh,
                topology or Topology(),
                new_id=lambda: new_incident_id(at),
                closed=closed,
                params=self._params,
                fixed=lambda incident_id: self._seen(tenant_id, incident_id),
            )
            for decision in decided:
                routed.setdefault(decision.incident_id, []).append(decision)
        return routed, links, moves

    def _seen(self, tenant_id: str, incident_id: str) -> bool:
        """Whether people may have seen the incident (it cannot be merged away)."""
        doc = self._store.get(Container.INCIDENTS, tenant_id, incident_id)
        return doc is not None and merge.seen_by_people(self._store, tenant_id, doc) is not None

    def _merge_or_link(self, tenant_id: str, link: Link, at: datetime) -> IncidentTouch | None:
        """Merge ``link.other_id`` into ``link.incident_id`` if nobody has seen it, else link
        them; the survivor's touch when merged (it analyses again)."""
        done = merge.absorb(
            self._store, tenant_id, link.incident_id, link.other_id, cause=link.alert, at=at
        )
        if done.outcome is merge.Outcome.SEEN:
            self._link(tenant_id, link, at)
            return None
        if done.outcome is not merge.Outcome.MERGED:
            return None
        self._repoint(tenant_id, done.moved)
        status = done.status or IncidentStatus.OPEN
        return IncidentTouch(done.survivor, created=False, status=status, signal=done.signal)

    def _move(self, tenant_id: str, move: Move, at: datetime) -> list[IncidentTouch]:
        """Move an alert a late-arriving cause explains better, unless people may have
        seen the incident it is in; the incidents whose alerts changed."""
        reason = (
            f"{merge.where(move.cause)} (alert {move.cause.fingerprint}) began before it and "
            f"arrived after it: {move.reason}"
        )
        done = merge.move_alert(
            self._store,
            tenant_id,
            move.fingerprint,
            move.from_id,
            move.to_id,
            reason=reason,
            at=at,
        )
        if done.outcome is not merge.Outcome.MERGED:
            return []
        key = doc_id("fp:", move.fingerprint)

        def point(doc: dict[str, Any], into: str = done.into) -> dict[str, Any] | None:
            if doc.get("incidentId") == into:
                return None
            return {**doc, "incidentId": into, "reason": move.reason}

        update_with_retry(self._store, Container.DEDUP, tenant_id, key, point)
        return [
            IncidentTouch(i, created=False, status=st, signal=sig) for i, st, sig in done.touched
        ]

    def _repoint(self, tenant_id: str, moved: Sequence[IncidentAlert]) -> None:
        """Point moved alerts' fingerprints where their incident ended up, so their
        repeats and resolutions go there (one pointing elsewhere, a re-fire's, stays)."""
        for fingerprint in dict.fromkeys(m.fingerprint for m in moved):
            key = doc_id("fp:", fingerprint)
            doc = self._store.get(Container.DEDUP, tenant_id, key)
            if doc is None:
                continue
            survivor, _ = merge.follow(self._store, tenant_id, str(doc["incidentId"]))
            if survivor == doc["incidentId"]:
                continue

            def point(doc: dict[str, Any], survivor: str = survivor) -> dict[str, Any] | None:
                return (
                    None if doc.get("incidentId") == survivor else {**doc, "incidentId": survivor}
                )

            update_with_retry(self._store, Container.DEDUP, tenant_id, key, point)

    def incident_of(self, tenant_id: str, fingerprint: str) -> str | None:
        """The incident an alert with ``fingerprint`` last joined (one point read)."""
        doc = self._store.get(Container.DEDUP, tenant_id, doc_id("fp:", fingerprint))
        return None if doc is None else str(doc["incidentId"])

    def _late_firing(self, tenant_id: str, alert: Alert) -> bool:
        """A "firing" for an alert we already know resolved: an out-of-order redelivery."""
        if not alert.is_firing:
            return False
        stored = self._store.get(Container.ALERTS, tenant_id, alert.id)
        return stored is not None and stored.get("status") == AlertStatus.RESOLVED.value

    def _reindex(
        self,
        tenant_id: str,
        incident_id: str,
        decisions: Sequence[Decision],
        index: dict[str, dict[str, Any] | None],
    ) -> None:
        """Point each fingerprint at its incident, with why it joined (when decided now)."""
        for decision in decisions:
            fingerprint = decision.alert.fingerprint
            key = doc_id("fp:", fingerprint)
            known = index.get(fingerprint)
            if known is not None and known.get("incidentId") == incident_id:
                continue
            doc: dict[str, Any] = {
                "id": key,
                "tenantId": tenant_id,
                "incidentId": incident_id,
                "ttl": _FP_TTL,
            }
            if decision.join is not None:
                doc["reason"] = decision.join.reason
            self._store.upsert(Container.DEDUP, tenant_id, doc)
            index[fingerprint] = doc

    def _place(
        self, tenant_id: str, incident_id: str, decisions: Sequence[Decision], at: datetime
    ) -> IncidentTouch | None:
        """Put the alerts into the incident, creating it under its id when missing.

        An incident merged into another passes its alerts on (and any of its own
        a crashed merge left behind). None when the incident is resolved (or
        gone): the caller decides again.
        """
        alerts = [d.alert for d in decisions]
        notes = [_note(*n, at) for n in map(_join_note, decisions) if n is not None]
        current = self._store.get(Container.INCIDENTS, tenant_id, incident_id)
        if current is not None and current.get("merged_into"):
            self._finish_merge(tenant_id, current, at)
            incident_id, current = merge.follow(self._store, tenant_id, incident_id)
        if current is not None:
            return self._attach(tenant_id, incident_id, alerts, at, notes=notes, current=current)
        firing = [a for a in alerts if a.is_firing]
        if not firing:
            return None  # resolutions for an incident never created: nothing to resolve
        # Its alerts first: the incident exists only once it can be read whole.
        recorded = members.record(self._store, tenant_id, incident_id, firing)
        incident = self._new(tenant_id, incident_id, firing, at, added=len({a.id for a in firing}))
        incident = _with_notes(incident, notes)
        try:
            self._store.create(Container.INCIDENTS, tenant_id, incident.to_doc())
        except Conflict:  # a concurrent delivery placed alerts in it first
            return self._attach(tenant_id, incident_id, alerts, at, notes=notes, recorded=recorded)
        return IncidentTouch(
            incident_id=incident_id,
            created=True,
            status=IncidentStatus.OPEN,
            signal=announced(incident.severity),
        )

    def _finish_merge(self, tenant_id: str, doc: dict[str, Any], at: datetime) -> None:
        """Complete a merge found under way (alerts left behind, fingerprints not moved)."""
        done = merge.finish(self._store, tenant_id, Incident.from_doc(doc), at=at)
        self._repoint(tenant_id, done.moved)

    def _link(self, tenant_id: str, link: Link, at: datetime) -> None:
        """Note on both incidents that a late cause showed them to be one."""
        for one, other in (
            (link.incident_id, link.other_id),
            (link.other_id, link.incident_id),
        ):
            text = (
                f"Likely same cause as {other}: {merge.where(link.alert)} (alert "
                f"{link.alert.fingerprint}) explains the alerts that opened both; each keeps "
                "its alerts"
            )
            note = _note(f"link:{other}", text, at)

            def add(doc: dict[str, Any], note: dict[str, str] = note) -> dict[str, Any] | None:
                incident = Incident.from_doc(doc)
                noted = _with_notes(incident, [note])
                return None if noted is incident else noted.to_doc()

            update_with_retry(self._store, Container.INCIDENTS, tenant_id, one, add)

    def _attach(
        self,
        tenant_id: str,
        incident_id: str,
        alerts: Sequence[Alert],
        at: datetime,
        *,
        notes: Sequence[dict[str, str]] = (),
        recorded: members.Recorded | None = None,
        current: dict[str, Any] | None = None,
    ) -> IncidentTouch | None:
        """Merge into an unresolved incident; None if it is gone or resolved.

        The alerts are recorded as their own documents first, then the
        incident's summary is updated: both cost the delivery's size only.
        ``recorded`` is what an earlier attempt of this delivery recorded.
        """
        if current is None:
            current = self._store.get(Container.INCIDENTS, tenant_id, incident_id)
        if current is None or current.get("status") == IncidentStatus.RESOLVED.value:
            return None
        now_recorded = members.record(self._store, tenant_id, incident_id, alerts)
        added = now_recorded.added + (recorded.added if recorded else 0)
        decided = self._decide(tenant_id, incident_id, now_recorded)
        outcome: dict[str, Any] = {}

        def mutate(doc: dict[str, Any]) -> dict[str, Any] | None:
            incident = Incident.from_doc(doc)
            if incident.merged_into is not None:
                outcome["merged"] = doc
                return None
            if incident.status is IncidentStatus.RESOLVED:
                outcome["resolved"] = True
                return None
            status = decided or incident.status
            merged = summarise(incident, alerts, at, added=added, status=status)
            outcome["status"] = merged.status
            noted = _with_notes(merged, notes)
            if merged == incident:
                outcome["signal"] = False
                return None if noted is merged else noted.to_doc()
            # One wake per drain: the orchestration reads every change stored
            # before it clears the flag (see shared.incidents.work). An incident
            # of info alerts has no orchestration, so no wake is pending for it:
            # the delivery that raises its severity starts one.
            signal = announced(merged.severity) and wake_needed(incident.wake_requested_at, at)
            outcome["signal"] = signal
            update: dict[str, Any] = {"alert_revision": incident.alert_revision + 1}
            if signal:
                update["wake_requested_at"] = at
            return noted.model_copy(update=update).to_doc()

        stored = update_with_retry(
            self._store, Container.INCIDENTS, tenant_id, incident_id, mutate, current=current
        )
        if "merged" in outcome:
            # Merged after this delivery read it. What it created there is taken back
            # (a repeat may have re-created an alert the merge had moved already),
            # and its alerts go where the incident went, counted there.
            for created in (*now_recorded.created, *(recorded.created if recorded else ())):
                self._store.delete(Container.INCIDENT_ALERTS, tenant_id, created)
            self._finish_merge(tenant_id, outcome["merged"], at)
            survivor, _ = merge.follow(self._store, tenant_id, incident_id)
            return self._attach(tenant_id, survivor, alerts, at, notes=notes)
        if stored is None or outcome.get("resolved"):
            return None
        status = outcome.get("status") or IncidentStatus(stored["status"])
        return IncidentTouch(
            incident_id=incident_id,
            created=False,
            status=status,
            signal=bool(outcome.get("signal", False)),
        )

    def _decide(
        self, tenant_id: str, incident_id: str, recorded: members.Recorded
    ) -> IncidentStatus | None:
        """The status the incident's alerts call for, or None to keep it.

        Only a resolved or acknowledged alert can settle an incident; then two
        indexed lookups answer "does any alert still fire / wait?". Asking on
        every such delivery (not only on a change) lets a retried delivery
        finish what a failed attempt recorded.
        """
        if not recorded.settles:
            return None
        if members.any_with_status(self._store, tenant_id, incident_id, AlertStatus.FIRING):
            return None
        if members.any_with_status(self._store, tenant_id, incident_id, AlertStatus.ACKNOWLEDGED):
            return IncidentStatus.ACKNOWLEDGED
        return IncidentStatus.RESOLVED

    @staticmethod
    def _new(
        tenant_id: str, incident_id: str, alerts: Sequence[Alert], at: datetime, *, added: int
    ) -> Incident:
        seed = Incident(
            id=incident_id,
            tenant_id=tenant_id,
            title=_title(alerts),
            first_seen=min(a.starts_at for a in alerts),
            last_seen=at,
            created_at=at,
            updated_at=at,
        )
        return summarise(seed, alerts, at, added=added, status=IncidentStatus.OPEN)
