"""Time to exhaustion of one filesystem (or memory against its limit), with a P10-P90 range.

The steps, each reasoned from the series' own evidence:

1. **Clean**: lone spikes out, samples binned (``regimes``).
2. **Split at jumps**: a cleanup, a rotation or a sudden large write starts a
   new regime; only the current one describes the disk now.
3. **Cycles**: two releases or more make a sawtooth. The disk fills only if
   the current cycle reaches zero before its next release is due, or if the
   level each cleanup starts from is itself sinking towards zero.
4. **How much history to trust**: within the current regime, every suffix is
   fitted by every trend family (``trend``); the longest one that some
   family explains within the series' noise is the regime as it is now (a
   plateau before a fill began, or a fill before it stopped, falls outside
   it), and the family is chosen there by BIC.
5. **When**: the fitted trend is extrapolated to zero within the horizon
   (48 h, as the kit's ground truth). "Not filling" is an answer.
6. **Range**: a moving-block bootstrap of the residuals, each replicate
   refitted on a start drawn from the first third of the regime (how much
   history to trust is uncertain too); P10 and P90 of the replicates'
   crossing times, ``None`` for an end beyond the horizon.

Pure: numpy only, no I/O; times in and out are aware UTC datetimes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np

from shared.predict import regimes, trend
from shared.predict.regimes import Bins, Floats, Jump, Segment
from shared.predict.trend import FAMILIES, PARAMS, Family, Trend

HORIZON_H = 48.0
"""How far ahead a crossing counts: the kit's ground truth says null beyond 48 h."""
FIT_TOLERANCE = 2.0
"""A family explains a suffix when its residual RMS is within this many noise units."""
MIN_REGIME_H = 1.0
"""A regime shorter than this borrows its slope from the one before it."""
MIN_SAMPLES = 10
BOOTSTRAP = 64
VERIFY_TRIES = 12
"""Starts whose interpolated curved fit passes, checked exactly before giving up."""
QUANTILES = (0.1, 0.9)


class Status(StrEnum):
    FILLING = "filling"
    NOT_FILLING = "not_filling"
    FULL = "full"
    INSUFFICIENT = "insufficient_data"


@dataclass(frozen=True, slots=True, kw_only=True)
class Forecast:
    """A forecast as a value: when, how sure, and what it was read from."""

    status: Status
    now: datetime
    hours_left: float | None = None
    range_hours: tuple[float | None, float | None] | None = None
    """P10 and P90 hours left; ``None`` for an end beyond the horizon."""
    free_now: float | None = None
    """Free bytes now, as the fitted trend reads them."""
    rate_per_h: float | None = None
    """Change of free bytes per hour now (negative while filling)."""
    model: str = ""
    """Trend family and shape: ``linear``, ``curved``, ``daily`` or ``cycles``."""
    regime_start: datetime | None = None
    reason: str = ""

    @property
    def exhausted_at(self) -> datetime | None:
        if self.hours_left is None:
            return None
        return self.now + timedelta(hours=self.hours_left)


@dataclass(frozen=True, slots=True)
class _Fit:
    trend: Trend
    t: Floats
    y: Floats
    start_h: float


