"""Trend families: every suffix at once, the bend recovered, crossings found."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shared.predict import trend


def test_suffix_fits_match_least_squares_on_each_suffix() -> None:
    rng = np.random.default_rng(3)
    t = np.linspace(-24, 0, 100)
    y = 0.5 - 0.01 * t + 0.03 * np.sin(trend.OMEGA * t) + rng.normal(0, 1e-3, t.size)
    x = trend.design("daily", t)
    coef, rss = trend.suffix_fits(x, y, 80)
    for s in (0, 40, 80):
        ref, res, *_ = np.linalg.lstsq(x[s:], y[s:], rcond=None)
        assert np.allclose(coef[s], ref, atol=1e-8)
        assert math.isclose(rss[s], float(res[0]), rel_tol=1e-4)


def test_the_curved_family_recovers_an_acceleration() -> None:
    t = np.linspace(-24, 0, 289)
    y = 0.5 - 0.02 * np.expm1(0.13 * t) / 0.13
    fitted, rss = trend.fit_curved(t, y, 0.15)
    assert abs(fitted.k - 0.13) < 0.005 and rss < 1e-6
    assert math.isclose(fitted.slope_now(), -0.02, rel_tol=0.02)


def test_a_slowing_fill_never_crosses_a_level_it_cannot_reach() -> None:
    slowing = trend.Trend("curved", (0.2, -0.02), -0.3)  # tends to 0.2 - 0.02 / 0.3 > 0
    assert trend.first_crossing(slowing, 48.0) is None


def test_an_acceleration_is_followed_only_as_far_as_it_was_seen() -> None:
    fast = trend.Trend("curved", (0.5, -0.02), 0.2)
    capped = fast.reaching(2.0)
    when_fast = trend.first_crossing(fast, 48.0)
    when_capped = trend.first_crossing(capped, 48.0)
    assert when_fast is not None and when_capped is not None
    assert when_capped > when_fast


def test_linear_crossing_is_exact_and_respects_the_horizon() -> None:
    line = trend.Trend("linear", (0.3, -0.05))
    assert trend.first_crossing(line, 48.0) == pytest.approx(6.0)
    assert trend.first_crossing(line, 5.0) is None
    assert trend.first_crossing(trend.Trend("linear", (0.3, 0.01)), 48.0) is None


def test_a_broken_line_finds_its_knot() -> None:
    t = np.linspace(-24, 0, 289)
    y = 0.4 - 0.05 * np.maximum(t + 3.0, 0.0)
    knot, rss = trend.fit_hinge(t, y, 12)
    assert abs(t[knot] + 3.0) < 0.2 and rss < 1e-6
