"""The NAB scorer: null 0, perfect 100, earliest detection credited, false positives cost."""

from __future__ import annotations

import numpy as np
import pytest

from shared.bench.nab_scorer import (
    PROFILES,
    LabelledFile,
    Scorer,
    label_file,
    probation_rows,
    scaled_sigmoid,
)

T0 = np.datetime64("2024-01-01T00:00:00", "s")


def _file(name: str, n: int, spans: list[tuple[int, int]]) -> LabelledFile:
    stamps = T0 + np.arange(n) * np.timedelta64(300, "s")
    return label_file(name, stamps, [(stamps[a], stamps[b]) for a, b in spans])


FILES = [_file("a.csv", 1000, [(300, 349), (700, 749)]), _file("b.csv", 400, [(200, 239)])]
SCORER = Scorer(FILES)


def _zeros() -> dict[str, np.ndarray]:
    return {f.name: np.zeros(len(f.window)) for f in FILES}


def _at(rows: dict[str, list[int]]) -> dict[str, np.ndarray]:
    scores = _zeros()
    for name, idx in rows.items():
        scores[name][idx] = 1.0
    return scores


def test_probation_is_fifteen_percent_capped_at_750_rows() -> None:
    assert probation_rows(1000) == 150
    assert probation_rows(4033) == 604
    assert probation_rows(22695) == 750


def test_scaled_sigmoid_is_nabs_curve() -> None:
    y = np.array([-1.0, 0.0, 1.0, 3.5])
    assert np.allclose(scaled_sigmoid(y), [0.98661, 0.0, -0.98661, -1.0], atol=1e-5)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_null_detector_scores_zero_and_perfect_scores_one_hundred(profile: str) -> None:
    assert SCORER.score(_zeros(), profile).normalized == 0.0
    perfect = _at({"a.csv": [300, 700], "b.csv": [200]})
    result = SCORER.score(perfect, profile)
    assert result.normalized == pytest.approx(100.0)
    assert result.detected_windows == result.windows == 3


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    early = SCORER.score(_at({"a.csv": [300]}), threshold=0.5)
    middle = SCORER.score(_at({"a.csv": [325]}), threshold=0.5)
    late = SCORER.score(_at({"a.csv": [349]}), threshold=0.5)
    both = SCORER.score(_at({"a.csv": [300, 325, 349]}), threshold=0.5)
    assert early.raw > middle.raw > late.raw
    assert both.raw == pytest.approx(early.raw)
    assert early.raw == pytest.approx(1.0 - 2.0)  # one window found, two missed


def test_a_false_positive_costs_the_profile_weight() -> None:
    perfect = _at({"a.csv": [300, 700], "b.csv": [200]})
    with_fp = _at({"a.csv": [200, 300, 700], "b.csv": [200]})  # before the first window
    for profile, cost in PROFILES.items():
        clean = SCORER.score(perfect, profile, threshold=0.5).raw
        noisy = SCORER.score(with_fp, profile, threshold=0.5)
        assert clean - noisy.raw == pytest.approx(cost.fp)
        assert noisy.false_positive_rows == 1


def test_a_false_positive_just_after_a_window_costs_little() -> None:
    near = SCORER.score(_at({"a.csv": [300, 351]}), threshold=0.5).raw
    far = SCORER.score(_at({"a.csv": [300, 600]}), threshold=0.5).raw
    alone = SCORER.score(_at({"a.csv": [300]}), threshold=0.5).raw
    assert alone - near < 0.02 < 0.1 < alone - far


def test_probationary_rows_are_not_scored() -> None:
    assert SCORER.score(_at({"a.csv": [10, 140]}), threshold=0.5).raw == pytest.approx(-3.0)


def test_a_missed_window_costs_fn_weight() -> None:
    for profile, cost in PROFILES.items():
        assert SCORER.score(_zeros(), profile).raw == pytest.approx(-3 * cost.fn)


def test_the_optimiser_keeps_the_best_global_threshold() -> None:
    scores = _zeros()
    scores["a.csv"][[300, 700]] = 0.9
    scores["b.csv"][200] = 0.4
    scores["a.csv"][500] = 0.5  # a false positive between the two thresholds that help
    result = SCORER.score(scores)
    assert result.threshold == 0.4
    assert result.detected_windows == 3
    assert result.false_positive_rows == 1


def test_a_window_must_sit_on_a_timestamp() -> None:
    stamps = T0 + np.arange(10) * np.timedelta64(300, "s")
    with pytest.raises(ValueError, match="does not match"):
        label_file("x.csv", stamps, [(stamps[2] + np.timedelta64(1, "s"), stamps[4])])


def test_scores_must_cover_every_row() -> None:
    with pytest.raises(ValueError, match="scores for"):
        SCORER.score({"a.csv": np.zeros(5), "b.csv": np.zeros(400)})
