"""Ranking root-cause services over the call graph from every series' change.

Ideas taken from published work, and where:

* per-series robust scoring of post-change samples against a median/MAD
  baseline (BARO, Pham et al. FSE'24; the N-Sigma and BARO baselines of
  RCAEval): see ``shared.rca.series``;
* an anomalous subgraph and a personalised PageRank over it, with anomaly as
  the personalisation and as the edge and self-loop weights, so that the walk
  started at the symptoms settles on the anomalous service whose own
  dependencies are not (MicroRCA, Wu et al. NOMS'20; MicroRank, Yu et al.
  WWW'21 for the personalised random walk from the anomalous entry);
* "a cause comes before what it explains": onset order along the path from
  the alerting service (the ordering argument of CauseInfer / Sieve, and the
  anomaly traversal of the PetShop paper's baseline);
* which way each kind of change travels over the call graph (the structural
  graph of CIRCA, Li et al. KDD'22: traffic flows from a caller to what it
  calls, latency and errors flow back from a dependency to its callers). A
  change in the load a service receives (requests, network or syscall volume)
  and any move in the benign direction (latency, usage or errors falling,
  success rising) is what less or more demand from its callers looks like: a
  service with a changed caller is judged on its fault signature alone (its
  latency, errors or saturation getting worse); the load evidence counts only
  where no caller changed (the entry service: a surge comes from outside).
  Client-side latency (the calls a service makes) is its dependencies'
  behaviour seen from it: it never counts as the service's own change. When
  the series names the callee (a mesh's per-edge latency, Istio's
  ``destination_service``), it is that callee's response time as its callers
  get it, the network to it included: evidence about the callee (the edge
  latency of MicroRCA's attributed graph, charged to the service called). A
  delay on a service's network shows only there: its own server-side
  latency does not move, the time its callers wait does;
* waits add up along a call: the walk goes down from a caller to a dependency
  in proportion to the share of the caller's latency rise the dependency's
  own rise accounts for (at least ``SHARE_FLOOR``), so a service 500 ms slower
  keeps its mass when what it calls is 10 ms slower (a span's exclusive, or
  self, time in trace analysis, read off metrics); likewise a caller whose
  errors rose while it got no slower (its latency measured) fails fast: not
  timing out on a slow dependency (it would wait too), so a dependency that is
  only slower takes no more than that share of it (a failing or crashed one
  still may);
* MicroRCA's anomalous subgraph, softened: a change whose every path to an
  alerting service that shows a change crosses a measured service that did not
  move cannot have reached the alert, and keeps ``DETACHED`` of its score (a
  calm alerting service explains nothing, so then every change stays);
* a call the caller does not wait for (``async_calls`` in the topology: a
  workflow it starts, a queue consumer's processing) carries neither delay
  nor failure back: the walk and the anomalous subgraph leave it out, so a
  change behind it keeps ``DETACHED`` of its score like any change cut off
  from the symptom (it stays a candidate: it may be a second problem);
* an endpoint seen only from its callers (no series of its own: X-Ray's
  ``remote`` nodes, a load balancer's address) that changed with a measured
  dependency of the same caller keeps ``FRONTED`` of its score: likely the same
  calls seen twice, and the measured service is the one that can be looked into.

Candidates are the alerting services, everything they depend on at any
depth, and the services on alerting hosts: the alerting service itself can
be the cause. Only changes inside the onset window count (older evidence is
in the baseline already), and a candidate whose change began well after the
symptom it would explain is discounted.

Measured on Nezha's Train Ticket day and not adopted (nothing general helps
there; top-1/3/5 0.14/0.18/0.25 at the usual alert delay): its 24 code faults
(``return``, ``exception``) move no metric of the true service out of its noise
at a few requests a minute. The true service is a candidate in every case
(the flat graph) but has a reading in 5 of 24; ranked by its pod columns' robust
changes it comes 21st-25th of 46 on average (chance: 23.5) whether the baseline
is the 10 minutes before the fault, 15 to 60 before it, or the 20 before the
previous fault (so that fault's trace in the baseline is not what hides it), and
the entry's p90 barely moves (median z 1; a random minute's 90th percentile is
5.5). Client-side latency counted as the service's own (loses), a histogram's
top-bucket value (12 s, 9% of client samples) dropped (no change) and MicroRCA's
correlation of each service's metrics with the symptom's latency (top-3 0.11-0.14:
the kit has no per-edge latency for Train Ticket, MicroRCA's input) do not help;
``MIN_Z`` 3 wins two cases at a 2-minute alert delay and loses one at 4, an 8-minute
onset window one at 1 and 2 minutes and none at 3 and 4. The 4 CPU faults stay
in the top 3 at 2-4 minutes, first at 2.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.models.analysis import ContextSnapshot, ServiceNode, SignalReading
from shared.models.tenant import waits_for
from shared.rca.series import SIGNAL_PREFIX

ALPHA = 0.85
"""Share of the walk that follows edges (the rest restarts at the anomalies)."""
BACKWARD = 0.2
"""Weight of walking back to a caller: lets mass escape a wrong turn."""
ITERATIONS = 60
LOAD_WORDS = ("request", "workload", "throughput", "network_", "syscall")
"""Series names that measure the load a service receives (traffic, in CIRCA's terms)."""
HIGH_IS_GOOD_WORDS = ("success", "availab")
"""Series names whose fall, not rise, is the fault's direction."""
OUTBOUND_WORDS = ("client", "outbound")
"""Series names that measure the calls a service makes (its dependencies, seen from it)."""
PEER_LABELS = ("destination_service", "destination_workload", "peer_service")
"""Labels naming the callee of a client-side series (Istio, OpenTelemetry's peer.service)."""
LATENCY_WORDS = ("latency", "duration")
ERROR_WORDS = ("error", "fail", "5xx")
"""Series names whose rise is requests failing (with ``HIGH_IS_GOOD_WORDS`` falling)."""
SHARE_FLOOR = 0.1
"""The least share of a caller's latency rise a changed dependency is credited with:
retries, timeouts and queueing amplify a dependency's delay at its callers, and a
call graph may miss hops (a flat one), so waits only roughly add up."""
DETACHED = 0.3
"""Score kept by a change whose every path to the symptom crosses a calm, measured service."""
FRONTED = 0.5
"""Score kept by an endpoint that changed with the measured service it likely fronts."""
LATE_MINUTES = 2.0
"""A candidate whose change began this long after its caller's is likely its effect."""


@dataclass(frozen=True, slots=True)
class ServiceAnomaly:
    """How much one service's series changed, since when, and which ones."""

    service: str
    score: float
    onset: datetime | None
    readings: tuple[SignalReading, ...]
    own_score: float = 0.0
    """The score from its fault signature only (no load-driven or outbound evidence)."""
    local_score: float = 0.0
    """The score without outbound evidence (its fault signature and the load it receives)."""


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate service with its share of the walk, normalised to the best (0..1]."""

    service: str
    score: float
    anomaly: ServiceAnomaly
    explains: tuple[str, ...]
    """Anomalous callers on its path from the alerting service."""
    late: bool
    share: float = 0.0
    """Its share of the whole walk (0..1; the shares of all nodes sum to 1)."""


def series_strength(reading: SignalReading) -> float:
    """A change's weight: logarithmic in its robust size (z 4 -> 1.6, 100 -> 4.6)."""
    return math.log1p(abs(reading.deviation))


def load_driven(reading: SignalReading) -> bool:
    """Whether a change is what a change in demand looks like rather than a fault:
    the load received (requests, network, syscalls), or a move in the benign
    direction (latency, usage or errors falling; success rising)."""
    name = reading.signal.removeprefix(SIGNAL_PREFIX).lower()
    if any(w in name for w in LOAD_WORDS):
        return True
    worse = -1.0 if any(w in name for w in HIGH_IS_GOOD_WORDS) else 1.0
    return worse * reading.deviation < 0


def outbound(reading: SignalReading) -> bool:
    """Whether a series measures the calls a service makes (client-side latency):
    the dependency's behaviour seen from the caller, not the caller's own."""
    name = reading.signal.removeprefix(SIGNAL_PREFIX).lower()
    return any(w in name for w in OUTBOUND_WORDS)


def callee_of(reading: SignalReading) -> str | None:
    """The service a client-side series measures the calls to, when its labels name it."""
    if not outbound(reading):
        return None
    labels = dict(p.split("=", 1) for p in reading.detail.split(",") if "=" in p)
    return next((labels[k] for k in PEER_LABELS if labels.get(k)), None)


def _own_view(r: SignalReading) -> bool:
    """A series about the service itself: its own, or a caller's view of the calls
    it receives (naming it as the callee); not the calls it makes."""
    return not outbound(r) or callee_of(r) is not None


def latency_rise(anomaly: ServiceAnomaly) -> float | None:
    """The largest rise of the latency its callers get from it, in its series' unit
    (seconds by convention); None when no latency series of it rose."""
    rises = [
        r.current - r.baseline
        for r in anomaly.readings
        if r.deviation > 0
        and r.current is not None
        and r.baseline is not None
        and any(w in r.signal.lower() for w in LATENCY_WORDS)
        and _own_view(r)
    ]
    return max(rises) if rises else None


def only_slower(anomaly: ServiceAnomaly) -> bool:
    """Whether the fault signature of its change is latency alone: no errors, no
    saturation, no restarts (a crashed dependency makes its callers fail fast too)."""
    own = [r for r in anomaly.readings if _own_view(r) and not load_driven(r)]
    return bool(own) and all(any(w in r.signal.lower() for w in LATENCY_WORDS) for r in own)


def failing(anomaly: ServiceAnomaly) -> bool:
    """Whether more of the requests it serves fail (an error ratio up, a success or
    availability ratio down), from its own series or its callers' view of it."""
    for r in anomaly.readings:
        name = r.signal.removeprefix(SIGNAL_PREFIX).lower()
        if not _own_view(r):
            continue
        if any(w in name for w in HIGH_IS_GOOD_WORDS) and r.deviation < 0:
            return True
        if any(w in name for w in ERROR_WORDS) and r.deviation > 0:
            return True
    return False


def _combined(items: Sequence[SignalReading]) -> float:
    """The strongest change, topped up by the next two (breadth of it)."""
    strengths = [series_strength(r) for r in items[:3]]
    return strengths[0] + 0.25 * sum(strengths[1:]) if strengths else 0.0


def service_anomalies(readings: Iterable[SignalReading]) -> dict[str, ServiceAnomaly]:
    """Per service: its combined change, over all series and over its fault signature."""
    grouped: dict[str, list[SignalReading]] = {}
    for r in readings:
        if r.signal.startswith(SIGNAL_PREFIX):
            grouped.setdefault(callee_of(r) or r.entity, []).append(r)
    out = {}
    for service, items in grouped.items():
        items.sort(key=lambda r: (-abs(r.deviation), r.signal, r.detail))
        local = [r for r in items if _own_view(r)]
        own = [r for r in local if not load_driven(r)]
        onsets = [r.onset for r in items[:3] if r.onset is not None]
        out[service] = ServiceAnomaly(
            service=service,
            score=_combined(items),
            onset=min(onsets) if onsets else None,
            readings=tuple(items),
            own_score=_combined(own),
            local_score=_combined(local),
        )
    return out


def _later_than_callers(own: ServiceAnomaly, callers: Iterable[ServiceAnomaly]) -> bool:
    """Whether the change began clearly after a changed caller's: then it is likelier
    an effect of whatever hit that caller than the cause of it."""
    if own.onset is None:
        return False
    return any(
        c.onset is not None and (own.onset - c.onset).total_seconds() / 60.0 > LATE_MINUTES
        for c in callers
    )


def reachable(start: Iterable[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    """``start`` and everything its edges lead to, at any depth."""
    seen = set(start)
    frontier = list(seen)
    while frontier:
        node = frontier.pop()
        for nxt in edges.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


def _focus(
    snapshot: ContextSnapshot,
    depends: Mapping[str, Sequence[str]],
    anomalies: Mapping[str, ServiceAnomaly],
) -> set[str]:
    """The alerting services (and those on alerting hosts); every changed one when the
    alert names nothing known."""
    hood = snapshot.neighbourhood
    focus = set(hood.focus_services)
    for host in hood.focus_hosts:
        focus |= set(hood.hosts.get(host, ()))
    if not focus & (set(depends) | set(anomalies)):
        focus = set(anomalies)  # the alert names nothing we know: judge everything
    return focus


def _measured(snapshot: ContextSnapshot) -> set[str]:
    """Services with series of their own."""
    return {r.entity for r in snapshot.signals if r.scope == "service"}


def _attached(
    measured: set[str],
    focus: set[str],
    edges: Mapping[str, Sequence[str]],
    changed: Iterable[str],
) -> set[str]:
    """Services reached from the symptom through callees that changed or that nothing
    measures: a fault travels along calls, so one whose every path to the alerting
    service crosses a measured service that did not move did not cause the alert.
    Only a symptom that shows can be explained: with a calm alerting service (an
    alert on what the series do not see), every service it reaches stays attached."""
    changed = set(changed)
    if not focus & changed:
        return reachable(focus, edges)
    unmeasured = (set(edges) | {d for deps in edges.values() for d in deps}) - measured
    passable = changed | unmeasured
    seen = set(focus)
    frontier = list(seen)
    while frontier:
        node = frontier.pop()
        if node not in passable and node not in focus:
            continue
        for nxt in edges.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


def _fronted(
    measured: set[str],
    anomalies: Mapping[str, ServiceAnomaly],
    depends: Mapping[str, Sequence[str]],
    callers: Mapping[str, Sequence[str]],
) -> set[str]:
    """Endpoints seen only from their callers (no series of their own: a load
    balancer's address, an uninstrumented host) that changed with a measured
    dependency of the same caller: likely the same calls seen twice, the endpoint
    in front of the service, which is the one to look into."""
    out = set()
    for n, a in anomalies.items():
        if n in measured or any(callee_of(r) != n for r in a.readings) or a.onset is None:
            continue
        for caller in callers.get(n, ()):
            for sib in depends.get(caller, ()):
                other = anomalies.get(sib)
                if (
                    sib != n
                    and sib in measured
                    and other is not None
                    and other.own_score > 0
                    and other.onset is not None
                    and abs((other.onset - a.onset).total_seconds()) / 60.0 <= LATE_MINUTES
                ):
                    out.add(n)
    return out


def waited_for(services: Mapping[str, ServiceNode]) -> dict[str, tuple[str, ...]]:
    """Each service's dependencies it waits for: the calls a delay or a failure travels
    back along (its ``async_calls`` left out)."""
    return {name: waits_for(node) for name, node in services.items()}


def felt_by_alert(snapshot: ContextSnapshot) -> set[str] | None:
    """The alerting services and everything they wait for, at any depth: where a change
    would be felt by them (None when the alerts name no service the topology knows)."""
    hood = snapshot.neighbourhood
    focus = set(hood.focus_services)
    for host in hood.focus_hosts:
        focus |= set(hood.hosts.get(host, ()))
    if not focus & set(hood.services):
        return None
    return reachable(focus, waited_for(hood.services))


def attached_services(snapshot: ContextSnapshot) -> set[str]:
    """The services a fault could have reached the alert from (see ``_attached``)."""
    anomalies = service_anomalies(snapshot.signals)
    services = snapshot.neighbourhood.services
    depends = {name: node.depends_on for name, node in services.items()}
    focus = _focus(snapshot, depends, anomalies)
    return _attached(_measured(snapshot), focus, waited_for(services), anomalies)


def incoming(nodes: Sequence[str], edges: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """For each of ``nodes``, those of ``nodes`` with an edge to it."""
    into: dict[str, list[str]] = {n: [] for n in nodes}
    for n in nodes:
        for d in edges.get(n, ()):
            if d in into:
                into[d].append(n)
    return into


def rank_services(snapshot: ContextSnapshot) -> list[Ranked]:
    """Candidate services best first (only those with a change of their own)."""
    hood = snapshot.neighbourhood
    anomalies = service_anomalies(snapshot.signals)
    if not anomalies:
        return []
    depends = {name: node.depends_on for name, node in hood.services.items()}
    focus = _focus(snapshot, depends, anomalies)
    nodes = sorted(reachable(focus, depends))
    # Every call sets the callee's load; only the calls waited for carry a fault back.
    calls_in = incoming(nodes, depends)
    waits = waited_for(hood.services)
    callers = incoming(nodes, waits)
    # Load-driven evidence of a service under a changed caller is that caller's doing.
    raw: dict[str, float] = {}
    for n in nodes:
        a = anomalies.get(n)
        if a is None:
            continue
        under_change = any(c in anomalies for c in calls_in[n])
        raw[n] = a.own_score if under_change else a.local_score
    top = max(raw.values(), default=1.0) or 1.0
    weight = {n: raw.get(n, 0.0) / top for n in nodes}

    rise = {n: latency_rise(a) for n, a in anomalies.items()}
    # Failing fast: more errors, no slower, where its latency is measured at all.
    timed = {r.entity for r in snapshot.signals if any(w in r.signal for w in LATENCY_WORDS)}
    fast = {n for n, a in anomalies.items() if failing(a) and n in timed and rise.get(n) is None}
    slower = {n for n, a in anomalies.items() if only_slower(a)}

    def explained(caller: str, dep: str) -> float:
        """How much of the caller's latency rise the dependency's can account for: waits
        add up along a call, so a dependency slower by 10 ms does not explain a caller
        slower by 500 ms (the exclusive, or self, time of a span in trace analysis).
        A caller failing fast (errors up, no slower) was not timing out on a slow
        dependency, which would have made it wait too: a dependency that is only
        slower accounts for little of it (a crashed or failing one still may)."""
        up, down = rise.get(caller), rise.get(dep)
        if caller in fast and dep in slower:
            return SHARE_FLOOR
        if up is None or down is None or up <= 0:
            return 1.0
        return max(SHARE_FLOOR, min(1.0, max(down, 0.0) / up))

    # Transition weights: down to dependencies by their anomaly (and the share of the
    # caller's latency they account for), a little back to
    # callers, and a self-loop for how much more anomalous a node is than what it calls.
    out_edges: dict[str, list[tuple[str, float]]] = {}
    for n in nodes:
        deps = [d for d in waits.get(n, ()) if d in weight]
        edges = [(d, weight[d] * explained(n, d)) for d in deps]
        edges += [(c, BACKWARD * weight[c]) for c in callers[n]]
        below = max((w for d, w in edges if d in deps), default=0.0)
        edges.append((n, max(0.0, weight[n] - below)))
        total = sum(w for _, w in edges)
        out_edges[n] = [(m, w / total) for m, w in edges if w > 0] if total > 0 else []
    mass = sum(weight.values()) or 1.0
    restart = {n: weight[n] / mass for n in nodes}
    rank = dict(restart)
    for _ in range(ITERATIONS):
        nxt = {n: (1.0 - ALPHA) * restart[n] for n in nodes}
        dangling = 0.0
        for n in nodes:
            if not out_edges[n]:
                dangling += rank[n]
                continue
            for m, w in out_edges[n]:
                nxt[m] += ALPHA * rank[n] * w
        for n in nodes:
            nxt[n] += ALPHA * dangling * restart[n]
        rank = nxt

    measured = _measured(snapshot)
    attached = _attached(measured, focus, waits, anomalies)
    fronted = _fronted(measured, anomalies, waits, callers)
    ranked: list[Ranked] = []
    for n in nodes:
        anomaly = anomalies.get(n)
        if anomaly is None:
            continue
        explains = tuple(sorted(c for c in reachable([n], callers) - {n} if c in anomalies))
        late = _later_than_callers(anomaly, [anomalies[c] for c in callers[n] if c in anomalies])
        score = rank[n] * (0.5 if late else 1.0) * (1.0 if n in attached else DETACHED)
        score *= FRONTED if n in fronted else 1.0
        ranked.append(
            Ranked(
                service=n, score=score, anomaly=anomaly, explains=explains, late=late, share=score
            )
        )
    best = max((r.score for r in ranked), default=0.0) or 1.0
    ranked = [dataclasses.replace(r, score=r.score / best) for r in ranked]
    ranked.sort(key=lambda r: (-r.score, r.service))
    return ranked
