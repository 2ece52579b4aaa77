"""Which open group a firing alert joins, and why: the one decision of correlation.

An alert joins the group whose cause explains it best, close enough in time
(onsets, ``startsAt``, not arrival times). What explains an alert depends on
its kind (``kinds``): a dead host takes the one replica of each service it
runs and slows those services; a failing dependency shows first in its
callers' errors and latency, their pods' readiness after; a crash loop is
the pod's own process; a volume fills by itself.

=============== ====================================================== ======
relation        the alert ...                                          weight
=============== ====================================================== ======
``same_host``   names a host the group has host alerts on                 4
``same_service`` is on a service failing in the group (a pod not          4
                ready: 3, level with a dead host; a crash loop: only
                where that service is the group's cause)
``calls``       is a symptom of a service calling one the group holds     3
                as a cause (a pod not ready: 2, weaker than its host)
``on_host``     is a pod not ready on a host the group holds as down,     3
                the first of that service there (a dead host takes one
                replica); a replica count short, up to ``slow_reach``
``on_host``     is a symptom of a service on a host the group holds as    2
                down; a volume filling on a host filling up: 4
``called_by``   is a symptom of a dependency of a service the group       2
                holds, begun about when that one did: the likelier
                cause joins its effects
``calls``       ... through a shared dependency (one most of the          1
                topology calls, such as DNS): weak, since anything
                calls it
=============== ====================================================== ======

The best-weighted candidate wins; ties go to the group whose related alert
began closest in time, then to the group with more labels in common
(namespace, team, alert name), then to the older group. One exception: when
the winner only continues a service's failure in one group (``same_service``)
and a dependency or host of that service began failing in another group after
the service's latest alert in the first, the fresher cause takes it. With no
candidate the alert opens a group of its own. Rules that keep two real
incidents apart, since merging them is worse than leaving one split:

- never across tenants: each tenant has its own groups;
- time bounds every relation: an alert may begin at most ``lead`` before the
  alert it relates to and at most ``reach`` after that one's latest onset, so
  a certificate warning that fired hours earlier joins nothing fresh, and a
  fresh alert joins nothing that went quiet long ago;
- only causes propagate: a service that joined because its host is down does
  not pull in its callers (a dead node's services fail; their callers'
  errors have other likely causes), and a service there because its host died
  takes its later symptoms no more strongly than the host would; chronic
  alerts, crash loops and replica counts (``kinds``) gather nothing;
- a service's own alerts join through ``same_service`` only where that service
  is a cause or an effect already, never across to a second group's service.

Arrival order is onset order blurred by Alertmanager's batching, so an alert
may be decided before a cause that began before it arrives. When that cause
joins a group, each alert of another group it may explain (its service's, a
caller's, one on its host) that began after it, within ``reach``, is decided
again as onset order would have decided it, and moves when the decision now
picks the cause's group (``Join.drew``, ``Join.moved_from``). Openers, late
causes and alerts others joined through stay, and so do the alerts of a group
people may have seen (``settled``). Likewise an alert that began before a
group holding only its service's alerts, and would continue it, goes where it
would have gone had it come first, and takes that group along (``_chain``: a
pod not ready delivered before its service's errors), and a group of one
service begun after an alert that joined elsewhere goes with it when its
opener would now follow it (``_gather``). In onset order nothing moves.

Every join records the relation, the alert it relates to and the time
between their onsets, so a reader can follow the chain.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.correlation.kinds import AlertKind, kind_of
from shared.models.alert import Alert
from shared.models.tenant import Topology, waits_for

_GATHER_NOTHING = frozenset({AlertKind.CHRONIC, AlertKind.CRASH, AlertKind.REPLICAS})
"""Kinds no other alert relates to: they say nothing about what else is failing."""


class Relation(StrEnum):
    OPENED = "opened"
    SAME_ALERT = "same_alert"
    SAME_HOST = "same_host"
    SAME_SERVICE = "same_service"
    CALLS = "calls"
    ON_HOST = "on_host"
    CALLED_BY = "called_by"


MOVABLE_KEPT = 2000
"""Movable alerts a tenant's stored state keeps at most (about 200 bytes each)."""

_MOVABLE = frozenset({Relation.SAME_SERVICE, Relation.CALLS, Relation.ON_HOST})
"""Joins decided on what a group held when the alert arrived, which a cause arriving
later may better (openers and late causes shape their groups: they stay)."""


@dataclass(frozen=True, slots=True)
class Params:
    """The few numbers correlation runs on.

    The defaults were chosen by cross-checking the public storms: a grid of
    values chosen on two storms and measured on the third picked these same
    values for each of the three held-out storms (checked again with the
    readiness, replica, fresher-cause and late-cause rules: ``reach`` 4 min
    and ``shared_reach`` 2.5 min won every fold; ``lead`` went 90, 30, 90 s
    and ``slow_reach`` 10 min, each held-out storm meeting the targets with
    its fold's values; 1 min and 15 min, kube-prometheus' ``for:``, are kept).
    """

    lead: timedelta = timedelta(minutes=1)
    """How long before the alert it relates to an alert may begin (rule evaluation,
    ``for:`` clauses and scrape intervals shift onsets by about a minute)."""
    reach: timedelta = timedelta(minutes=4)
    """How long after its cause's first onset an effect may begin (a service's own
    alerts: after its latest)."""
    slow_reach: timedelta = timedelta(minutes=15)
    """How long after a host went down its services may report replicas missing: those
    rules wait out rescheduling (``for: 15m`` in kube-prometheus)."""
    shared_reach: timedelta = timedelta(minutes=2, seconds=30)
    """The same through a shared dependency: an outage of DNS reaches every caller
    at once, so a caller failing much later has a cause of its own."""
    shared_share: float = 0.25
    """A dependency called by at least this share of the topology's services is
    shared infrastructure: calling it is weak evidence."""
    label_keys: tuple[str, ...] = ("namespace", "team", "alertname")
    """Labels compared to break ties between equally good groups."""


