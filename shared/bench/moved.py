"""A labelled fault moved onto another service: does the ranking follow the evidence?

Every case in the kit's PetShop half has the same root cause (PetSearch), so
its figures cannot tell a ranking that reasons over the call graph from one
that has learnt where faults live. This check can: each case's fault, as its
series recorded it, is taken off the true service and laid onto another one
and, for its latency and errors (which travel back up a call; CPU or memory
do not), onto every caller on the path to it from the alerting service, over
what they recorded (their own noise stays). Only calls waited for make a
path: a fault behind an ``async_calls`` hop cannot reach the alert, so none
is moved there. The true service and the services whose calls reach it (and
the unmeasured endpoints those callers call: a load balancer in front of it),
which carried the fault as recorded, are held at their baseline; the alerting
service keeps its symptom; every other service keeps what it recorded. The
ranking must now name the new service.

What moves, per series kind (metric name and every label but those naming
whose series it is): the true service's change over its own pre-incident
median, sample by sample, and only its fault signature (latency, errors, CPU,
memory; never the load it receives, which its callers set, nor its host's
series). Ratios stay within their bounds. A target whose own series are
noisier than the source's can hide a small fault, as a real one would. A
fault whose evidence is only in per-call series (a network delay seen on the
edges) has nothing to move and is lost. This is a probe of the graph
reasoning on semi-synthetic cases, not a benchmark of real faults.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.bench.cases import FloatArray, RcaCase, SeriesData
from shared.rca.rank import (
    ERROR_WORDS,
    HIGH_IS_GOOD_WORDS,
    LATENCY_WORDS,
    LOAD_WORDS,
    PEER_LABELS,
    incoming,
    reachable,
)
from shared.rca.series import ONSET_WINDOW

WINDOW = 2 * ONSET_WINDOW
"""How long before the alert the fault is taken from and laid on (its onset lies in the
last ``ONSET_WINDOW``); the baseline is older."""
RATIO_WORDS = ("ratio", "availab", "success")
"""Series names bounded to 0..1 (or 0..100 %): a moved change must not push them out."""
IDENTITY_LABELS = ("service", "pod", "instance", "node", "host", "container")
"""Labels that say whose series it is, not what it measures."""
HOST_PREFIXES = ("node_",)
"""A host's own series (node-exporter's ``node_*``), shared by every service on it."""
TRAVELLING_WORDS = (*LATENCY_WORDS, *HIGH_IS_GOOD_WORDS, *ERROR_WORDS)
"""What a caller on the path inherits of the fault: the waits and the failures."""


def path_from(depends_on: Mapping[str, Sequence[str]], entry: str, target: str) -> list[str]:
    """The shortest call path ``entry -> ... -> target`` (empty when none)."""
    previous: dict[str, str | None] = {entry: None}
    frontier = [entry]
    while frontier and target not in previous:
        nxt: list[str] = []
        for node in frontier:
            for dep in depends_on.get(node, ()):
                if dep not in previous:
                    previous[dep] = node
                    nxt.append(dep)
        frontier = nxt
    if target not in previous:
        return []
    path: list[str] = []
    step: str | None = target
    while step is not None:
        path.append(step)
        step = previous[step]
    return path[::-1]


def _kind(series: SeriesData) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What a series measures, whoever it measures (a pod's CPU, a p99 latency)."""
    labels = series.labels.items()
    return series.name, tuple(sorted((k, v) for k, v in labels if k not in IDENTITY_LABELS))


def _own(series: SeriesData) -> bool:
    """A series about its service itself, not its calls to another (no peer label)."""
    return not any(series.labels.get(k) for k in PEER_LABELS)


def _fault_signature(series: SeriesData) -> bool:
    """A series a fault of the service itself moves: not the load it receives (its
    callers set that) nor its host's (shared with other services)."""
    name = series.name.lower()
    return not name.startswith(HOST_PREFIXES) and not any(w in name for w in LOAD_WORDS)


def _travels_up(series: SeriesData) -> bool:
    """Latency and errors reach a service's callers; its CPU or memory do not."""
    return any(w in series.name.lower() for w in TRAVELLING_WORDS)


def _split(series: SeriesData, start: float) -> tuple[npt.NDArray[np.bool_], float] | None:
    """The mask of samples inside the window and the median before it (None: no baseline)."""
    before = series.values[series.times < start]
    if before.size < 3:
        return None
    return series.times >= start, float(np.median(before))