def forecast(
    times: Sequence[float] | Floats,
    free: Sequence[float] | Floats,
    *,
    now: datetime,
    capacity: float | None = None,
    horizon_h: float = HORIZON_H,
    seed: int = 0,
) -> Forecast:
    """Forecast from ``(unix seconds, free bytes)`` samples up to ``now``.

    ``capacity`` (the filesystem's size, or the memory limit) sets the scale
    the thresholds are read on; without it the largest value seen does.
    """
    now_s = now.timestamp()
    t_raw = np.asarray(times, dtype=np.float64)
    v_raw = np.asarray(free, dtype=np.float64)
    keep = np.isfinite(t_raw) & np.isfinite(v_raw) & (t_raw <= now_s)
    t_raw, v_raw = t_raw[keep], v_raw[keep]
    order = np.argsort(t_raw, kind="stable")
    t_raw, v_raw = t_raw[order], v_raw[order]
    if t_raw.size < MIN_SAMPLES or t_raw[-1] - t_raw[0] < 1800:
        return Forecast(
            status=Status.INSUFFICIENT,
            now=now,
            reason=f"{t_raw.size} sample(s) over less than 30 min: too little to forecast",
        )
    scale = float(capacity) if capacity and capacity > 0 else float(np.max(np.abs(v_raw))) or 1.0
    t_h = (t_raw - now_s) / 3600.0
    y = regimes.despike(v_raw / scale)
    step_s = float(np.median(np.diff(t_raw)))
    bins = regimes.to_bins(t_h, y, step_s)
    jumps = regimes.find_jumps(bins)
    segs = regimes.segments(bins, jumps)

    fit = _fit_current(bins, segs)
    if fit is None:
        return Forecast(status=Status.INSUFFICIENT, now=now, reason="no regime long enough to fit")
    level = float(fit.trend(np.zeros(1))[0])
    base = Forecast(
        status=Status.NOT_FILLING,
        now=now,
        free_now=max(level, 0.0) * scale,
        rate_per_h=fit.trend.slope_now() * scale,
        model=fit.trend.family,
        regime_start=now + timedelta(hours=fit.start_h),
        reason=_describe(fit),
    )
    if level <= 0.0:
        return replace(
            base, status=Status.FULL, hours_left=0.0, range_hours=(0.0, 0.0), reason="full now"
        )
    hours = trend.first_crossing(fit.trend, horizon_h)
    spread: tuple[float | None, float | None] | None = None
    releases = [j for j in jumps if j.release]
    if len(releases) >= 2:
        cycles = _cycles(bins, jumps, segs, fit, horizon_h)
        base = replace(base, model="cycles", reason=cycles.reason)
        if cycles.in_cycle:
            spread = _bootstrap(fit, horizon_h, np.random.default_rng(seed))
        else:
            hours, spread = cycles.hours, cycles.spread
    elif hours is not None:
        spread = _bootstrap(fit, horizon_h, np.random.default_rng(seed))
    if hours is None:
        return base
    return replace(base, status=Status.FILLING, hours_left=hours, range_hours=spread)


def _fit_current(bins: Bins, segs: tuple[Segment, ...]) -> _Fit | None:
    """The trend of the current regime: longest suffix a family explains within noise."""
    min_bins = max(4, math.ceil(MIN_REGIME_H / bins.width_h))
    current = segs[-1]
    if len(current) >= min_bins:
        return _fit_segment(bins, current, min_bins)
    # Too short to read a slope: a rotation or cleanup moves the level, rarely the
    # rate, so the regime before lends its trend, re-anchored on the new level.
    for previous in reversed(segs[:-1]):
        if len(previous) >= min_bins:
            before = _fit_segment(bins, previous, min_bins)
            if len(current) == 0:
                return None
            t = bins.t[current.start : current.end]
            y = bins.y[current.start : current.end]
            offset = float(np.median(y - before.trend(t)))
            return _Fit(before.trend.shifted(offset), t, y, float(t[0]))
    return None


def _fit_segment(bins: Bins, seg: Segment, min_bins: int) -> _Fit:
    t = bins.t[seg.start : seg.end]
    y = bins.y[seg.start : seg.end]
    anchor = float(y[-1])
    yc = y - anchor
    table = trend.fit_suffixes(t, yc, len(seg) - min_bins)
    limit = FIT_TOLERANCE * bins.noise
    rms = {f: table.rms(f) for f in FAMILIES}
    explained = np.vstack([rms[f] <= limit for f in FAMILIES]).any(axis=0)
    chosen: tuple[int, dict[Family, Trend], dict[Family, float]] | None = None
    for s in np.flatnonzero(explained)[:VERIFY_TRIES]:
        chosen = _explained_at(table, int(s), t, yc, limit)
        if chosen is not None:
            break
    if chosen is None:
        # Nothing explains a suffix within the noise read from the series: trust the
        # one the best family explains best for its length (more points, more trust).
        best = np.min(np.vstack([rms[f] for f in FAMILIES]), axis=0)
        s = int(np.argmin(best / np.sqrt(table.count)))
        chosen = _explained_at(table, s, t, yc, math.inf)
    assert chosen is not None  # every family explains a suffix within an infinite limit
    s, fits, rss = chosen
    n = int(table.count[s])
    n_eff = _effective_points(t[s:], yc[s:], n)
    bic = {f: _bic(rss[f], n, n_eff, PARAMS[f]) for f in fits}
    family = min(bic, key=lambda f: bic[f])
    if family == "curved":
        # A bend, or a fill that began (or stopped) at one moment? The broken line
        # competes on the same suffix; if it wins, the regime starts at its knot.
        knot, hinge_rss = trend.fit_hinge(t[s:], yc[s:], min_bins)
        if _bic(hinge_rss, n, n_eff, 4) < bic["curved"]:
            k0 = s + knot
            line, _ = trend.suffix_fits(trend.design("linear", t[k0:]), yc[k0:], 0)
            fitted = Trend("linear", (float(line[0, 0]), float(line[0, 1])))
            return _Fit(fitted.shifted(anchor), t[k0:], y[k0:], float(t[k0]))
    chosen_trend = fits[family].shifted(anchor).reaching(-float(t[s]))
    return _Fit(chosen_trend, t[s:], y[s:], float(t[s]))


