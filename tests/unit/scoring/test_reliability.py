"""Expected calibration error: the pure function behind the backtest's figure."""

from __future__ import annotations

import pytest

from shared.scoring.reliability import (
    calibration_summary,
    expected_calibration_error,
    reliability_table,
)


def test_perfectly_calibrated_input_scores_zero() -> None:
    # 0.7 right 7 times in 10, 0.25 right once in 4, 1.0 always right.
    pairs = [(0.7, i < 7) for i in range(10)] + [(0.25, i < 1) for i in range(4)]
    pairs += [(1.0, True)] * 3
    assert expected_calibration_error(pairs) == pytest.approx(0.0)


def test_known_miscalibration_gives_the_known_value() -> None:
    # 10 at 0.9 with 5 right (gap 0.4) and 10 at 0.3 with 3 right (gap 0.0): ECE 0.2.
    pairs = [(0.9, i < 5) for i in range(10)] + [(0.3, i < 3) for i in range(10)]
    assert expected_calibration_error(pairs) == pytest.approx(0.2)
    # Always confident, never right: the worst case is the confidence itself.
    assert expected_calibration_error([(0.95, False)] * 4) == pytest.approx(0.95)


def test_bins_average_their_members_before_comparing() -> None:
    # 0.82 and 0.88 share bin [0.8, 0.9): mean 0.85, one right in two: gap 0.35.
    pairs = [(0.82, True), (0.88, False)]
    assert expected_calibration_error(pairs) == pytest.approx(0.35)
    (row,) = reliability_table(pairs)
    assert (row["low"], row["high"], row["count"]) == (0.8, 0.9, 2)
    assert row["accuracy"] == 0.5 and row["gap"] == pytest.approx(0.35)


def test_no_pairs_is_no_figure_and_out_of_range_is_refused() -> None:
    assert expected_calibration_error([]) is None
    with pytest.raises(ValueError):
        expected_calibration_error([(1.2, True)])


def test_summary_reads_the_first_three_and_the_first_alone() -> None:
    cases = [
        [(0.8, True), (0.3, False), (0.1, False), (0.05, False)],
        [(0.8, False), (0.3, True)],
    ]
    summary = calibration_summary(cases)
    assert summary["hypotheses"] == 5
    assert summary["ece_top1"] == pytest.approx(0.3)
    assert summary["accuracy_top1"] == 0.5
    assert [r["count"] for r in summary["reliability_top3"]] == [1, 2, 2]
