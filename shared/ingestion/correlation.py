"""Correlation: which incident a delivery's alerts belong to.

Rules, in order, for the alerts of one delivery (one Alertmanager group or one
PagerDuty event are one unit, so a group never splits):
1. an unresolved incident that already holds one of the alerts' fingerprints;
2. for firing alerts, an unresolved incident on the same service (or, for host
   alerts, the same host) seen within the correlation window; with the
   tenant's topology, also one on a host the service runs on, on a direct
   caller or dependency of the service, or on a service running on the
   alert's host (a dead node and its services' errors are one incident);
3. otherwise a new incident.
Concurrent deliveries that would each open a new incident meet at a *claim*
document (created atomically, expiring with the window), so they end up in one
incident and only one of them reports ``created`` (and starts the orchestration).
Resolved alerts update their incident; when none of its alerts fires any more,
the incident is resolved.

Lookups are point reads, never scans: each fingerprint points at its
incident (``fp:`` documents), and each service or host at the incident last
seen on it (``claim:`` documents, which expire one window after their last
refresh, so "seen within the window" is the document's existence).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.errors import Conflict, PreconditionFailed
from shared.incidents import alerts as members
from shared.incidents.work import announced, wake_needed
from shared.models.alert import Alert, AlertStatus
from shared.models.base import doc_id, iso
from shared.models.incident import AlertRef, Incident, IncidentStatus, alert_facts
from shared.models.tenant import Topology
from shared.ports.store import Container, DocumentStore, update_with_retry

_CLAIM_ATTEMPTS = 5
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


def _related_keys(alert: Alert, topology: Topology) -> list[str]:
    """Where an open incident about the same trouble would be indexed: own entity first."""
    if alert.service:
        node = topology.service(alert.service)
        hosts = node.instances if node else ()
        # One hop along the call graph: a caller's errors and its dependency's
        # failure are one incident to work on. Not further, so that a busy
        # gateway does not pull unrelated incidents together.
        neighbours = sorted(
            {*(node.depends_on if node else ()), *topology.callers_of(alert.service)}
        )
        return [
            f"service:{alert.service}",
            *(f"host:{h}" for h in hosts),
            *(f"service:{n}" for n in neighbours),
        ]
    if alert.instance:
        hosted = [s.name for s in topology.services if alert.instance in s.instances]
        return [f"host:{alert.instance}", *(f"service:{name}" for name in hosted)]
    return [f"fingerprint:{alert.fingerprint}"]


class Correlator:
    """Puts each delivery's alerts into exactly one incident."""

    def __init__(self, store: DocumentStore, *, window: timedelta) -> None:
        self._store = store
        self._window = window

    def apply(
        self,
        tenant_id: str,
        alerts: Sequence[Alert],
        at: datetime,
        topology: Topology | None = None,
    ) -> IncidentTouch | None:
        """Fold ``alerts`` (one delivery) into an incident; None if nothing to do."""
        alerts = [a for a in alerts if not self._late_firing(tenant_id, a)]
        if not alerts:
            return None
        for alert in alerts:
            self._store.upsert(Container.ALERTS, tenant_id, alert.to_doc())
        index: dict[str, dict[str, Any] | None] = {}
        candidates = self._candidates(tenant_id, alerts, topology or Topology(), index, at)
        for incident_id in candidates:
            touched = self._attach(tenant_id, incident_id, alerts, at)
            if touched is not None:
                self._reindex(tenant_id, touched.incident_id, alerts, at, index)
                return touched
        if not any(a.is_firing for a in alerts):
            return None  # resolutions of alerts we never opened an incident for
        touched = self._open_new(tenant_id, alerts, at)
        self._reindex(tenant_id, touched.incident_id, alerts, at, index)
        return touched

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

    def _candidates(
        self,
        tenant_id: str,
        alerts: Sequence[Alert],
        topology: Topology,
        index: dict[str, dict[str, Any] | None],
        at: datetime,
    ) -> list[str]:
        """Incidents to try, best first, from point reads of the correlation index.

        ``index`` collects what was read, so ``_reindex`` writes only what changed.
        """
        found: list[str] = []
        # The store's ttl runs on the wall clock; the window is judged on ours.
        oldest = iso(at - self._window)

        def read(doc_key: str) -> None:
            doc = self._store.get(Container.DEDUP, tenant_id, doc_key)
            index[doc_key] = doc
            if doc is None or ("at" in doc and str(doc["at"]) < oldest):
                return
            if doc["incidentId"] not in found:
                found.append(str(doc["incidentId"]))

        for fingerprint in dict.fromkeys(a.fingerprint for a in alerts):
            read(doc_id("fp:", fingerprint))
        for alert in alerts:
            if alert.is_firing:
                for key in _related_keys(alert, topology):
                    if doc_id("claim:", key) not in index:
                        read(doc_id("claim:", key))
        return found

    def _reindex(
        self,
        tenant_id: str,
        incident_id: str,
        alerts: Sequence[Alert],
        at: datetime,
        index: dict[str, dict[str, Any] | None],
    ) -> None:
        """Point the delivery's fingerprints and entities at the incident.

        Entity claims expire ``window`` after their last refresh: an incident
        stays findable by service or host for as long as its alerts keep coming.
        """
        window = int(self._window.total_seconds())
        for fingerprint in dict.fromkeys(a.fingerprint for a in alerts):
            key = doc_id("fp:", fingerprint)
            known = index.get(key)
            if known is None or known.get("incidentId") != incident_id:
                doc = {"id": key, "tenantId": tenant_id, "incidentId": incident_id, "ttl": _FP_TTL}
                self._store.upsert(Container.DEDUP, tenant_id, doc)
        for alert in alerts:
            if not alert.is_firing:
                continue
            key = doc_id("claim:", correlation_key(alert))
            known = index.get(key)
            fresh = (
                known is not None
                and known.get("incidentId") == incident_id
                and str(known.get("at", "")) >= iso(at - self._window / 4)
            )
            if not fresh:
                doc = {
                    "id": key,
                    "tenantId": tenant_id,
                    "incidentId": incident_id,
                    "at": iso(at),
                    "ttl": window,
                }
                self._store.upsert(Container.DEDUP, tenant_id, doc)
                index[key] = doc

    def _attach(
        self,
        tenant_id: str,
        incident_id: str,
        alerts: Sequence[Alert],
        at: datetime,
        *,
        recorded: members.Recorded | None = None,
    ) -> IncidentTouch | None:
        """Merge into an unresolved incident; None if it is gone or resolved.

        The alerts are recorded as their own documents first, then the
        incident's summary is updated: both cost the delivery's size only.
        ``recorded`` is what an earlier attempt of this delivery recorded.
        """
        current = self._store.get(Container.INCIDENTS, tenant_id, incident_id)
        if current is None or current.get("status") == IncidentStatus.RESOLVED.value:
            return None
        now_recorded = members.record(self._store, tenant_id, incident_id, alerts)
        added = now_recorded.added + (recorded.added if recorded else 0)
        decided = self._decide(tenant_id, incident_id, now_recorded)
        outcome: dict[str, Any] = {}

        def mutate(doc: dict[str, Any]) -> dict[str, Any] | None:
            incident = Incident.from_doc(doc)
            if incident.status is IncidentStatus.RESOLVED:
                outcome["resolved"] = True
                return None
            status = decided or incident.status
            merged = summarise(incident, alerts, at, added=added, status=status)
            outcome["status"] = merged.status
            if merged == incident:
                outcome["signal"] = False
                return None
            # One wake per drain: the orchestration reads every change stored
            # before it clears the flag (see shared.incidents.work). An incident
            # of info alerts has no orchestration, so no wake is pending for it:
            # the delivery that raises its severity starts one.
            signal = announced(merged.severity) and wake_needed(incident.wake_requested_at, at)
            outcome["signal"] = signal
            update: dict[str, Any] = {"alert_revision": incident.alert_revision + 1}
            if signal:
                update["wake_requested_at"] = at
            return merged.model_copy(update=update).to_doc()

        stored = update_with_retry(
            self._store, Container.INCIDENTS, tenant_id, incident_id, mutate, current=current
        )
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

    def _open_new(self, tenant_id: str, alerts: Sequence[Alert], at: datetime) -> IncidentTouch:
        firing = [a for a in alerts if a.is_firing]
        key = min(correlation_key(a) for a in firing)
        claim_id = doc_id("claim:", key)
        for _ in range(_CLAIM_ATTEMPTS):
            candidate = new_incident_id(at)
            claim = {
                "id": claim_id,
                "tenantId": tenant_id,
                "incidentId": candidate,
                "at": iso(at),
                "ttl": int(self._window.total_seconds()),
            }
            try:
                self._store.create(Container.DEDUP, tenant_id, claim)
                winner = candidate
            except Conflict:
                current = self._store.get(Container.DEDUP, tenant_id, claim_id)
                if current is None:
                    continue  # expired between our create and get: claim again
                if str(current.get("at", "")) < iso(at - self._window):
                    # Outside the window by our clock, though the store has not expired it.
                    self._take_over(tenant_id, claim, current)
                    continue
                winner = str(current["incidentId"])
                touched = self._attach(tenant_id, winner, alerts, at)
                if touched is not None:
                    return touched
                if self._store.get(Container.INCIDENTS, tenant_id, winner) is not None:
                    # The claimed incident is resolved: a new one supersedes the claim.
                    self._take_over(tenant_id, claim, current)
                    continue
                # The claimant died before creating it; create it under its id.
            # Its alerts first: the incident exists only once it can be read whole.
            recorded = members.record(self._store, tenant_id, winner, firing)
            try:
                # Every alert of the delivery, recorded now or by an attempt that
                # died before creating the incident.
                incident = self._new(
                    tenant_id, winner, firing, at, added=len({a.id for a in firing})
                )
                self._store.create(Container.INCIDENTS, tenant_id, incident.to_doc())
                return IncidentTouch(
                    incident_id=winner,
                    created=True,
                    status=IncidentStatus.OPEN,
                    signal=announced(incident.severity),
                )
            except Conflict:
                touched = self._attach(tenant_id, winner, alerts, at, recorded=recorded)
                if touched is not None:
                    return touched
        raise Conflict(f"could not settle an incident for {key} under contention")

    def _take_over(self, tenant_id: str, claim: dict[str, Any], current: dict[str, Any]) -> None:
        """Replace a stale claim, unless a concurrent delivery replaced it first.

        Deleting it instead would let two deliveries each open an incident.
        """
        with contextlib.suppress(PreconditionFailed):
            self._store.replace(Container.DEDUP, tenant_id, claim, etag=current["_etag"])

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
