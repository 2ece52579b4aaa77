"""Memory against its limit: each service's worst pod, as a headroom series to forecast.

The signal catalog's memory spec (``shared.enrichment.signals``, with the
tenant's selector overrides) names the two series: the containers' working
set and their memory limit, both labelled by service and paired by pod. A
pod's headroom is its limit minus its working set, in bytes, at each step
both were seen; a pod without a limit (0 or absent) cannot run out of one
and is left out. Each pod is forecast on its own with the limit as its
capacity (a restart that frees memory is a reset the forecast splits at, as
a disk cleanup), and the service is said by its worst pod: the one that
reaches its limit soonest, or, when none is heading there, the one with the
least headroom left.

Pure apart from the metrics port it is handed; returns values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from shared.enrichment.signals import SignalCatalog, SignalSpec, aligned, render_or_all
from shared.ports.metrics import MetricsSource
from shared.predict.forecast import Forecast, Status, forecast

Floats = npt.NDArray[np.float64]

SIGNAL = "memory"
"""The catalog signal read: working set over its limit, joined by pod."""


@dataclass(frozen=True, slots=True)
class PodHeadroom:
    """One pod's headroom (limit minus working set) and the limit it runs against."""

    service: str
    pod: str
    history: Floats
    """Rows of (unix seconds, headroom bytes)."""
    limit_bytes: float
    forecast: Forecast


def memory_spec(overrides: dict[str, str] | None = None) -> SignalSpec | None:
    """The catalog's memory signal, with a tenant's selector overrides applied."""
    return SignalCatalog().with_overrides(overrides or {}).get(SIGNAL)


def read_worst_pods(
    metrics: MetricsSource,
    spec: SignalSpec,
    services: Sequence[str],
    now: datetime,
    *,
    history: timedelta,
    step: timedelta,
    ahead_h: float,
) -> tuple[list[PodHeadroom], list[str]]:
    """Each service's worst pod over ``history``, forecast ``ahead_h`` hours ahead.

    Returns the pods (one per service, sorted by service) and what could not be read.
    """
    if spec.denominator is None:
        return [], [f"{SIGNAL}: the catalog's memory signal has no limit selector"]
    start = now - history
    used = metrics.query_range(render_or_all(spec.selector, services), start, now, step)
    if not used.ok:
        return [], [f"{SIGNAL}: {used.error}"]
    limits = metrics.query_range(render_or_all(spec.denominator, services), start, now, step)
    if not limits.ok:
        return [], [f"{SIGNAL} limit: {limits.error}"]
    errors = [f"{SIGNAL}: {w}" for w in (*used.warnings, *limits.warnings)]
    grid = start.timestamp() + step.total_seconds() * np.arange(
        int(history / step) + 1, dtype=np.float64
    )
    working = aligned(used, spec, grid)
    limit = aligned(limits, spec, grid)
    by_service: dict[str, list[PodHeadroom]] = {}
    for (service, pod), ws in sorted(working.items()):
        lim = limit.get((service, pod), limit.get((service, "")))
        if lim is None:
            continue
        lim = np.where(lim > 0, lim, np.nan)
        seen = np.isfinite(ws) & np.isfinite(lim)
        if not seen.any():
            continue
        rows = np.column_stack((grid[seen], (lim - ws)[seen]))
        capacity = float(lim[seen][-1])
        result = forecast(rows[:, 0], rows[:, 1], now=now, capacity=capacity, horizon_h=ahead_h)
        by_service.setdefault(service, []).append(PodHeadroom(service, pod, rows, capacity, result))
    worst = [min(pods, key=_risk) for _, pods in sorted(by_service.items())]
    return worst, errors


def _risk(pod: PodHeadroom) -> tuple[int, float, float]:
    """Sort key, most at risk first: at its limit, then soonest there, then least room."""
    result = pod.forecast
    room = float(pod.history[-1, 1]) / pod.limit_bytes if pod.history.size else math.inf
    if result.status is Status.FULL:
        return (0, 0.0, room)
    if result.status is Status.FILLING and result.hours_left is not None:
        return (1, result.hours_left, room)
    if result.status is Status.NOT_FILLING:
        return (2, 0.0, room)
    return (3, 0.0, room)
