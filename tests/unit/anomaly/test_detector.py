"""The anomaly score: causal, in [0, 1], high at a spike or shift, quiet on a steady signal."""

from __future__ import annotations

import numpy as np
import pytest

from shared.anomaly import anomaly_scores


def _seasonal(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    return 50 + 10 * np.sin(2 * np.pi * i / 48) + rng.normal(0, 1, n)


def test_one_score_per_sample_in_unit_interval() -> None:
    rng = np.random.default_rng(3)
    for series in (
        _seasonal(900),
        rng.lognormal(0, 2, 900),
        np.zeros(900),
        np.r_[np.full(300, 5.0), np.full(600, -1e9)],
        np.arange(7.0),
        np.array([]),
    ):
        scores = anomaly_scores(series)
        assert scores.shape == series.shape
        assert np.all((scores >= 0.0) & (scores <= 1.0))


def test_gaps_are_carried_forward_not_scored_as_nan() -> None:
    x = _seasonal(600)
    x[[0, 100, 101, 350]] = np.nan
    scores = anomaly_scores(x)
    assert np.all(np.isfinite(scores))


@pytest.mark.parametrize("cut", [150, 401, 455, 599])
def test_score_at_t_ignores_later_samples(cut: int) -> None:
    x = _seasonal(800)
    x[400:404] += 60
    x[450:] += 40
    full = anomaly_scores(x)
    assert np.array_equal(anomaly_scores(x[:cut]), full[:cut])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_spike_scores_high_and_steady_signal_rarely_does(seed: int) -> None:
    x = _seasonal(800, seed)
    quiet = anomaly_scores(x)
    x[500:503] += 60
    spiked = anomaly_scores(x)
    assert spiked[500:506].max() == 1.0
    # Noise still sets the odd new extreme once the shapes are learnt; rarely.
    assert np.count_nonzero(quiet[400:] >= 0.6) <= 2


def test_level_shift_is_scored_once_not_for_its_whole_length() -> None:
    x = _seasonal(1200)
    x[600:] += 40
    scores = anomaly_scores(x)
    assert scores[600:610].max() == 1.0
    assert np.count_nonzero(scores[610:] >= 0.6) <= 3


def test_rejects_a_table() -> None:
    with pytest.raises(ValueError, match="one series"):
        anomaly_scores(np.zeros((3, 3)))


def test_novelty_is_quiet_right_after_a_full_score() -> None:
    from shared.anomaly.detector import _quiet_after_report

    novelty = np.array([0.0, 1.0, 0.9, 0.8, 0.0, 0.7, 0.0, 0.6])
    extremes = np.zeros(8)
    quieted = _quiet_after_report(novelty, np.maximum(novelty, extremes), 3, 1.0)
    # The full score itself stays; the three samples after it are quiet.
    assert quieted.tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 0.7, 0.0, 0.6]
    assert _quiet_after_report(novelty, novelty, 0, 1.0).tolist() == novelty.tolist()


def test_a_new_extreme_quietens_novelty_but_stays_itself() -> None:
    from shared.anomaly.detector import _quiet_after_report

    novelty = np.array([0.0, 0.0, 0.8, 0.8, 0.8])
    extremes = np.array([0.0, 1.0, 0.0, 0.0, 1.0])
    quieted = _quiet_after_report(novelty, np.maximum(novelty, extremes), 2, 1.0)
    assert quieted.tolist() == [0.0, 0.0, 0.0, 0.0, 0.8]
    assert np.maximum(quieted, extremes)[[1, 4]].tolist() == [1.0, 1.0]


def test_quiet_follows_reported_scores_not_lower_ones() -> None:
    from shared.anomaly.detector import DEFAULT, _quiet_after_report

    novelty = np.array([0.0, 0.7, 0.9, 0.0, 0.0, 0.6, 0.5, 0.0, 0.0, 0.8])
    quieted = _quiet_after_report(novelty, novelty, 2, DEFAULT.report)
    # 0.7 reports (>= 2/3) and hushes the next two; 0.6 does not, so 0.5 after it stays.
    assert quieted.tolist() == [0.0, 0.7, 0.0, 0.0, 0.0, 0.6, 0.5, 0.0, 0.0, 0.8]