@dataclass(frozen=True, slots=True)
class Join:
    """Why one alert is in its group: the relation and the alert it relates to."""

    fingerprint: str
    group_id: str
    relation: Relation
    related: str | None = None
    """Fingerprint of the alert in the group this one relates to (None when it opened it)."""
    via: str | None = None
    """The service or host the relation runs through."""
    seconds: float = 0.0
    """This alert's onset minus the related alert's."""
    merged: tuple[str, ...] = ()
    """Groups this alert showed to be the same incident, now part of ``group_id``: it
    is the dependency their first services call, and began with them."""
    drew: tuple[Join, ...] = ()
    """Alerts of other groups this one explains better, decided before it arrived
    though it began before them: now in ``group_id``, each with its new reason."""
    moved_from: str | None = None
    """The group this alert was in before a cause that began before it arrived after it
    and explained it better (the cause's ``drew``)."""

    @property
    def reason(self) -> str:
        """One line a responder reads."""
        where = f" {self.via}" if self.via else ""
        if self.relation is Relation.OPENED:
            return "opened the group"
        if self.relation is Relation.SAME_ALERT:
            return "the same alert again"
        text = {
            Relation.SAME_HOST: f"same host{where}",
            Relation.SAME_SERVICE: f"same service{where}",
            Relation.CALLS: f"its service calls{where}",
            Relation.ON_HOST: f"runs on{where}, which is failing",
            Relation.CALLED_BY: f"its service is a dependency of{where}",
        }[self.relation]
        merged = f"; merged {', '.join(self.merged)}" if self.merged else ""
        moved = (
            f"; moved from {self.moved_from}, decided before its cause arrived"
            if self.moved_from
            else ""
        )
        return f"{text} (alert {self.related}, onset {self.seconds:+.0f} s){merged}{moved}"

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"alert": self.fingerprint, "relation": self.relation.value}
        if self.related is not None:
            out |= {"related": self.related, "via": self.via, "seconds": round(self.seconds, 1)}
        if self.merged:
            out["merged"] = list(self.merged)
        if self.moved_from:
            out["moved_from"] = self.moved_from
        out["reason"] = self.reason
        return out


class TopologyIndex:
    """The tenant's topology as lookups correlation makes per alert."""

    def __init__(self, topology: Topology, *, shared_share: float = 0.25) -> None:
        callers: dict[str, set[str]] = {}
        for svc in topology.services:
            for dep in svc.depends_on:
                callers.setdefault(dep, set()).add(svc.name)
        # The calls each waits for: a dependency's failure shows in a service's requests
        # only through those (a workflow it starts and does not wait for fails alone).
        self.depends_on: dict[str, frozenset[str]] = {
            s.name: frozenset(waits_for(s)) for s in topology.services
        }
        self.callers: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in callers.items()}
        self.hosts_of: dict[str, frozenset[str]] = {
            s.name: frozenset(s.instances) for s in topology.services
        }
        on: dict[str, set[str]] = {}
        for svc in topology.services:
            for host in svc.instances:
                on.setdefault(host, set()).add(svc.name)
        self.services_on: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in on.items()}
        size = max(len(topology.services), 1)
        # Above a handful of callers only: in a small topology every service is "most".
        self.shared: frozenset[str] = frozenset(
            name for name, who in callers.items() if len(who) >= max(5, shared_share * size)
        )


@dataclass(frozen=True, slots=True)
class _Facts:
    """What correlation reads of an alert."""

    fingerprint: str
    service: str | None
    host: str | None
    kind: AlertKind
    onset: float
    labels: Mapping[str, str]


def facts_of(alert: Alert) -> _Facts:
    host_only = alert.service is None and alert.instance is not None
    return _Facts(
        fingerprint=alert.fingerprint,
        service=alert.service,
        host=alert.instance or alert.labels.get("node"),
        kind=kind_of(alert.name, on_host_only=host_only),
        onset=alert.starts_at.timestamp(),
        labels={**alert.labels, "alertname": alert.name},
    )


@dataclass(slots=True)
class _Span:
    """When one service or host first and last began an alert in a group, and which."""

    first: float
    last: float
    fingerprint: str
    kind: AlertKind

    def widen(self, onset: float, fingerprint: str) -> None:
        if onset < self.first:
            self.first, self.fingerprint = onset, fingerprint
        self.last = max(self.last, onset)


_SpanState = tuple[float, float, str, AlertKind] | None


def _state(span: _Span | None) -> _SpanState:
    return None if span is None else (span.first, span.last, span.fingerprint, span.kind)


@dataclass(slots=True)
class _Placed:
    """A service's symptom or pod not ready that joined a group by what was there when it
    arrived: a cause that began before it but arrived after it may still take it."""

    alert: _Facts
    join: Join
    as_cause: bool
    in_causes: bool
    """Its span is among the group's causes (else its effects)."""
    before: _SpanState
    """Its service's span in the group before it joined, and after: it is taken out
    only while nothing else changed that span since."""
    after: _SpanState
    dead_host: bool
    """It put its service among those here because their host died."""
    taken: bool
    """It is the replica a dead host took."""


