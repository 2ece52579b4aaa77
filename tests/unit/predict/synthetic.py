"""Capacity series made to order: one per phenomenon the forecast must survive.

Each generator draws its own parameters from ``rng`` (rates, levels, when a
regime began, noise) and knows its ground truth: the noise-free continuation
of the process, crossed with zero within ``HORIZON_H``. The public kit has a
dozen series; these make many more with other seeds, so a test fails when the
forecast only works on the ones it has seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

HORIZON_H = 48.0
NOW = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
Floats = NDArray[np.float64]
Shape = Callable[[Floats], Floats]


@dataclass(frozen=True)
class Synthetic:
    kind: str
    times: Floats
    """Unix seconds, 24 h at 60 s ending at ``NOW``."""
    free: Floats
    size: float
    hours_left: float | None

    def as_json(self, series_id: str) -> dict[str, object]:
        """The kit's ``capacity@1`` document."""
        return {
            "schema": "capacity@1",
            "id": series_id,
            "metric": "node_filesystem_avail_bytes",
            "labels": {"instance": "db-1", "mountpoint": "/data"},
            "size_bytes": self.size,
            "now": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "samples": [[float(t), float(v)] for t, v in zip(self.times, self.free, strict=True)],
        }


def _truth(shape: Shape) -> float | None:
    future = np.arange(0.0, HORIZON_H, 1 / 60)
    values = shape(future)
    below = np.flatnonzero(values <= 0)
    return float(future[below[0]]) if below.size else None


