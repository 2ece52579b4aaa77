"""Per-series change detection on raw samples: baseline, onset, size, direction.

Every series with a ``service`` label is evidence, whatever its name. For each
one, over the samples the context step reads:

* a robust baseline of the pre-incident window (everything older than the
  onset window): median and scaled MAD, floored by a third of the baseline's
  95th-percentile deviation so that a bursty series (a counter that is mostly
  zero) does not turn every burst into a huge score, and by a small share of
  the level for flat series;
* the change point inside the onset window (the last ``ONSET_WINDOW`` before
  ``now``) on the raw samples, no smoothing: a one-sided CUSUM run backwards
  from ``now`` (Page's CUSUM, as BARO and the RCAEval N-Sigma/BARO baselines
  score post-change samples against a median/IQR baseline): the onset is the
  earliest sample from which the excess over the baseline band, summed up to
  ``now``, is largest. A change two minutes old with one or two samples is
  seen; a spike that ended before the window sits in the baseline, where the
  median ignores it, one that ended inside the window must still be on the
  same side of the baseline at ``now`` to count, and one already under way at
  the window's first sample began before the incident: stale, it is dropped;
* the size of the change (robust z of the post-onset median) and direction.

Only series that changed are kept (``MIN_Z``), at most ``MAX_READINGS`` by size,
so the context stays small enough for the orchestration's payloads.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from shared.models.analysis import SignalReading
from shared.ports.metrics import QueryResult

FloatArray = npt.NDArray[np.float64]

SIGNAL_PREFIX = "series:"
"""``SignalReading.signal`` of a per-series reading: the prefix and the metric name."""
ONSET_WINDOW = timedelta(minutes=15)
"""A change must begin this close to ``now`` to be part of the incident."""
BAND_Z = 3.0
"""Deviation (robust z) that counts as away from the baseline."""
MIN_Z = 4.0
"""Post-onset size below which a series is not reported."""
MAX_READINGS = 400
Z_CAP = 100.0
"""A series flat at zero that moves has no scale to measure by: its z is capped."""
REL_FLOOR = 0.02
ABS_FLOOR = 1e-9


@dataclass(frozen=True, slots=True)
class Change:
    """How one series left its baseline inside the onset window."""

    baseline: float
    spread: float
    current: float
    size: float
    """Signed robust z of the median of the samples from the onset to now."""
    onset_index: int
    high: float
    low: float
    """The highest and lowest sample since the onset."""


def detect_changes(matrix: FloatArray, grid: FloatArray, now: float) -> list[Change | None]:
    """The change of each row of ``matrix`` (series x step grid, NaN: no sample).

    Vectorised over the rows: a tenant's few thousand series cost one pass.
    """
    rows = matrix.shape[0]
    found: list[Change | None] = [None] * rows
    window_start = now - ONSET_WINDOW.total_seconds()
    seen = np.flatnonzero(np.isfinite(matrix).any(axis=0)) if rows else np.array([], dtype=int)
    if seen.size and grid[seen[0]] > now - 2 * ONSET_WINDOW.total_seconds():
        # Less history than two windows (a new service, a fresh scrape): split what
        # there is, so the first half can still serve as the baseline.
        window_start = float(grid[seen[0]] + (now - grid[seen[0]]) / 2.0)
    base_cols = grid < window_start
    recent_cols = np.flatnonzero((grid >= window_start) & (grid <= now))
    if rows == 0 or recent_cols.size == 0:
        return found
    base = matrix[:, base_cols]
    recent = matrix[:, recent_cols]
    counts = np.isfinite(base).sum(axis=1)
    usable = (counts >= 3) & np.isfinite(recent).any(axis=1)
    if not usable.any():
        return found
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are not usable anyway
        median = np.nanmedian(base, axis=1)
        dev = np.abs(base - median[:, None])
        mad = 1.4826 * np.nanmedian(dev, axis=1)
        tail = np.where(counts >= 10, np.nanquantile(dev, 0.95, axis=1) / 3.0, 0.0)
    spread = np.fmax.reduce([mad, tail, REL_FLOOR * np.abs(median), np.full(rows, ABS_FLOOR)])
    z = np.clip((recent - median[:, None]) / spread[:, None], -Z_CAP, Z_CAP)
    finite = np.isfinite(z)
    # Samples repeat on the grid between scrapes (Prometheus lookback): count each
    # distinct sample once, so a 5-minute series is not worth five 1-minute ones.
    changed = np.concatenate((np.ones((rows, 1), dtype=bool), np.diff(recent, axis=1) != 0), axis=1)
    distinct = finite & changed
    columns = np.arange(recent_cols.size)
    best_level = np.zeros(rows)
    best_k = np.zeros(rows, dtype=np.int64)
    z_filled = np.nan_to_num(z)
    # A change already under way at the window's first sample began before the
    # incident's onset window: stale, whatever its size.
    first = np.argmax(distinct, axis=1)
    for sign in (1.0, -1.0):
        excess = np.where(distinct, sign * z_filled - BAND_Z, 0.0)
        tails = np.cumsum(excess[:, ::-1], axis=1)[:, ::-1]
        k = np.argmax(tails, axis=1)
        ok = (tails[np.arange(rows), k] > 0) & (k > first)
        after = np.where(distinct & (columns[None, :] >= k[:, None]), z, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            level = np.nanmedian(after, axis=1)
        ok &= np.isfinite(level) & (sign * level >= MIN_Z)
        better = ok & (np.abs(level) > np.abs(best_level))
        best_level = np.where(better, level, best_level)
        best_k = np.where(better, k, best_k)
    for i in np.flatnonzero(usable & (best_level != 0)):
        # Only the rows with a change need their latest sample (usable rows have one).
        current = recent[i][np.isfinite(recent[i])][-1]
        if np.sign(current - median[i]) != np.sign(best_level[i]):
            continue  # back on the other side of the baseline by now: over
        since = recent[i, best_k[i] :]
        since = since[np.isfinite(since)]
        found[i] = Change(
            baseline=float(median[i]),
            spread=float(spread[i]),
            current=float(current),
            size=float(best_level[i]),
            onset_index=int(recent_cols[best_k[i]]),
            high=float(np.max(since)),
            low=float(np.min(since)),
        )
    return found


def detect_change(values: FloatArray, grid: FloatArray, now: float) -> Change | None:
    """The change of one series on the step grid (NaN where there is no sample)."""
    return detect_changes(values[None, :], grid, now)[0]


def _identity(labels: Mapping[str, str]) -> tuple[str, str]:
    name = labels.get("__name__", "")
    rest = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("__name__",))
    return name, rest


def place_on_grid(
    samples: Iterable[tuple[float, float]], grid: FloatArray, step: float, out: FloatArray
) -> None:
    """Write each ``(time, value)`` sample into ``out`` at its nearest grid slot.

    Samples outside the grid are dropped; a later sample wins a shared slot.
    """
    data = np.asarray(samples, dtype=np.float64)
    idx = np.rint((data[:, 0] - grid[0]) / step).astype(np.int64)
    keep = (idx >= 0) & (idx < grid.size)
    out[idx[keep]] = data[keep, 1]


def series_readings(
    result: QueryResult,
    *,
    services: Iterable[str],
    grid: FloatArray,
    step: float,
    now: datetime,
    source: str,
) -> list[SignalReading]:
    """One reading per series of ``services`` that changed inside the onset window."""
    wanted = set(services)
    now_s = now.timestamp()
    kept = [
        series
        for series in result.series
        if series.samples and series.labels.get("service") in wanted
    ]
    matrix = np.full((len(kept), grid.size), np.nan)
    for row, series in enumerate(kept):
        place_on_grid(series.samples, grid, step, matrix[row])
    out: list[tuple[float, SignalReading]] = []
    for series, change, values in zip(
        kept, detect_changes(matrix, grid, now_s), matrix, strict=True
    ):
        if change is None:
            continue
        service = series.labels["service"]
        name, detail = _identity(series.labels)
        ratio = change.current / change.baseline if abs(change.baseline) > 1e-12 else None
        reading = SignalReading(
            signal=SIGNAL_PREFIX + name,
            entity=service,
            scope="service",
            source=source,
            baseline=round(change.baseline, 6),
            spread=round(change.spread, 9),
            current=round(change.current, 6),
            deviation=round(change.size, 3),
            ratio=round(ratio, 4) if ratio is not None and math.isfinite(ratio) else None,
            onset=datetime.fromtimestamp(float(grid[change.onset_index]), tz=UTC),
            prior=round(change.baseline, 6),
            recent_max=round(change.high, 6),
            recent_min=round(change.low, 6),
            detail=detail,
            samples=int(np.isfinite(values).sum()),
        )
        out.append((abs(change.size), reading))
    out.sort(key=lambda p: (-p[0], p[1].entity, p[1].signal, p[1].detail))
    return [r for _, r in out[:MAX_READINGS]]