@pytest.mark.parametrize("raised, later", [(1.25, 0.64), (1.0, 0.8)])
def test_a_report_raises_the_bar_for_the_next(raised: float, later: float) -> None:
    from shared.anomaly.detector import DetectorParams, _reported_novelty

    p = DetectorParams(
        block=1, pattern=1, warmup=0, reference_from=0, decay=0.0, quiet=3,
        raise_after_report=raised,
    )  # fmt: skip
    novelty = np.array([1.0, 1.0, 1.0, 1.0, 0.5, 1.5, 0.0, 0.0, 0.0, 2.4])
    ends = np.arange(len(novelty))
    out = _reported_novelty(novelty, ends, np.full(len(novelty), -1), p)
    # 1.5 over the reference 1 reports (0.75); then 2.4 is judged against 1.5 raised.
    assert out[5] == pytest.approx(0.75)
    assert out[9] == pytest.approx(later)


def test_an_earlier_extreme_quietens_the_shapes_after_it() -> None:
    from shared.anomaly.detector import DetectorParams, _reported_novelty

    p = DetectorParams(block=1, pattern=1, warmup=0, reference_from=0, decay=0.0, quiet=3)
    novelty = np.array([1.0, 1.0, 1.0, 1.0, 0.8, 0.9, 0.9, 0.9, 1.6])
    ends = np.arange(len(novelty))
    last_extreme = np.where(ends > 4, 4, -1)
    quiet = _reported_novelty(novelty, ends, last_extreme, p)
    alone = _reported_novelty(novelty, ends, np.full(len(novelty), -1), p)
    # The extreme at 4 hushes 5..7 (0.45 each without it); 8 is past the quiet period.
    assert alone[5:8].tolist() == pytest.approx([0.45, 0.45, 0.45])
    assert quiet[5:8].tolist() == [0.0, 0.0, 0.0]
    assert quiet[8] == alone[8] == pytest.approx(0.8)


@pytest.mark.parametrize("cut", [700, 1234, 1801, 2399])
def test_reports_and_raised_bars_never_look_ahead(cut: int) -> None:
    rng = np.random.default_rng(7)
    x = rng.lognormal(0, 1, 2400) + 3 * np.sin(np.arange(2400) / 30)
    x[[900, 1500, 1800]] += 25
    full = anomaly_scores(x)
    assert np.count_nonzero(full >= 2 / 3) >= 3
    assert np.array_equal(anomaly_scores(x[:cut]), full[:cut])


def _daily_rise(n: int, missing: int | None = None, seed: int = 5) -> np.ndarray:
    """A rise of 20 for 24 of every 96 samples, noisy; the one at ``missing`` does not come."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    x = 10 + 20 * ((i % 96) < 24) + rng.normal(0, 0.5, n)
    if missing is not None:
        x[missing : missing + 24] -= 20
    return x


def test_the_period_is_found_from_past_blocks_only_when_there_is_one() -> None:
    from shared.anomaly.detector import DEFAULT, _period

    blocks = _daily_rise(4000)[:4000].reshape(-1, 4).mean(axis=1)
    assert _period(blocks, DEFAULT) == 24
    noise = np.random.default_rng(2).normal(0, 1, 1000)
    assert _period(noise, DEFAULT) == 0


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_a_missing_daily_rise_is_new_for_its_phase_not_as_a_shape(seed: int) -> None:
    from shared.anomaly.detector import DetectorParams

    missing = 96 * 30
    x = _daily_rise(96 * 36, missing, seed)
    with_phase = anomaly_scores(x)
    without = anomaly_scores(x, DetectorParams(period_acf=2.0))
    # A flat stretch is a familiar shape: only the phase channel sees the rise is missing.
    assert without[missing : missing + 48].max() < 2 / 3
    assert with_phase[missing : missing + 48].max() >= 2 / 3
    # Elsewhere the phase channel stays as quiet as novelty once the period is learnt.
    later = slice(96 * 20, missing)
    assert np.count_nonzero(with_phase[later] >= 2 / 3) <= np.count_nonzero(without[later] >= 2 / 3)


@pytest.mark.parametrize("cut", [1000, 1001, 2000, 2900, 3100])
def test_the_phase_channel_never_looks_ahead(cut: int) -> None:
    x = _daily_rise(96 * 36, 96 * 30)
    full = anomaly_scores(x)
    assert np.count_nonzero(full >= 2 / 3) >= 1
    assert np.array_equal(anomaly_scores(x[:cut]), full[:cut])