def waited(case: RcaCase) -> dict[str, tuple[str, ...]]:
    """The calls a fault travels back along: every dependency but the ``async_calls``."""
    return {
        n: tuple(d for d in deps if d not in case.async_calls.get(n, ()))
        for n, deps in case.depends_on.items()
    }


def own_series(case: RcaCase, service: str) -> list[SeriesData]:
    """The series about ``service`` itself (not its calls to others)."""
    return [s for s in case.series if s.labels.get("service") == service and _own(s)]


def move_fault(case: RcaCase, target: str) -> RcaCase | None:
    """``case`` with its fault moved from the true service onto ``target`` (None when
    no call path waited for leads there, the true service's fault left no series to move, or
    the target has no sample in the incident's onset window to carry it)."""
    waits = waited(case)
    path = path_from(waits, case.entry, target)
    if len(path) < 2 or target == case.truth:
        return None
    start = (case.alert_time - WINDOW).timestamp()
    deltas: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[FloatArray, FloatArray]] = {}
    for s in own_series(case, case.truth):
        split = _split(s, start)
        if split is not None and _fault_signature(s):
            inside, median = split
            deltas[_kind(s)] = (s.times[inside], s.values[inside] - median)
    if not deltas:
        return None
    carriers = set(path[1:-1])
    # What carried the fault as recorded: the true service, every service that waits on
    # it at any depth (the alerting one keeps its symptom), and the endpoints with no series
    # of their own that those callers also call (a load balancer in front of it:
    # the same calls seen from the caller).
    callers = reachable([case.truth], incoming(case.services(), waits)) - {case.truth}
    measured = {s.labels.get("service") for s in case.series}
    fronts = {d for c in callers for d in case.depends_on.get(c, ()) if d not in measured}
    reached = (callers | fronts | {case.truth}) - {case.entry}
    recent = (case.alert_time - ONSET_WINDOW).timestamp()
    laid = False
    moved: list[SeriesData] = []
    for s in case.series:
        service = s.labels.get("service")
        split = _split(s, start)
        if split is None or (service == case.entry and _own(s)):
            moved.append(s)  # no baseline to hold it at, or the symptom itself
            continue
        inside, median = split
        values = s.values.copy()
        if reached & set(s.labels.values()):
            values[inside] = median
        carried = service == target or (service in carriers and _travels_up(s))
        delta = deltas.get(_kind(s)) if carried and _own(s) else None
        if delta is not None and _fault_signature(s) and inside.any():
            values[inside] += np.interp(s.times[inside], delta[0], delta[1])
            laid = laid or (service == target and bool((s.times >= recent).any()))
            if any(w in s.name.lower() for w in RATIO_WORDS):
                top = 100.0 if float(np.max(s.values)) > 1.0 else 1.0
                values[inside] = np.clip(values[inside], 0.0, top)
        moved.append(dataclasses.replace(s, values=values))
    if not laid:
        return None  # nothing of the target's is recent enough to carry the fault
    return dataclasses.replace(
        case, case_id=f"{case.case_id}->{target}", series=tuple(moved), truth=target
    )


def targets(case: RcaCase) -> list[str]:
    """Services a fault could be moved to: reached from the alerting service by calls it
    waits for, with a series of their own that a fault would move and that has a
    baseline."""
    start = (case.alert_time - WINDOW).timestamp()
    edges = waited(case)
    out = []
    for service in case.services():
        if service in (case.entry, case.truth) or not path_from(edges, case.entry, service):
            continue
        if any(
            _fault_signature(s) and _split(s, start) is not None for s in own_series(case, service)
        ):
            out.append(service)
    return out


def summarise(ranks: Mapping[str, Iterable[int | None]]) -> dict[str, Any]:
    """Top-1/3 per target service and over all moved cases."""

    def figures(values: list[int | None]) -> dict[str, Any]:
        return {
            "cases": len(values),
            "top1": round(sum(r == 1 for r in values) / len(values), 4),
            "top3": round(sum(r is not None and r <= 3 for r in values) / len(values), 4),
        }

    rows = {name: list(values) for name, values in ranks.items()}
    every = [r for values in rows.values() for r in values]
    per_target = {name: figures(values) for name, values in sorted(rows.items()) if values}
    top1s = [f["top1"] for f in per_target.values()]
    return {
        "targets": per_target,
        "all": figures(every) if every else {"cases": 0},
        "median_target_top1": round(statistics.median(top1s), 4) if top1s else None,
    }
