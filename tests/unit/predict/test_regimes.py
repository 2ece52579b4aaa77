"""Spikes out, bins, jumps: the history the fit can trust."""

from __future__ import annotations

import numpy as np

from shared.predict import regimes
from tests.unit.predict.synthetic import NOW, make


def _bins(kind: str, seed: int) -> regimes.Bins:
    s = make(kind, seed)
    t_h = (s.times - NOW.timestamp()) / 3600.0
    return regimes.to_bins(t_h, regimes.despike(s.free / s.size), 60.0)


def test_lone_spikes_are_replaced_by_the_local_median() -> None:
    y = np.linspace(0.8, 0.2, 600)
    spiked = y.copy()
    spiked[[50, 300, 451]] = [1.0, 0.0, 1.0]
    assert np.allclose(regimes.despike(spiked), y, atol=1e-3)


def test_bins_are_five_minute_medians_counted_back_from_now() -> None:
    t_h = -np.arange(0, 120)[::-1] / 60.0  # 119 minutes: 24 bins
    bins = regimes.to_bins(t_h, np.ones(120), 60.0)
    assert bins.width_h == 5 / 60
    assert bins.t.size == 24 and np.all(np.diff(bins.t) > 0)


def test_a_rotation_is_one_release_and_a_large_write_one_drop() -> None:
    up = regimes.find_jumps(_bins("rotation", 11))
    down = regimes.find_jumps(_bins("step_down", 11))
    assert len(up) == 1 and up[0].release
    assert len(down) == 1 and not down[0].release


def test_a_sawtooth_shows_every_cleanup() -> None:
    bins = _bins("sawtooth", 12)
    jumps = regimes.find_jumps(bins)
    span_h = bins.t[-1] - bins.t[0]
    assert all(j.release for j in jumps)
    assert len(jumps) >= int(span_h / 8)


def test_noise_seasons_and_a_gap_are_not_jumps() -> None:
    for kind in ("noisy", "daily", "accelerating"):
        assert regimes.find_jumps(_bins(kind, 13)) == ()
    s = make("linear", 13)
    keep = np.r_[0:600, 720 : s.times.size]
    t_h = (s.times[keep] - NOW.timestamp()) / 3600.0
    bins = regimes.to_bins(t_h, regimes.despike(s.free[keep] / s.size), 60.0)
    assert regimes.find_jumps(bins) == ()


def test_segments_lie_between_jumps() -> None:
    bins = _bins("rotation", 11)
    jumps = regimes.find_jumps(bins)
    segs = regimes.segments(bins, jumps)
    assert len(segs) == 2
    assert segs[0].start == 0 and segs[-1].end == bins.y.size
    assert segs[0].end <= segs[1].start
