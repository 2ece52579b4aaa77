"""predict_linear as Prometheus computes it."""

from __future__ import annotations

import numpy as np

from shared.predict.baselines import predict_linear_hours
from tests.unit.predict.synthetic import NOW


def test_a_straight_line_reaches_zero_where_it_should() -> None:
    t = NOW.timestamp() - np.arange(0, 7200, 60.0)[::-1]
    free = 1e9 - (t - NOW.timestamp()) * (1e9 / (5 * 3600))  # 1e9 now, gone in 5 h
    hours = predict_linear_hours(t, free, now=NOW, window_s=3600)
    assert hours is not None and abs(hours - 5.0) < 1e-6


def test_the_intercept_is_at_the_evaluation_time_and_the_window_left_open() -> None:
    t = NOW.timestamp() - np.arange(0, 3 * 3600 + 1, 60.0)[::-1]
    free = 2e9 - (t - t[0]) * 1e5  # falls 0.36 GB per hour
    later = NOW.replace(minute=30)  # evaluated 30 min after the last sample
    at_now = predict_linear_hours(t, free, now=NOW, window_s=3600)
    at_later = predict_linear_hours(t, free, now=later, window_s=3600)
    assert at_now is not None and at_later is not None
    assert abs((at_now - at_later) - 0.5) < 1e-6
    # a sample exactly one window before now is out (Prometheus 3 range selectors)
    two = np.array([NOW.timestamp() - 3600, NOW.timestamp() - 60, NOW.timestamp()])
    assert predict_linear_hours(two[:2], np.array([5.0, 1.0]), now=NOW, window_s=3600) is None


def test_rising_or_flat_is_no_exhaustion() -> None:
    t = NOW.timestamp() - np.arange(0, 3600, 60.0)[::-1]
    assert predict_linear_hours(t, np.full(t.size, 5e9), now=NOW, window_s=3600) is None
    assert predict_linear_hours(t, np.linspace(1e9, 2e9, t.size), now=NOW, window_s=3600) is None