@dataclass(slots=True)
class _Group:
    id: str
    order: int
    first: float
    last: float
    causes: dict[str, _Span] = field(default_factory=dict)
    """Services whose failure may explain others (``calls`` and ``called_by`` run through them)."""
    roots: set[str] = field(default_factory=set)
    """Causes that opened the group or joined as the likelier cause of it (``called_by``)."""
    effects: dict[str, _Span] = field(default_factory=dict)
    """Services here because their host or a shared dependency failed: no caller of
    theirs joins through them."""
    on_dead_host: set[str] = field(default_factory=set)
    """Effects that are here because their host failed, which explains only some of
    their alerts."""
    taken: set[tuple[str, str]] = field(default_factory=set)
    """(service, host): the replica a dead host took has already said it is not ready."""
    hosts: dict[str, _Span] = field(default_factory=dict)
    volumes: dict[str, _Span] = field(default_factory=dict)
    """Services with a volume filling: only other storage alerts relate to them."""
    labels: dict[str, set[str]] = field(default_factory=dict)
    joins: list[Join] = field(default_factory=list)
    openers: list[_Facts] = field(default_factory=list)
    """The alert that opened it, when it may be an effect of a cause arriving late.
    Not later roots, nor the openers of groups merged into it: what joined as a
    cause is explained by its place already, and chains of merges would run on."""
    placed: dict[str, list[_Placed]] = field(default_factory=dict)
    """By service: alerts that may still move to a group whose cause arrived late."""
    cited: set[str] = field(default_factory=set)
    """Fingerprints other alerts joined through: those stay where they are."""


@dataclass(frozen=True, slots=True)
class Group:
    """A finished group: its alerts (fingerprints, in order of joining) and why each joined."""

    id: str
    tenant_id: str
    alerts: tuple[str, ...]
    joins: tuple[Join, ...]

    def to_json(self, *, reasons: bool = False) -> dict[str, object]:
        out: dict[str, object] = {"id": self.id, "alerts": list(self.alerts)}
        if reasons:
            out["reasons"] = [j.to_json() for j in self.joins]
        return out


_Found = tuple[int, Relation, _Span, str, bool]
"""A relation found: weight, relation, the span it runs to, through what, joins as a cause."""


@dataclass(frozen=True, slots=True)
class _Candidate:
    weight: int
    gap: float
    shared_labels: int
    group: _Group
    join: Join
    as_cause: bool
    began: float
    """When the cause related to began (for ``same_service``: the service's latest onset)."""

    def key(self) -> tuple[int, float, int, int]:
        return (-self.weight, self.gap, -self.shared_labels, self.group.order)