def _bic(rss: float, n: int, n_eff: float, params: int) -> float:
    """BIC counted on the effective number of independent points."""
    return n_eff * math.log(max(rss / n, 1e-300)) + params * math.log(n_eff)


def _effective_points(t: Floats, y: Floats, n: int) -> float:
    """Points worth of evidence: residuals that wander together count as fewer.

    ``n (1 - rho) / (1 + rho)`` with ``rho`` the lag-one autocorrelation of the
    straight line's residuals; without it, wandering noise reads as a bend.
    """
    line, _ = trend.suffix_fits(trend.design("linear", t), y, 0)
    resid = y - trend.design("linear", t) @ line[0]
    denom = float(resid @ resid)
    rho = float(resid[1:] @ resid[:-1]) / denom if denom > 0 else 0.0
    rho = min(max(rho, 0.0), 0.9)
    return max(n * (1.0 - rho) / (1.0 + rho), 3.0)


def _explained_at(
    table: trend.SuffixTable, s: int, t: Floats, yc: Floats, limit: float
) -> tuple[int, dict[Family, Trend], dict[Family, float]] | None:
    """The families that explain the suffix from ``s`` within ``limit`` (exact RSS)."""
    fits: dict[Family, Trend] = {}
    rss: dict[Family, float] = {}
    n = int(table.count[s])
    for f in FAMILIES:
        r = float(table.rss[f][s])
        if not math.isfinite(r):
            continue
        fitted = trend.trend_at(table, f, s)
        if f == "curved":
            fitted, r = trend.fit_curved(t[s:], yc[s:], fitted.k)
        if math.sqrt(r / max(n - PARAMS[f], 1)) <= limit:
            fits[f], rss[f] = fitted, r
    return (s, fits, rss) if fits else None


def _describe(fit: _Fit) -> str:
    since = f"over the last {-fit.start_h:.1f} h"
    shape = {
        "linear": "steady trend",
        "curved": "accelerating trend" if fit.trend.k > 0 else "slowing trend",
        "daily": "trend with a daily swing",
    }[fit.trend.family]
    return f"{shape} {since}"


@dataclass(frozen=True, slots=True)
class _Cycles:
    hours: float | None
    spread: tuple[float | None, float | None] | None
    reason: str
    in_cycle: bool = False
    """The current cycle reaches zero first: its own fit says when."""


def _cycles(
    bins: Bins, jumps: tuple[Jump, ...], segs: tuple[Segment, ...], fit: _Fit, horizon_h: float
) -> _Cycles:
    """A sawtooth: full in this cycle, in a later one, or kept clear by its cleanups."""
    edges = [_edge(bins, segs[i], segs[i + 1], j) for i, j in enumerate(jumps) if j.release]
    release_t = np.array([e[0] for e in edges])
    troughs = np.array([e[1] for e in edges])
    peaks = np.array([e[2] for e in edges])
    period = float(np.median(np.diff(release_t)))
    amplitude = float(np.median(peaks - troughs))
    # Cleanups triggered at a level leave low points that agree; scheduled ones do not.
    level_triggered = troughs.size < 3 or regimes.robust_scale(troughs) <= 0.1 * amplitude
    cycle = f"{len(edges)} cleanups about every {period:.1f} h"
    in_cycle = trend.first_crossing(fit.trend, horizon_h)
    if in_cycle is not None:
        due = float(release_t[-1]) + period
        if in_cycle < due and (not level_triggered or float(np.min(troughs)) <= 0.0):
            return _Cycles(
                in_cycle, None, f"{cycle}; this cycle reaches zero before the next is due", True
            )
    pace = fit.trend.slope_now()
    if level_triggered or pace >= 0:
        floor = max(float(np.min(troughs)), 0.0) * 100
        return _Cycles(None, None, f"{cycle} keep it above {floor:.0f}% free")
    when = _later_cycle(release_t, peaks, period, pace, horizon_h)
    if when is None:
        return _Cycles(None, None, f"{cycle} free more than is written between them")
    others = [
        _later_cycle(np.delete(release_t, i), np.delete(peaks, i), period, pace, horizon_h)
        for i in range(peaks.size)
    ]
    finite = [w for w in others if w is not None]
    spread = (min(finite, default=when), max(finite) if len(finite) == len(others) else None)
    return _Cycles(when, spread, f"{cycle}, each freeing less than was written since the last")


