"""From raw samples to regimes: spikes removed, binned, split where the level jumps.

What makes ``predict_linear`` page wrongly is mostly history that no longer
describes the disk: a scrape glitch (a lone sample at 0 or at full), a cleanup
or a log rotation (free space jumps up), a large file written at once (free
space jumps down). This module turns samples into what the fit can trust:

- lone spikes are replaced by the median of their neighbours (a Hampel
  filter: more than ``SPIKE_Z`` robust deviations from the local median);
- samples are binned (``BIN_S`` or three sampling steps, whichever is wider)
  and each bin keeps its median, so noise shrinks and the fit is cheap;
- a **jump** is a change between bins that the local slope does not explain:
  more than ``JUMP_Z`` robust deviations of the bin-to-bin differences and more
  than ``JUMP_MIN`` of the capacity. Neighbouring jump bins are one event (a
  copy that takes ten minutes is one step, not three).

Everything is measured against the series' own noise; nothing is tuned to a
series. Times are hours relative to ``now`` (negative in the past) and values
are fractions of the capacity, so the constants read the same for every disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

Floats = NDArray[np.float64]

BIN_S = 300.0
"""Bin width (seconds) at the usual 15 to 60 s scrape interval."""
SPIKE_HALF = 7
"""Half-width (samples) of the window a spike is judged against."""
SPIKE_Z = 6.0
JUMP_Z = 8.0
JUMP_MIN = 0.01
"""A jump moves at least 1% of the capacity: smaller steps cannot mislead a forecast."""
JUMP_MAX_BINS = 6
"""A run of jump bins longer than this is a steep stretch, not a step."""
NOISE_WINDOW = 12
"""Bins per window the noise is read over (an hour of 5-minute bins)."""
NOISE_FLOOR = 1e-6
"""Relative noise floor: a perfectly clean series would otherwise have zero noise."""
_MAD = 1.4826


def robust_scale(x: Floats) -> float:
    """Standard deviation estimated from the median absolute deviation."""
    if x.size == 0:
        return 0.0
    return _MAD * float(np.median(np.abs(x - np.median(x))))


def despike(values: Floats) -> Floats:
    """Values with lone spikes replaced by the local median (Hampel filter)."""
    n = values.size
    if n < 2 * SPIKE_HALF + 1:
        return values
    padded = np.pad(values, SPIKE_HALF, mode="edge")
    local = np.median(sliding_window_view(padded, 2 * SPIKE_HALF + 1), axis=1)
    deviation = values - local
    scale = max(robust_scale(deviation), NOISE_FLOOR)
    return np.where(np.abs(deviation) > SPIKE_Z * scale, local, values)


@dataclass(frozen=True, slots=True)
class Bins:
    """Binned history: bin times (hours to now) and median values (capacity fractions)."""

    t: Floats
    y: Floats
    width_h: float
    noise: float
    """Robust noise of one bin value, from second differences (curvature cancels)."""


def to_bins(t_h: Floats, y: Floats, step_s: float) -> Bins:
    """Median per bin, bins counted back from ``now`` (t = 0)."""
    width_h = max(BIN_S, 3.0 * step_s) / 3600.0
    index = np.floor(-t_h / width_h).astype(np.int64)
    order = np.lexsort((y, -index))  # oldest bin first, values sorted within a bin
    index, t_sorted, y_sorted = index[order], t_h[order], y[order]
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    counts = np.diff(np.r_[starts, index.size])
    bt = np.add.reduceat(t_sorted, starts) / counts
    by = 0.5 * (y_sorted[starts + (counts - 1) // 2] + y_sorted[starts + counts // 2])
    return Bins(t=bt, y=by, width_h=width_h, noise=_noise(by))


def _noise(y: Floats, window: int = NOISE_WINDOW) -> float:
    """Median residual RMS of a line through each run of ``window`` bins.

    Read at the scale the trends are fitted on, so noise that wanders for a few
    minutes (as scraped free space does) counts in full, and the median keeps
    a window holding a jump or a bend from inflating it.
    """
    runs = y.size // window
    if runs == 0:
        return NOISE_FLOOR
    blocks = y[y.size - runs * window :].reshape(runs, window)
    x = np.arange(window) - (window - 1) / 2.0
    slope = blocks @ x / float(x @ x)
    resid = blocks - blocks.mean(axis=1, keepdims=True) - slope[:, None] * x
    rms = np.sqrt(np.sum(resid**2, axis=1) / (window - 2))
    return max(float(np.median(rms)), NOISE_FLOOR)


@dataclass(frozen=True, slots=True)
class Jump:
    """A step in free space between bins ``before`` and ``after`` (indices into Bins)."""

    before: int
    after: int
    size: float
    """Level change, capacity fraction: positive is space released (cleanup, rotation)."""

    @property
    def release(self) -> bool:
        return self.size > 0


def find_jumps(bins: Bins) -> tuple[Jump, ...]:
    """Steps the local slope does not explain, each a run of at most ``JUMP_MAX_BINS``."""
    d = np.diff(bins.y)
    if d.size < 5:
        return ()
    dt = np.diff(bins.t)
    half = 6
    padded = np.pad(d / dt, half, mode="edge")
    local = np.median(sliding_window_view(padded, 2 * half + 1), axis=1)
    r = d - local * dt  # what the local pace does not explain, across gaps too
    scale = max(robust_scale(r), NOISE_FLOOR)
    # Across a gap the local pace is extrapolated further, so its error weighs more.
    stretch = 1.0 + (dt / float(np.median(dt)) - 1.0) / np.sqrt(2 * half + 1)
    big = (np.abs(r) > JUMP_Z * scale * stretch) & (np.abs(r) > JUMP_MIN)
    jumps: list[Jump] = []
    i = 0
    while i < d.size:
        if not big[i]:
            i += 1
            continue
        j = i
        while j + 1 < d.size and big[j + 1] and np.sign(r[j + 1]) == np.sign(r[i]):
            j += 1
        if j - i + 1 <= JUMP_MAX_BINS:
            # Bins i .. j+1 straddle the step: the level before is bin i, after is bin j+1.
            jumps.append(Jump(before=i, after=j + 1, size=float(np.sum(r[i : j + 1]))))
        i = j + 1
    return tuple(jumps)


@dataclass(frozen=True, slots=True)
class Segment:
    """Bins ``start`` .. ``end`` (exclusive) between two jumps."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


def segments(bins: Bins, jumps: tuple[Jump, ...]) -> tuple[Segment, ...]:
    """The stretches between jumps, oldest first (possibly empty at the ends)."""
    out: list[Segment] = []
    start = 0
    for jump in jumps:
        out.append(Segment(start, jump.before + 1))
        start = jump.after
    out.append(Segment(start, bins.y.size))
    return tuple(out)