def _noise(rng: np.random.Generator, n: int, loud: bool = False) -> Floats:
    """AR(1) wander as scraped free space shows, or loud white noise with spikes."""
    if loud:
        out = rng.normal(0, rng.uniform(0.003, 0.012), n)
        spikes = rng.choice(n, size=int(rng.integers(5, 30)), replace=False)
        out[spikes] = rng.choice([-1.0, 1.0], size=spikes.size)
        return out
    phi, sigma = rng.uniform(0.5, 0.9), rng.uniform(1e-4, 8e-4)
    e = rng.normal(0, sigma * np.sqrt(1 - phi**2), n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + e[i]
        out[i] = acc
    return out


def _rate(rng: np.random.Generator, level: float, hours: tuple[float, float]) -> float:
    """A fill rate (fraction per hour) that empties ``level`` in ``hours`` at constant pace."""
    return level / rng.uniform(*hours)


def linear(rng: np.random.Generator) -> tuple[Shape, bool]:
    level = rng.uniform(0.1, 0.5)
    rate = _rate(rng, level, (1.5, 40))
    return (lambda t: level - rate * t), False


def noisy(rng: np.random.Generator) -> tuple[Shape, bool]:
    shape, _ = linear(rng)
    return shape, True


def daily(rng: np.random.Generator) -> tuple[Shape, bool]:
    level = rng.uniform(0.15, 0.5)
    rate = _rate(rng, level, (2, 30))
    amp, phase = rng.uniform(0.02, 0.06), rng.uniform(0, 2 * np.pi)
    w = 2 * np.pi / 24
    return (lambda t: level - rate * t + amp * (np.sin(w * t + phase) - np.sin(phase))), False


def step_down(rng: np.random.Generator) -> tuple[Shape, bool]:
    """A large write at once, then the same pace."""
    level = rng.uniform(0.1, 0.4)
    rate = _rate(rng, level, (2, 30))
    at, size = -rng.uniform(1.5, 10), rng.uniform(0.1, 0.3)
    return (lambda t: level - rate * t + np.where(t < at, size, 0.0)), False


def rotation(rng: np.random.Generator) -> tuple[Shape, bool]:
    """One log rotation releases space; the pace goes on."""
    level = rng.uniform(0.2, 0.5)
    rate = _rate(rng, level, (2, 30))
    at, size = -rng.uniform(1.5, 12), rng.uniform(0.1, 0.3)
    return (lambda t: level - rate * t - np.where(t < at, size, 0.0)), False


def plateau_then_fill(rng: np.random.Generator) -> tuple[Shape, bool]:
    level = rng.uniform(0.15, 0.5)
    rate = _rate(rng, level, (1.5, 15))
    began = -rng.uniform(1.5, 10)
    return (lambda t: level - rate * np.maximum(t, began)), False


def fill_then_stop(rng: np.random.Generator) -> tuple[Shape, bool]:
    """Filled steadily, stopped some hours ago: not filling."""
    level = rng.uniform(0.1, 0.5)
    rate = rng.uniform(0.01, 0.04)
    stopped = -rng.uniform(1.5, 8)
    return (lambda t: level - rate * (np.minimum(t, stopped) - stopped)), False


def slowing(rng: np.random.Generator) -> tuple[Shape, bool]:
    """A fill that slows towards a level it never reaches (an import finishing)."""
    floor = rng.uniform(0.05, 0.3)
    drop, tau = rng.uniform(0.2, 0.5), rng.uniform(2, 5)
    began = -rng.uniform(5, 12)
    return (lambda t: floor + drop * np.exp(-(np.maximum(t, began) - began) / tau)), False


def accelerating(rng: np.random.Generator) -> tuple[Shape, bool]:
    level = rng.uniform(0.2, 0.6)
    k = rng.uniform(0.05, 0.2)
    rate = _rate(rng, level, (6, 40))
    return (lambda t: level - rate * np.expm1(k * t) / k), False


def sawtooth(rng: np.random.Generator) -> tuple[Shape, bool]:
    """A cleanup whenever free space falls to a threshold: never full."""
    low, high = rng.uniform(0.05, 0.2), rng.uniform(0.35, 0.6)
    period = rng.uniform(3, 8)
    offset = rng.uniform(0, period)
    return (lambda t: high - (high - low) * (((t + offset) % period) / period)), False


def sinking_sawtooth(rng: np.random.Generator) -> tuple[Shape, bool]:
    """Scheduled cleanups that release less than was written since the last: fills."""
    period = rng.uniform(3, 6)
    rate = rng.uniform(0.03, 0.08)
    release = rate * period * rng.uniform(0.6, 0.9)
    phase = rng.uniform(0, period)
    level = rng.uniform(0.15, 0.35)

    def shape(t: Floats) -> Floats:
        cleanups = np.floor((t - phase) / period) - np.floor(-phase / period)
        return level - rate * t + release * cleanups

    return shape, False


def idle(rng: np.random.Generator) -> tuple[Shape, bool]:
    """Nothing happens: a flat line, perhaps loud."""
    level = rng.uniform(0.05, 0.9)
    return (lambda t: np.full_like(t, level)), bool(rng.uniform() < 0.5)


def daily_loud(rng: np.random.Generator) -> tuple[Shape, bool]:
    shape, _ = daily(rng)
    return shape, True


KINDS: dict[str, Callable[[np.random.Generator], tuple[Shape, bool]]] = {
    "linear": linear,
    "noisy": noisy,
    "daily": daily,
    "step_down": step_down,
    "rotation": rotation,
    "plateau_then_fill": plateau_then_fill,
    "fill_then_stop": fill_then_stop,
    "slowing": slowing,
    "accelerating": accelerating,
    "sawtooth": sawtooth,
    "sinking_sawtooth": sinking_sawtooth,
    "idle": idle,
    "daily_loud": daily_loud,
}


def make(kind: str, seed: int) -> Synthetic:
    """One series of ``kind``; the same seed gives the same series."""
    rng = np.random.default_rng(seed)
    t_h = np.arange(-24 * 60, 1) / 60.0
    while True:  # a disk is never more than empty: draw again until the past fits
        shape, loud = KINDS[kind](rng)
        clean = shape(t_h)
        if clean.max() <= 0.98:
            break
    size = float(rng.choice([2e11, 5e11, 1e12, 2e12]))
    free = np.clip(clean + _noise(rng, t_h.size, loud), 0.0, 1.0) * size
    times = NOW.timestamp() + t_h * 3600
    return Synthetic(kind, times, free, size, _truth(shape))


def right(predicted: float | None, truth: float | None) -> bool:
    """The SPEC rule: within 20% (or 30 min) when it fills within 12 h, else none within 12 h."""
    if truth is not None and truth <= 12:
        return predicted is not None and abs(predicted - truth) <= max(0.2 * truth, 0.5)
    return predicted is None or predicted > 12
