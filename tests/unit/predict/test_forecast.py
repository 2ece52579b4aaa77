"""The forecast on each phenomenon that makes predict_linear page wrongly, over many seeds."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from shared.predict.baselines import predict_linear_hours
from shared.predict.forecast import Status, forecast
from tests.unit.predict import synthetic
from tests.unit.predict.synthetic import NOW, make, right

SEEDS = range(7100, 7104)


def _forecast(kind: str, seed: int) -> tuple[float | None, float | None, str]:
    s = make(kind, seed)
    result = forecast(s.times, s.free, now=NOW, capacity=s.size)
    return result.hours_left, s.hours_left, result.model


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "kind",
    ["linear", "noisy", "step_down", "rotation", "plateau_then_fill", "accelerating"],
)
def test_a_current_regime_that_fills_is_timed_within_the_spec_tolerance(
    kind: str, seed: int
) -> None:
    predicted, truth, model = _forecast(kind, seed)
    assert right(predicted, truth), (kind, seed, predicted, truth, model)


@pytest.mark.parametrize("seed", SEEDS)
def test_daily_seasonality_is_followed_not_mistaken_for_the_trend(seed: int) -> None:
    predicted, truth, model = _forecast("daily", seed)
    assert right(predicted, truth), (seed, predicted, truth, model)
    assert model == "daily"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["fill_then_stop", "slowing", "idle", "sawtooth"])
def test_not_filling_is_an_answer(kind: str, seed: int) -> None:
    s = make(kind, seed)
    result = forecast(s.times, s.free, now=NOW, capacity=s.size)
    assert s.hours_left is None
    assert result.status is Status.NOT_FILLING, (kind, seed, result)
    assert result.hours_left is None and result.exhausted_at is None


@pytest.mark.parametrize("seed", SEEDS)
def test_a_sawtooth_whose_cleanups_fall_behind_fills(seed: int) -> None:
    s = make("sinking_sawtooth", seed)
    result = forecast(s.times, s.free, now=NOW, capacity=s.size)
    assert result.model == "cycles"
    assert s.hours_left is not None and result.hours_left is not None
    assert abs(result.hours_left - s.hours_left) <= max(0.3 * s.hours_left, 1.0)


def test_right_share_on_fresh_seeds_of_every_phenomenon_beats_predict_linear() -> None:
    ours = linear1h = linear6h = 0
    total = 0
    for kind in synthetic.KINDS:
        for seed in range(9300, 9306):
            s = make(kind, seed)
            total += 1
            ours += right(
                forecast(s.times, s.free, now=NOW, capacity=s.size).hours_left, s.hours_left
            )
            for window, _ in ((3600.0, 0), (6 * 3600.0, 1)):
                hit = right(
                    predict_linear_hours(s.times, s.free, now=NOW, window_s=window), s.hours_left
                )
                if window == 3600.0:
                    linear1h += hit
                else:
                    linear6h += hit
    assert ours / total >= 0.9
    assert ours > max(linear1h, linear6h)


def test_the_range_brackets_the_forecast_and_widens_with_noise() -> None:
    quiet = make("linear", 7200)
    loud = make("noisy", 7200)
    spreads = []
    for s in (quiet, loud):
        result = forecast(s.times, s.free, now=NOW, capacity=s.size)
        assert result.range_hours is not None and result.hours_left is not None
        low, high = result.range_hours
        assert low is not None and high is not None
        assert low <= result.hours_left * 1.02 and high >= result.hours_left * 0.98
        spreads.append((high - low) / result.hours_left)
    assert spreads[1] > spreads[0]


def test_spikes_gaps_order_and_nan_do_not_change_the_answer() -> None:
    s = make("linear", 7300)
    base = forecast(s.times, s.free, now=NOW, capacity=s.size).hours_left
    rng = np.random.default_rng(1)
    order = rng.permutation(s.times.size)
    messy_t, messy_v = s.times[order].copy(), s.free[order].copy()
    messy_v[rng.choice(s.times.size, 40, replace=False)] = np.nan
    messy_v[rng.choice(s.times.size, 10, replace=False)] = 0.0
    keep = (messy_t < NOW.timestamp() - 10 * 3600) | (messy_t > NOW.timestamp() - 8 * 3600)
    again = forecast(messy_t[keep], messy_v[keep], now=NOW, capacity=s.size).hours_left
    assert base is not None and again is not None
    assert abs(again - base) <= 0.05 * base


def test_without_a_capacity_the_scale_comes_from_the_series() -> None:
    s = make("plateau_then_fill", 7400)
    with_size = forecast(s.times, s.free, now=NOW, capacity=s.size).hours_left
    without = forecast(s.times, s.free, now=NOW).hours_left
    assert with_size is not None and without is not None
    assert abs(with_size - without) <= 0.05 * with_size


def test_too_little_history_says_so() -> None:
    t = NOW.timestamp() - np.arange(5)[::-1] * 60.0
    result = forecast(t, np.full(5, 1e9), now=NOW, capacity=2e9)
    assert result.status is Status.INSUFFICIENT and "sample" in result.reason


def test_already_full_is_zero_hours() -> None:
    t = NOW.timestamp() - np.arange(180)[::-1] * 60.0
    free = np.linspace(1e8, 0.0, 180)
    result = forecast(t, free, now=NOW, capacity=1e10)
    assert result.status in (Status.FULL, Status.FILLING)
    assert result.hours_left is not None and result.hours_left <= 0.1


def test_samples_after_now_are_ignored() -> None:
    s = make("linear", 7500)
    later = NOW.timestamp() + np.arange(1, 361) * 60.0
    both_t = np.r_[s.times, later]
    both_v = np.r_[s.free, np.zeros_like(later)]
    a = forecast(s.times, s.free, now=NOW, capacity=s.size)
    b = forecast(both_t, both_v, now=NOW, capacity=s.size)
    assert a.hours_left == b.hours_left
    assert a.exhausted_at is None or a.exhausted_at - NOW < timedelta(hours=48)