class Grouper:
    """Groups one stream of alerts, alert by alert, in the order they arrive.

    The same instance serves every tenant and never mixes them. ``assign`` is
    the decision the live ingestion path and ``correlate`` both make; a
    fingerprint already seen returns its first decision (re-deliveries and
    resolutions go where the alert went).
    """

    def __init__(
        self,
        topologies: Mapping[str, Topology] | Callable[[str], Topology],
        *,
        params: Params | None = None,
        new_id: Callable[[str], str] | None = None,
        settled: Callable[[str, str], bool] | None = None,
    ) -> None:
        self._params = params or Params()
        self._settled = settled or (lambda _tenant, _group: False)
        self._lead = self._params.lead.total_seconds()
        self._reach = self._params.reach.total_seconds()
        self._shared_reach = self._params.shared_reach.total_seconds()
        self._slow_reach = self._params.slow_reach.total_seconds()
        self._topology_of = topologies if callable(topologies) else topologies.__getitem__
        self._indexes: dict[str, TopologyIndex] = {}
        self._open: dict[str, list[_Group]] = {}
        self._all: dict[str, list[_Group]] = {}
        self._seen: dict[tuple[str, str], Join] = {}
        self._orders: dict[str, int] = {}
        self._latest: dict[str, float] = {}
        """The latest onset of each tenant's alerts so far."""
        self._counter = itertools.count(1)
        self._new_id = new_id or (lambda tenant: f"G{next(self._counter):04d}")

    def assign(self, alert: Alert) -> Join:
        """The group ``alert`` belongs to, opening one if none fits, and why."""
        tenant = alert.tenant_id
        known = self._seen.get((tenant, alert.fingerprint))
        if known is not None:
            return Join(
                fingerprint=alert.fingerprint,
                group_id=known.group_id,
                relation=Relation.SAME_ALERT,
            )
        facts = facts_of(alert)
        index = self._index(tenant)
        groups = self._live(tenant, facts.onset)
        candidates: list[_Candidate] = []
        if facts.kind is not AlertKind.CHRONIC:  # chronic alerts join nothing by relation
            for group in groups:
                candidate = self._best_relation(group, facts, index)
                if candidate is not None:
                    candidates.append(candidate)
        best = _choose(candidates) if candidates else None
        chain = self._chain(best, candidates, facts)
        if chain is not None:
            best = _choose([c for c in candidates if c.group is not chain])
        if best is None:
            order = self._orders.get(tenant, 0)
            self._orders[tenant] = order + 1
            target = _Group(
                id=self._new_id(tenant), order=order, first=facts.onset, last=facts.onset
            )
            self._open.setdefault(tenant, []).append(target)
            self._all.setdefault(tenant, []).append(target)
            join = Join(fingerprint=facts.fingerprint, group_id=target.id, relation=Relation.OPENED)
            as_cause = True
        else:
            target, join, as_cause = best.group, best.join, best.as_cause
        absorbed: list[_Group] = [] if chain is None else [chain]
        if as_cause and facts.kind not in _GATHER_NOTHING:
            alone = _Group(id="", order=0, first=facts.onset, last=facts.onset)
            self._add(alone, facts, Join(facts.fingerprint, "", Relation.OPENED), as_cause=True)
            # A service (or host) failing in the target already began failing there: its
            # effects are bounded by its first onset, not by this later alert's.
            for mine, theirs in ((alone.causes, target.causes), (alone.hosts, target.hosts)):
                for key, span in mine.items():
                    if key in theirs:
                        span.widen(theirs[key].first, theirs[key].fingerprint)
            absorbed += [
                g
                for g in groups
                if g is not target and g is not chain and self._explains(alone, g, index)
            ]
        if absorbed:
            join = replace(join, merged=tuple(g.id for g in absorbed))
            for other in absorbed:
                self._merge(tenant, target, other)
        at = len(target.joins)
        self._add(target, facts, join, as_cause=as_cause)
        latest = self._latest.get(tenant, facts.onset)
        self._latest[tenant] = max(latest, facts.onset)
        # In onset order (``correlate``) nothing began after it: nothing to decide again.
        if facts.onset < latest:
            drew = self._recontest(tenant, target, facts, index)
            gathered = self._gather(tenant, target, facts, index)
            if drew or gathered:
                join = replace(join, drew=drew, merged=join.merged + gathered)
                target.joins[at] = join
        self._seen[(tenant, facts.fingerprint)] = join
        return join

    @staticmethod
    def _chain(
        best: _Candidate | None, candidates: list[_Candidate], alert: _Facts
    ) -> _Group | None:
        """A group of the alert's service alone, begun after the alert, that the alert
        would continue, when another group explains the alert: onset order would have
        placed the alert there first and the group's alerts after it.

        Alertmanager may deliver a service's pod not ready before its errors: the pod
        opens a group (nothing explained it then) and the errors, arriving later,
        would only continue it. Had they come first they would have joined the
        other group's cause, the pod after them: the two groups are one.
        """
        if best is None or best.join.relation is not Relation.SAME_SERVICE:
            return None
        group = best.group
        if alert.onset >= group.first or group.hosts or group.volumes:
            return None
        if not (group.causes.keys() | group.effects.keys()) <= {alert.service}:
            return None
        return group if any(c.group is not group for c in candidates) else None

    def _recontest(
        self, tenant: str, target: _Group, alert: _Facts, index: TopologyIndex
    ) -> tuple[Join, ...]:
        """Alerts of other groups that ``alert``, just added to ``target``, explains better.

        Arrival order is onset order blurred by Alertmanager's batching, so an
        alert may be decided before a cause that began before it arrives (a pod
        not ready before its service's errors; a caller's errors before its
        dependency's). Each such alert of a service ``alert`` may explain (the
        same service, a caller, one on its host) that began after it, within
        the reach, is decided again as onset order would have: taken out of
        its group, and moved when the decision now picks ``target``, else put
        back. Alerts others joined through, and groups whose incident people
        may have seen (``settled``), stay.
        """
        groups = self._open.get(tenant, [])
        services: set[str] = set()
        if alert.kind in (AlertKind.SYMPTOM, AlertKind.READINESS) and alert.service is not None:
            services.add(alert.service)
            if alert.service not in index.shared:
                services |= index.callers.get(alert.service, frozenset())
        elif alert.kind is AlertKind.HOST_DOWN and alert.host is not None:
            services |= index.services_on.get(alert.host, frozenset())
        if not services:
            return ()
        moved: list[Join] = []
        for group in list(groups):
            if group is target or group.last <= alert.onset:
                continue
            held = sorted(services & group.placed.keys())
            if not held or self._settled(tenant, group.id):
                continue
            for service in held:
                # Latest first: an earlier one is movable once those after it have moved.
                for placed in list(reversed(group.placed.get(service, []))):
                    later = placed.alert.onset - alert.onset
                    if not 0 < later <= self._reach or not self._take_out(group, placed):
                        continue
                    found = [
                        c for g in groups if (c := self._best_relation(g, placed.alert, index))
                    ]
                    best = _choose(found) if found else None
                    if best is None or best.group is not target:
                        self._put_back(group, placed)
                        continue
                    join = replace(best.join, moved_from=group.id)
                    self._add(target, placed.alert, join, as_cause=best.as_cause)
                    self._seen[(tenant, placed.alert.fingerprint)] = join
                    moved.append(join)
        return tuple(moved)

    def _gather(
        self, tenant: str, target: _Group, alert: _Facts, index: TopologyIndex
    ) -> tuple[str, ...]:
        """Groups of one service, begun after ``alert``, whose opener would now join
        ``target``: onset order would have placed the opener there, its service's
        later alerts after it (``_explains`` does this for causes; this for the rest).
        """
        if alert.service is None:
            return ()
        services = {alert.service}
        if alert.service not in index.shared:
            services |= index.callers.get(alert.service, frozenset())
        groups = self._open.get(tenant, [])
        gathered: list[str] = []
        for group in list(groups):
            if (
                group is target
                or group.first <= alert.onset
                or group.first > alert.onset + self._reach
                or group.hosts
                or group.volumes
                or len(group.openers) != 1
            ):
                continue
            held = group.causes.keys() | group.effects.keys()
            if len(held) != 1 or not held <= services:
                continue
            opener = group.openers[0]
            found = [
                c for g in groups if g is not group and (c := self._best_relation(g, opener, index))
            ]
            if found and _choose(found).group is target:
                self._merge(tenant, target, group)
                groups = self._open.get(tenant, [])
                gathered.append(group.id)
        return tuple(gathered)

    @staticmethod
    def _take_out(group: _Group, placed: _Placed) -> bool:
        """Undo ``placed``'s join, unless others joined through it or changed its span."""
        service, fingerprint = placed.alert.service, placed.alert.fingerprint
        assert service is not None
        spans = group.causes if placed.in_causes else group.effects
        if fingerprint in group.cited or _state(spans.get(service)) != placed.after:
            return False
        if placed.before is None:
            del spans[service]
        else:
            first, last, related, kind = placed.before
            spans[service] = _Span(first, last, related, kind)
        if placed.dead_host:
            group.on_dead_host.discard(service)
        if placed.taken:
            group.taken.discard((service, str(placed.join.via)))
        group.placed[service].remove(placed)
        if not group.placed[service]:
            del group.placed[service]
        group.joins = [j for j in group.joins if j.fingerprint != fingerprint]
        return True

    @staticmethod
    def _put_back(group: _Group, placed: _Placed) -> None:
        """Redo what ``_take_out`` undid: the decision stands."""
        service = placed.alert.service
        assert service is not None and placed.after is not None
        spans = group.causes if placed.in_causes else group.effects
        first, last, related, kind = placed.after
        spans[service] = _Span(first, last, related, kind)
        if placed.dead_host:
            group.on_dead_host.add(service)
        if placed.taken:
            group.taken.add((service, str(placed.join.via)))
        group.placed.setdefault(service, []).append(placed)
        group.joins.append(replace(placed.join, group_id=group.id))

    def _explains(self, alone: _Group, group: _Group, index: TopologyIndex) -> bool:
        """Whether the alert held by ``alone`` is the cause of ``group``, arrived after it.

        Alertmanager delivers a new alert up to a ``group_interval`` late, so a
        cause may come in after its first effects opened groups of their own.
        The test is the decision itself, replayed: had the alert come first,
        would the group's opener have joined it (through a shared dependency
        only when they began within ``lead`` of each other)? Its service's
        failure is dated from when it began in the group it joins, as onset
        order would date it: a later alert of a failing service does not reach
        further than its failure does.
        """
        for opener in group.openers:
            if opener.onset < alone.first - self._lead:  # the cause begins first
                continue
            found = self._best_relation(alone, opener, index)
            if found is not None and (
                found.weight >= 2 or abs(opener.onset - alone.first) <= self._lead
            ):
                return True
        return False

    def _merge(self, tenant: str, into: _Group, other: _Group) -> None:
        """Fold ``other`` into ``into``: a common cause showed them to be one incident."""
        for join in other.joins:
            moved = replace(join, group_id=into.id)
            into.joins.append(moved)
            self._seen[(tenant, join.fingerprint)] = moved
        into.first, into.last = min(into.first, other.first), max(into.last, other.last)
        for mine, theirs in (
            (into.causes, other.causes),
            (into.effects, other.effects),
            (into.hosts, other.hosts),
            (into.volumes, other.volumes),
        ):
            for key, span in theirs.items():
                if key in mine:
                    mine[key].widen(span.first, span.fingerprint)
                    mine[key].last = max(mine[key].last, span.last)
                else:
                    mine[key] = span
        for key, values in other.labels.items():
            into.labels.setdefault(key, set()).update(values)
        into.roots |= other.roots
        into.on_dead_host |= other.on_dead_host
        into.taken |= other.taken
        into.cited |= other.cited
        for service, placed in other.placed.items():
            into.placed.setdefault(service, []).extend(placed)
        self._open[tenant] = [g for g in self._open[tenant] if g is not other]
        self._all[tenant] = [g for g in self._all[tenant] if g is not other]

    def groups(self, tenant_id: str) -> list[Group]:
        """Every group of the tenant so far, oldest first."""
        return [
            Group(
                id=g.id,
                tenant_id=tenant_id,
                alerts=tuple(j.fingerprint for j in g.joins),
                joins=tuple(g.joins),
            )
            for g in self._all.get(tenant_id, [])
        ]

    @property
    def horizon(self) -> float:
        """Seconds a group stays open after its latest onset (``_live``)."""
        return max(2 * self._reach, self._slow_reach)

    def export(self, tenant_id: str) -> dict[str, Any]:
        """The tenant's open groups as a JSON-able dict, for ``restore`` in another process.

        What later decisions read, and no more: groups quiet for longer than
        the horizon before the latest onset are left out (no alert can join
        them), and so are the joins (their reasons live where the caller
        recorded them) and fingerprints already seen (the caller knows where
        each alert went).
        """
        groups = self._open.get(tenant_id, [])
        latest = max((g.last for g in groups), default=0.0)
        kept = [g for g in groups if g.last >= latest - self.horizon]
        # A cause takes an alert that began at most ``reach`` after it, and arrives at
        # most about as late (Alertmanager's ``group_interval``): older ones stay put.
        movable = latest - 2 * self._reach
        onsets = sorted(
            (p.alert.onset for g in kept for ps in g.placed.values() for p in ps), reverse=True
        )
        if len(onsets) > MOVABLE_KEPT:  # a storm's newest only: the document stays small
            movable = max(movable, onsets[MOVABLE_KEPT - 1])
        return {
            "next_order": self._orders.get(tenant_id, 0),
            "groups": [_group_to_json(g, self._params.label_keys, movable) for g in kept],
        }

    def restore(self, tenant_id: str, state: Mapping[str, Any]) -> None:
        """Replace the tenant's groups with those ``export`` wrote."""
        keys = self._params.label_keys
        groups = [_group_from_json(g, keys) for g in state.get("groups", ())]
        self._open[tenant_id] = groups
        self._all[tenant_id] = list(groups)
        self._orders[tenant_id] = int(state.get("next_order", len(groups)))
        self._latest.pop(tenant_id, None)
        if groups:
            self._latest[tenant_id] = max(g.last for g in groups)
        self._seen = {k: v for k, v in self._seen.items() if k[0] != tenant_id}

    def forget(self, tenant_id: str, group_ids: Iterable[str]) -> None:
        """Close groups for good (their incident was resolved): nothing joins them again."""
        drop = set(group_ids)
        self._open[tenant_id] = [g for g in self._open.get(tenant_id, []) if g.id not in drop]

    def _index(self, tenant: str) -> TopologyIndex:
        index = self._indexes.get(tenant)
        if index is None:
            index = TopologyIndex(self._topology_of(tenant), shared_share=self._params.shared_share)
            self._indexes[tenant] = index
        return index

    def _live(self, tenant: str, onset: float) -> list[_Group]:
        """Groups an alert beginning at ``onset`` could still join; the rest are closed.

        Arrival order roughly follows onset, so a group quiet for twice the
        reach (or the slow reach of a missing replica) will not take another
        alert: it leaves the open list for good.
        """
        groups = self._open.get(tenant, [])
        horizon = onset - max(2 * self._reach, self._slow_reach)
        if groups and groups[0].last < horizon:
            groups = [g for g in groups if g.last >= horizon]
            self._open[tenant] = groups
        return groups

    def _best_relation(
        self, group: _Group, alert: _Facts, index: TopologyIndex
    ) -> _Candidate | None:
        lead, reach = self._lead, self._reach
        t = alert.onset
        slow = alert.kind is AlertKind.REPLICAS
        if t < group.first - lead or t > group.last + (self._slow_reach if slow else reach):
            return None
        service = alert.service
        if service is None:
            found = self._host_relations(group, alert)
        elif alert.kind is AlertKind.CRASH:
            found = self._crash_relations(group, alert, service)
        elif slow:
            found = self._replica_relations(group, alert, service, index)
        elif alert.kind is AlertKind.STORAGE:
            found = self._volume_relations(group, alert, service, index)
        else:
            found = self._service_relations(group, alert, service, index)
        if not found:
            return None
        weight, relation, span, via, cause = min(
            found, key=lambda f: (-f[0], abs(alert.onset - f[2].first), f[3])
        )
        join = Join(
            fingerprint=alert.fingerprint,
            group_id=group.id,
            relation=relation,
            related=span.fingerprint,
            via=via,
            seconds=alert.onset - span.first,
        )
        gap = min(abs(alert.onset - span.first), abs(alert.onset - span.last))
        began = span.last if relation is Relation.SAME_SERVICE else span.first
        return _Candidate(weight, gap, self._shared_labels(group, alert), group, join, cause, began)

    def _host_relations(self, group: _Group, alert: _Facts) -> list[_Found]:
        """A host's own alert: it joins the group holding that host's other alerts."""
        span = group.hosts.get(alert.host) if alert.host is not None else None
        if span is not None and span.first - self._lead <= alert.onset <= span.first + self._reach:
            return [(4, Relation.SAME_HOST, span, str(alert.host), False)]
        return []

    def _crash_relations(self, group: _Group, alert: _Facts, service: str) -> list[_Found]:
        """A crash loop belongs with its service only where that service is the cause."""
        own = group.causes.get(service)
        if (
            own is not None
            and service in group.roots
            and own.first - self._lead <= alert.onset <= own.last + self._reach
        ):
            return [(4, Relation.SAME_SERVICE, own, service, True)]
        return []

    def _replica_relations(
        self, group: _Group, alert: _Facts, service: str, index: TopologyIndex
    ) -> list[_Found]:
        """Replicas lost and not replaced: a host of the service died (the rule fires late)."""
        t, lead = alert.onset, self._lead
        found: list[_Found] = []
        for on in index.hosts_of.get(service, ()):
            span = group.hosts.get(on)
            if (
                span is not None
                and span.kind is AlertKind.HOST_DOWN
                and span.first - lead <= t <= span.first + self._slow_reach
            ):
                found.append((3, Relation.ON_HOST, span, on, False))
        own = group.causes.get(service) or group.effects.get(service)
        if own is not None and own.first - lead <= t <= own.last + self._reach:
            found.append((2, Relation.SAME_SERVICE, own, service, False))
        return found

    def _volume_relations(
        self, group: _Group, alert: _Facts, service: str, index: TopologyIndex
    ) -> list[_Found]:
        """A volume filling: its service's other volumes, or a host of it filling up.

        A failing dependency or a dead host does not fill a disk.
        """
        t, lead, reach = alert.onset, self._lead, self._reach
        found: list[_Found] = []
        own = group.volumes.get(service)
        if own is not None and own.first - lead <= t <= own.last + reach:
            found.append((4, Relation.SAME_SERVICE, own, service, False))
        for on in index.hosts_of.get(service, ()):
            span = group.hosts.get(on)
            if (
                span is not None
                and span.kind is AlertKind.STORAGE
                and span.first - lead <= t <= span.first + reach
            ):
                found.append((4, Relation.ON_HOST, span, on, False))
        return found

    def _service_relations(
        self, group: _Group, alert: _Facts, service: str, index: TopologyIndex
    ) -> list[_Found]:
        """A symptom or a pod not ready on ``service``: which cause in ``group`` would
        raise it, and how strongly the alert's kind points there."""
        lead, reach, shared_reach = self._lead, self._reach, self._shared_reach
        t, kind = alert.onset, alert.kind
        readiness = kind is AlertKind.READINESS
        found: list[_Found] = []
        causes = group.causes
        own = causes.get(service)
        # A failing service's pods turn unready after its requests fail, not before.
        since = own.first if readiness and own is not None else None
        if own is not None and (since or own.first - lead) <= t <= own.last + reach:
            # A pod not ready while its service fails is as well explained by its
            # host dying: then the nearer onset decides.
            found.append((3 if readiness else 4, Relation.SAME_SERVICE, own, service, True))
        effect = group.effects.get(service)
        if effect is not None and effect.first - lead <= t <= effect.last + reach:
            if service not in group.on_dead_host:
                found.append((4, Relation.SAME_SERVICE, effect, service, False))
            elif not readiness:
                # Here because its host died: the host explains its symptoms no
                # better than any service's on it, so no more than ``on_host`` does.
                found.append((2, Relation.SAME_SERVICE, effect, service, False))
        for dep in index.depends_on.get(service, ()):
            span = causes.get(dep)
            if span is None or t < span.first - lead:
                continue
            if dep in index.shared:
                if t <= span.first + shared_reach:
                    found.append((1, Relation.CALLS, span, dep, False))
            elif t <= span.first + reach:
                # A failing dependency shows in the service's requests first;
                # a pod's readiness is weaker evidence of it than a dead host.
                found.append((2 if readiness else 3, Relation.CALLS, span, dep, True))
        if not readiness and service not in index.shared:
            # A shared dependency failing is a cause of its own, not of one caller's
            # group: its callers' early alerts are gathered by ``_explains``.
            for caller in index.callers.get(service, ()):
                span = causes.get(caller)
                if span is not None and span.first - lead <= t <= span.first + lead:
                    found.append((2, Relation.CALLED_BY, span, caller, True))
        # A shared dependency failing is a cause of its own: joined to a host's
        # trouble, it would pull every service of the topology in after it.
        if group.hosts and service not in index.shared:
            for on in index.hosts_of.get(service, ()):
                span = group.hosts.get(on)
                if span is None or not span.first - lead <= t <= span.first + reach:
                    continue
                if span.kind is AlertKind.HOST_DOWN and kind is AlertKind.SYMPTOM:
                    found.append((2, Relation.ON_HOST, span, on, False))
                elif (
                    span.kind is AlertKind.HOST_DOWN
                    and readiness
                    and (service, on) not in group.taken  # a dead host takes one replica
                ):
                    found.append((3, Relation.ON_HOST, span, on, False))
        return found

    def _shared_labels(self, group: _Group, alert: _Facts) -> int:
        return sum(
            1
            for key in self._params.label_keys
            if key in alert.labels and alert.labels[key] in group.labels.get(key, ())
        )

    def _add(self, group: _Group, alert: _Facts, join: Join, *, as_cause: bool) -> None:
        group.joins.append(join)
        if join.related is not None:
            group.cited.add(join.related)
        group.first = min(group.first, alert.onset)
        group.last = max(group.last, alert.onset)
        for key in self._params.label_keys:
            if key in alert.labels:
                group.labels.setdefault(key, set()).add(alert.labels[key])
        if alert.kind in _GATHER_NOTHING:
            return
        if alert.service is not None and alert.kind is AlertKind.STORAGE:
            span = group.volumes.get(alert.service)
            if span is None:
                group.volumes[alert.service] = _Span(
                    alert.onset, alert.onset, alert.fingerprint, alert.kind
                )
            else:
                span.widen(alert.onset, alert.fingerprint)
        elif alert.service is not None:
            service = alert.service
            if join.relation in (Relation.OPENED, Relation.CALLED_BY):
                group.roots.add(service)
            if join.relation is Relation.OPENED:
                group.openers.append(alert)
            dead_host = taken = False
            if join.relation is Relation.ON_HOST and alert.kind is not AlertKind.STORAGE:
                dead_host = service not in group.on_dead_host
                group.on_dead_host.add(service)
                if alert.kind is AlertKind.READINESS:
                    taken = (service, str(join.via)) not in group.taken
                    group.taken.add((service, str(join.via)))
            in_causes = as_cause or service in group.causes
            target = group.causes if in_causes else group.effects
            span = target.get(service)
            before = _state(span)
            if span is None:
                span = target[service] = _Span(
                    alert.onset, alert.onset, alert.fingerprint, alert.kind
                )
            else:
                span.widen(alert.onset, alert.fingerprint)
            if join.relation in _MOVABLE and alert.kind in (
                AlertKind.SYMPTOM,
                AlertKind.READINESS,
            ):
                group.placed.setdefault(service, []).append(
                    _Placed(
                        alert, join, as_cause, in_causes, before, _state(span), dead_host, taken
                    )
                )
        elif alert.host is not None:
            span = group.hosts.get(alert.host)
            if span is None:
                group.hosts[alert.host] = _Span(
                    alert.onset, alert.onset, alert.fingerprint, alert.kind
                )
            else:
                span.widen(alert.onset, alert.fingerprint)
                if alert.kind is AlertKind.HOST_DOWN:
                    span.kind = AlertKind.HOST_DOWN


