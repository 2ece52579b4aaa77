"""Trend families for one regime, fitted on every suffix at once, and their futures.

Three families, each nesting the straight line, so evidence decides whether
the extra shape earns its place:

- ``linear``: ``c + b·t``;
- ``curved``: ``c + b·(exp(k·t) - 1)/k``: ``b`` is the slope now, ``k > 0`` a
  fill that accelerates, ``k < 0`` one that slows down towards a level it may
  never cross (the disk that was filling and stops); ``k = 0`` is the line;
- ``daily``: ``c + b·t + a·sin(ωt) + b2·cos(ωt)`` with a 24-hour period, only
  on a regime that spans most of a day (a shorter one cannot tell a daily
  swing from a bend).

``fit_suffixes`` solves least squares for every start of the regime in one
pass of reverse cumulative sums, so choosing how much history to trust costs
little more than one fit. ``fit_many`` refits many replicates at once (the
bootstrap). Times are hours to ``now`` (``t ≤ 0``); values are fractions of
the capacity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Family = Literal["linear", "curved", "daily"]
FAMILIES: tuple[Family, ...] = ("linear", "curved", "daily")
PARAMS: dict[Family, int] = {"linear": 2, "curved": 3, "daily": 4}
"""Free parameters per family (the curved one's bend rate counts)."""

DAY_H = 24.0
OMEGA = 2.0 * np.pi / DAY_H
DAILY_MIN_SPAN_H = 20.0
"""A daily swing is only told from a bend with most of a day in view."""
K_MAX = 0.5
K_GRID = np.concatenate([-np.geomspace(K_MAX, 1 / 96, 20), [0.0], np.geomspace(1 / 96, K_MAX, 20)])
"""Rates of bend (1/h) the curved family tries: time constants from 2 h to 4 days, and 0
(the line). Between grid points the best fit is interpolated, and refined once chosen."""
K_SPAN_MAX = 8.0
"""Skip a bend whose exponential spans more than e^8 over the window (ill-conditioned)."""
STEP_H = 1.0 / 6.0
"""Grid a crossing is looked for on (ten minutes), then read by linear interpolation."""


@dataclass(frozen=True, slots=True)
class Trend:
    """A fitted trend: evaluate it at hours relative to now."""

    family: Family
    coef: tuple[float, ...]
    k: float = 0.0
    reach: float = math.inf
    """Hours ahead an acceleration is followed: as far as it was seen, then its rate holds."""

    def __call__(self, t: Floats) -> Floats:
        values: Floats = design(self.family, t, self.k, self.reach) @ np.asarray(self.coef)
        return values

    def slope_now(self) -> float:
        """d(free)/dt at t = 0, capacity fraction per hour."""
        if self.family == "daily":
            return float(self.coef[1] + OMEGA * self.coef[2])
        return float(self.coef[1])

    def shifted(self, offset: float) -> Trend:
        """The same shape, ``offset`` higher."""
        return Trend(self.family, (self.coef[0] + offset, *self.coef[1:]), self.k, self.reach)

    def reaching(self, reach: float) -> Trend:
        return Trend(self.family, self.coef, self.k, reach)


def _bend(t: Floats, k: float, reach: float = math.inf) -> Floats:
    """``(exp(k t) - 1) / k``; past ``reach`` an acceleration goes on at the rate it reached.

    A bend seen over two hours says little about the next twenty: extrapolating
    an exponential far beyond the span that showed it pages for nothing.
    """
    if k == 0.0:
        return t
    if k < 0 or not math.isfinite(reach) or not np.any(t > reach):
        return np.expm1(k * t) / k
    inside = np.minimum(t, reach)
    return np.expm1(k * inside) / k + math.exp(k * reach) * np.maximum(t - reach, 0.0)


def design(family: Family, t: Floats, k: float = 0.0, reach: float = math.inf) -> Floats:
    """The design matrix of a family at times ``t``."""
    one = np.ones_like(t)
    if family == "linear":
        return np.column_stack([one, t])
    if family == "curved":
        return np.column_stack([one, _bend(t, k, reach)])
    return np.column_stack([one, t, np.sin(OMEGA * t), np.cos(OMEGA * t)])


def suffix_fits(x: Floats, y: Floats, first: int) -> tuple[Floats, Floats]:
    """Least squares of ``y`` on ``x`` over rows ``s:`` for every ``s`` in ``0..first``.

    Returns ``(coef[s], rss[s])``; ``x`` may carry leading batch axes
    (``(..., n, p)``), ``y`` is ``(n,)``. Reverse cumulative sums never subtract,
    so a short suffix is as exact as a long one.
    """
    p = x.shape[-1]
    outer = x[..., :, :, None] * x[..., :, None, :]
    a = np.flip(np.cumsum(np.flip(outer, -3), axis=-3), -3)[..., : first + 1, :, :]
    b = np.flip(np.cumsum(np.flip(x * y[:, None], -2), axis=-2), -2)[..., : first + 1, :]
    c = np.flip(np.cumsum(np.flip(y * y)))[: first + 1]
    ridge = 1e-12 * (np.trace(a, axis1=-2, axis2=-1)[..., None, None] + 1e-30) * np.eye(p)
    coef = _solve(a + ridge, b)
    rss = np.maximum(c - np.sum(coef * b, axis=-1), 0.0)
    return coef, rss


def _solve(a: Floats, b: Floats) -> Floats:
    """Batched ``a x = b``; 2x2 systems in closed form (thousands of them per forecast)."""
    if a.shape[-1] != 2:
        return np.linalg.solve(a, b[..., None])[..., 0]
    det = a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        x0 = (a[..., 1, 1] * b[..., 0] - a[..., 0, 1] * b[..., 1]) / det
        x1 = (a[..., 0, 0] * b[..., 1] - a[..., 1, 0] * b[..., 0]) / det
    return np.nan_to_num(np.stack([x0, x1], axis=-1))


@dataclass(frozen=True, slots=True)
class SuffixTable:
    """For every start of a regime: each family's fit and its residual sum of squares."""

    rss: dict[Family, Floats]
    coef: dict[Family, Floats]
    k: Floats
    """Nearest grid bend rate of the curved family per start."""
    count: NDArray[np.int64]
    """Points in each suffix."""

    def rms(self, family: Family) -> Floats:
        return np.sqrt(self.rss[family] / np.maximum(self.count - PARAMS[family], 1))


def fit_suffixes(t: Floats, y: Floats, first: int) -> SuffixTable:
    """Every family on every suffix ``t[s:]`` for ``s`` in ``0..first``.

    The curved family's RSS is interpolated between grid bend rates, so it is
    an estimate (slightly optimistic at worst): ``fit_curved`` gives the exact one.
    """
    count = t.size - np.arange(first + 1)
    span = t[-1] - t[: first + 1]
    rss: dict[Family, Floats] = {}
    coef: dict[Family, Floats] = {}
    coef["linear"], rss["linear"] = suffix_fits(design("linear", t), y, first)

    xs = np.stack([design("curved", t, float(k)) for k in K_GRID])
    cc, cr = suffix_fits(xs, y, first)  # (K, first+1, 2), (K, first+1)
    cr = np.where(np.abs(K_GRID)[:, None] * span[None, :] > K_SPAN_MAX, np.inf, cr)
    best = np.argmin(cr, axis=0)
    rss["curved"] = _between_grid_points(cr, best)
    coef["curved"] = cc[best, np.arange(first + 1)]

    dc, dr = suffix_fits(design("daily", t), y, first)
    rss["daily"] = np.where(span >= DAILY_MIN_SPAN_H, dr, np.inf)
    coef["daily"] = dc
    return SuffixTable(rss=rss, coef=coef, k=K_GRID[best], count=count)


def _between_grid_points(rss: Floats, best: NDArray[np.intp]) -> Floats:
    """Minimum RSS over k, from a parabola through the best grid point and its neighbours."""
    cols = np.arange(best.size)
    inner = np.clip(best, 1, rss.shape[0] - 2)
    r0, r1, r2 = rss[inner - 1, cols], rss[inner, cols], rss[inner + 1, cols]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        curvature = r0 - 2.0 * r1 + r2
        delta = np.clip(0.5 * (r0 - r2) / curvature, -0.5, 0.5)
        low = r1 - 0.25 * (r0 - r2) * delta
    ok = (best == inner) & np.isfinite(low) & (curvature > 0)
    at_best = rss[best, cols]
    return np.where(ok, np.clip(low, 0.0, at_best), at_best)


def trend_at(table: SuffixTable, family: Family, s: int) -> Trend:
    coef = tuple(float(v) for v in table.coef[family][s])
    return Trend(family, coef, float(table.k[s]) if family == "curved" else 0.0)


def _local_ks(k0: float, span: float) -> Floats:
    """A fine grid of bend rates around a coarse one, within the conditioning limit."""
    i = int(np.argmin(np.abs(K_GRID - k0)))
    lo = float(K_GRID[max(i - 1, 0)])
    hi = float(K_GRID[min(i + 1, K_GRID.size - 1)])
    if span > 0:
        lo, hi = max(lo, -K_SPAN_MAX / span), min(hi, K_SPAN_MAX / span)
    return np.unique(np.concatenate([np.linspace(lo, hi, 64), [0.0]]))


def fit_many(
    family: Family, t: Floats, ys: Floats, weights: Floats, k_hint: float = 0.0
) -> tuple[Floats, Floats, Floats]:
    """Weighted least squares of every row of ``ys`` (``(B, n)``) on one family.

    ``weights`` (``(B, n)``, 0 or 1) select each row's points. Returns
    ``(coef (B, p), k (B,), rss (B,))``; the curved family searches bend rates
    on a fine grid around ``k_hint``.
    """
    if family != "curved":
        x = design(family, t)
        wx = weights[:, :, None] * x  # (B, n, p)
        a = np.einsum("bnp,nq->bpq", wx, x)
        b = np.einsum("bnp,bn->bp", wx, ys)
        a += 1e-12 * (np.trace(a, axis1=1, axis2=2)[:, None, None] + 1e-30) * np.eye(x.shape[1])
        coef = np.linalg.solve(a, b[..., None])[..., 0]
        resid = ys - np.einsum("bp,np->bn", coef, x)
        return coef, np.zeros(ys.shape[0]), np.sum(weights * resid**2, axis=1)
    ks = _local_ks(k_hint, float(t[-1] - t[0]))
    g = np.stack([_bend(t, float(k)) for k in ks])  # (K, n)
    wy = weights * ys
    sw = np.maximum(weights.sum(axis=1), 1.0)[:, None]  # (B, 1)
    sy = wy.sum(axis=1)[:, None]
    syy = (wy * ys).sum(axis=1)[:, None]
    # einsum, not @: BLAS threads cost more than they save on matrices this small
    sg = np.einsum("bn,kn->bk", weights, g)  # (B, K)
    sgg = np.einsum("bn,kn->bk", weights, g * g)
    sgy = np.einsum("bn,kn->bk", wy, g)
    var_g = np.maximum(sgg - sg * sg / sw, 1e-300)
    cov = sgy - sg * sy / sw
    rss = np.maximum(syy - sy * sy / sw - cov * cov / var_g, 0.0)
    best = np.argmin(rss, axis=1)
    rows = np.arange(ys.shape[0])
    slope = cov[rows, best] / var_g[rows, best]
    level = (sy[:, 0] - slope * sg[rows, best]) / sw[:, 0]
    return np.column_stack([level, slope]), ks[best], rss[rows, best]


def fit_curved(t: Floats, y: Floats, k_hint: float) -> tuple[Trend, float]:
    """The best curved trend on ``t, y`` near bend rate ``k_hint``, and its RSS."""
    coef, k, rss = fit_many("curved", t, y[None, :], np.ones((1, t.size)), k_hint)
    return Trend("curved", (float(coef[0, 0]), float(coef[0, 1])), float(k[0])), float(rss[0])


def crossings(
    family: Family,
    coef: Floats,
    k: Floats,
    horizon_h: float,
    level: float = 0.0,
    reach: float = math.inf,
) -> Floats:
    """Hours from now until each trend first reaches ``level``; ``inf`` beyond the horizon."""
    if family == "linear":
        c, b = coef[:, 0], coef[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            when = np.where(b < 0, (level - c) / b, np.inf)
        when = np.where(c <= level, 0.0, when)
        return np.where(when <= horizon_h, when, np.inf)
    grid = np.arange(0.0, horizon_h + STEP_H / 2, STEP_H)
    if family == "curved":
        bend = np.stack([_bend(grid, float(kk), reach) for kk in k])  # (B, G)
        values = coef[:, :1] + coef[:, 1:2] * bend
    else:
        values = np.einsum("bp,gp->bg", coef, design("daily", grid))
    below = values <= level
    hit = below.any(axis=1)
    i = np.argmax(below, axis=1)
    rows = np.arange(values.shape[0])
    prev = np.maximum(i - 1, 0)
    v0, v1 = values[rows, prev], values[rows, i]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(v0 > v1, (v0 - level) / (v0 - v1), 0.0)
    when = np.where(i == 0, 0.0, grid[prev] + STEP_H * np.clip(frac, 0.0, 1.0))
    return np.where(hit, when, np.inf)


def first_crossing(trend: Trend, horizon_h: float, level: float = 0.0) -> float | None:
    """Hours from now until ``trend`` first reaches ``level``, or None within the horizon."""
    when = crossings(
        trend.family,
        np.asarray([trend.coef]),
        np.asarray([trend.k]),
        horizon_h,
        level,
        trend.reach,
    )[0]
    return float(when) if np.isfinite(when) else None


def fit_hinge(t: Floats, y: Floats, min_after: int) -> tuple[int, float]:
    """The best broken line (one slope, then another from a knot): knot index and RSS.

    The rival of a bend: a fill that began (or stopped) at one moment looks curved
    to the curved family when the noise is loud enough. The knot is searched on
    every point leaving at least ``min_after`` after it.
    """
    n = t.size
    knots = np.arange(1, max(n - min_after, 1))
    if knots.size == 0:
        return 0, np.inf
    x = np.empty((knots.size, n, 3))
    x[:, :, 0] = 1.0
    x[:, :, 1] = t
    x[:, :, 2] = np.maximum(t[None, :] - t[knots][:, None], 0.0)
    a = np.einsum("knp,knq->kpq", x, x)
    b = np.einsum("knp,n->kp", x, y)
    a += 1e-12 * (np.trace(a, axis1=1, axis2=2)[:, None, None] + 1e-30) * np.eye(3)
    coef = np.linalg.solve(a, b[..., None])[..., 0]
    rss = np.sum((y[None, :] - np.einsum("knp,kp->kn", x, coef)) ** 2, axis=1)
    best = int(np.argmin(rss))
    return int(knots[best]), float(rss[best])