def _edge(bins: Bins, before: Segment, after: Segment, jump: Jump) -> tuple[float, float, float]:
    """When a cleanup happened, the level it started from and the level it left.

    Each side's line is read at the moment of the step: a bin that straddles it
    holds a mix of both levels.
    """
    at = 0.5 * float(bins.t[jump.before] + bins.t[jump.after])
    return (
        at,
        _line_at(bins, before, at, float(bins.y[jump.before])),
        _line_at(bins, after, at, float(bins.y[jump.after])),
    )


def _line_at(bins: Bins, seg: Segment, at: float, fallback: float) -> float:
    if len(seg) < 3:
        return fallback
    t, y = bins.t[seg.start : seg.end], bins.y[seg.start : seg.end]
    coef, _ = trend.suffix_fits(trend.design("linear", t), y, 0)
    return float(coef[0, 0] + coef[0, 1] * at)


def _later_cycle(
    release_t: Floats, peaks: Floats, period: float, pace: float, horizon_h: float
) -> float | None:
    """Hours until a later cycle reaches zero: each starts where the cleanups' peaks
    trend and falls at the current pace until the next cleanup is due."""
    if peaks.size >= 3:
        slope = _theil_sen(release_t, peaks)
    elif peaks.size == 2:
        slope = float(peaks[1] - peaks[0]) / max(float(release_t[1] - release_t[0]), 1e-9)
    else:
        slope = 0.0
    intercept = float(np.median(peaks - slope * release_t))
    start = float(release_t[-1]) + period
    while start <= horizon_h:
        peak = intercept + slope * start
        if peak <= 0:
            return max(start, 0.0)
        if peak + pace * period <= 0:
            return max(start - peak / pace, 0.0)
        start += period
    return None


def _theil_sen(x: Floats, y: Floats) -> float:
    i, j = np.triu_indices(x.size, 1)
    dx = x[j] - x[i]
    ok = dx != 0
    return float(np.median((y[j] - y[i])[ok] / dx[ok])) if ok.any() else 0.0


def _bootstrap(
    fit: _Fit, horizon_h: float, rng: np.random.Generator
) -> tuple[float | None, float | None]:
    """P10/P90 hours left over block-bootstrap replicates refitted on a jittered start."""
    t, y, base = fit.t, fit.y, fit.trend
    n = t.size
    fitted = base(t)
    resid = y - fitted
    block = max(3, n // 8)
    blocks = math.ceil(n / block)
    starts = rng.integers(0, max(n - block, 0) + 1, size=(BOOTSTRAP, blocks))
    index = (starts[:, :, None] + np.arange(block)).reshape(BOOTSTRAP, -1)[:, :n]
    ys = fitted + resid[np.minimum(index, n - 1)]
    first = rng.integers(0, max(n // 3, 1), size=BOOTSTRAP)
    weights = (np.arange(n)[None, :] >= first[:, None]).astype(np.float64)
    coef, k, _ = trend.fit_many(base.family, t, ys, weights, base.k)
    when = trend.crossings(base.family, coef, k, horizon_h, reach=base.reach)
    lo, hi = np.quantile(when, QUANTILES, method="inverted_cdf")
    return (
        float(lo) if math.isfinite(lo) else None,
        float(hi) if math.isfinite(hi) else None,
    )


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