def _choose(candidates: list[_Candidate]) -> _Candidate:
    """The best candidate, unless a fresher cause explains a service's alert better.

    A service already failing in one group may fail again for a new reason:
    when one of its dependencies, or its host, began failing in another group
    after the service's own latest alert in the first, that newer cause
    explains the new alert better than a continuation does.
    """
    best = min(candidates, key=_Candidate.key)
    if best.join.relation is not Relation.SAME_SERVICE:
        return best
    fresher = [
        c
        for c in candidates
        if c.group is not best.group
        and c.weight >= 2  # not through a shared dependency: anything calls it
        and c.join.relation in (Relation.CALLS, Relation.ON_HOST)
        and c.began > best.began
    ]
    return min(fresher, key=_Candidate.key) if fresher else best


def firing_once(alerts: Iterable[Alert]) -> list[Alert]:
    """Each fingerprint's first firing alert, in arrival order (what ``assign`` decides on)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for alert in alerts:
        key = (alert.tenant_id, alert.fingerprint)
        if alert.is_firing and key not in seen:
            seen.add(key)
            out.append(alert)
    return out


def onset(moment: datetime) -> float:
    return moment.timestamp()


def _span_to_json(span: _Span) -> list[Any]:
    return [span.first, span.last, span.fingerprint, span.kind.value]


def _span_from_json(data: Sequence[Any]) -> _Span:
    first, last, fingerprint, kind = data
    return _Span(float(first), float(last), str(fingerprint), AlertKind(kind))


def _spans(data: Mapping[str, Any]) -> dict[str, _Span]:
    return {str(k): _span_from_json(v) for k, v in data.items()}


def _facts_to_json(facts: _Facts, label_keys: Sequence[str]) -> dict[str, Any]:
    return {
        "fingerprint": facts.fingerprint,
        "service": facts.service,
        "host": facts.host,
        "kind": facts.kind.value,
        "onset": facts.onset,
        # Only the labels ties are broken on: the rest never decides anything.
        "labels": {k: facts.labels[k] for k in label_keys if k in facts.labels},
    }


def _facts_from_json(data: Mapping[str, Any]) -> _Facts:
    return _Facts(
        fingerprint=str(data["fingerprint"]),
        service=data.get("service"),
        host=data.get("host"),
        kind=AlertKind(data["kind"]),
        onset=float(data["onset"]),
        labels=dict(data.get("labels", {})),
    )


def _placed_to_json(placed: _Placed, label_keys: Sequence[str]) -> list[Any]:
    """One movable alert as a list, the bulk of the stored state: its span after it
    joined is its span before, widened by it (``_after``)."""
    alert, join = placed.alert, placed.join
    before = placed.before
    flags = (
        int(placed.as_cause)
        | int(placed.in_causes) << 1
        | int(placed.dead_host) << 2
        | int(placed.taken) << 3
    )
    return [
        alert.fingerprint,
        alert.host,
        alert.kind.value,
        alert.onset,
        [alert.labels.get(k) for k in label_keys],
        join.relation.value,
        join.related,
        join.via,
        round(join.seconds, 1),
        flags,
        None if before is None else [*before[:3], before[3].value],
    ]


def _after(before: _SpanState, alert: _Facts) -> _SpanState:
    """The span ``_add`` leaves when ``alert`` joins one that was ``before``."""
    if before is None:
        return (alert.onset, alert.onset, alert.fingerprint, alert.kind)
    first, last, fingerprint, kind = before
    if alert.onset < first:
        first, fingerprint = alert.onset, alert.fingerprint
    return (first, max(last, alert.onset), fingerprint, kind)


def _placed_from_json(
    data: Sequence[Any], service: str, group_id: str, label_keys: Sequence[str]
) -> _Placed:
    fingerprint, host, kind, onset, labels, relation, related, via, seconds, flags, span = data
    values = dict(zip(label_keys, labels, strict=False))
    alert = _Facts(
        str(fingerprint),
        service,
        host,
        AlertKind(kind),
        float(onset),
        {k: str(v) for k, v in values.items() if v is not None},
    )
    before: _SpanState = None
    if span is not None:
        first, last, fp, span_kind = span
        before = (float(first), float(last), str(fp), AlertKind(span_kind))
    join = Join(
        fingerprint=alert.fingerprint,
        group_id=group_id,
        relation=Relation(relation),
        related=related,
        via=via,
        seconds=float(seconds),
    )
    return _Placed(
        alert=alert,
        join=join,
        as_cause=bool(flags & 1),
        in_causes=bool(flags & 2),
        before=before,
        after=_after(before, alert),
        dead_host=bool(flags & 4),
        taken=bool(flags & 8),
    )


def _group_to_json(group: _Group, label_keys: Sequence[str], since: float) -> dict[str, Any]:
    """What later decisions read; alerts that may still move only while they may
    (begun after ``since``), and of the fingerprints others joined through, theirs."""
    placed = {
        service: [_placed_to_json(p, label_keys) for p in kept]
        for service, entries in group.placed.items()
        if (kept := [p for p in entries if p.alert.onset >= since])
    }
    movable = {p[0] for entries in placed.values() for p in entries}
    return {
        "id": group.id,
        "order": group.order,
        "first": group.first,
        "last": group.last,
        "causes": {k: _span_to_json(v) for k, v in group.causes.items()},
        "roots": sorted(group.roots),
        "effects": {k: _span_to_json(v) for k, v in group.effects.items()},
        "on_dead_host": sorted(group.on_dead_host),
        "taken": sorted([s, h] for s, h in group.taken),
        "hosts": {k: _span_to_json(v) for k, v in group.hosts.items()},
        "volumes": {k: _span_to_json(v) for k, v in group.volumes.items()},
        "labels": {k: sorted(v) for k, v in group.labels.items()},
        "openers": [_facts_to_json(o, label_keys) for o in group.openers],
        "placed": placed,
        "cited": sorted(group.cited & movable),
    }


def _group_from_json(data: Mapping[str, Any], label_keys: Sequence[str]) -> _Group:
    group_id = str(data["id"])
    return _Group(
        id=group_id,
        order=int(data["order"]),
        first=float(data["first"]),
        last=float(data["last"]),
        causes=_spans(data.get("causes", {})),
        roots=set(data.get("roots", ())),
        effects=_spans(data.get("effects", {})),
        on_dead_host=set(data.get("on_dead_host", ())),
        taken={(str(s), str(h)) for s, h in data.get("taken", ())},
        hosts=_spans(data.get("hosts", {})),
        volumes=_spans(data.get("volumes", {})),
        labels={str(k): set(v) for k, v in data.get("labels", {}).items()},
        openers=[_facts_from_json(o) for o in data.get("openers", ())],
        placed={
            str(service): [
                _placed_from_json(p, str(service), group_id, label_keys) for p in entries
            ]
            for service, entries in data.get("placed", {}).items()
        },
        cited=set(data.get("cited", ())),
    )
