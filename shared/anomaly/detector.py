"""A causal anomaly score per signal: pattern novelty beside new extremes.

Three channels, each in [0, 1], the score being the largest, the two shape
channels being quiet for ``quiet`` samples after any score that reports:

* **Pattern novelty** (the idea of ARTime's "new category" and of a left
  matrix profile, e.g. Yeh et al.'s discords): the signal is cut into blocks of
  ``block`` samples, each kept as its mean or, when the block holds a spike
  of more than ``spike`` of the mean, its extreme; values within ``chomp`` of
  the running range from the running median are set to the median (ARTime's
  "chomp", which keeps noise around the usual level from looking new). Every
  ``pattern`` consecutive blocks form a shape; its novelty is the distance to
  the nearest earlier shape (not overlapping it), over the range seen so far.
  The score is that novelty over a slowly decaying maximum of earlier
  novelties, halved and capped at 1: a shape twice as new as anything recent
  scores 1, a familiar one near 0. The decay lets a signal whose normal
  changes become quiet again.
* **A shape new for its phase** (CAD OSE's context, where a value is judged
  by what came at the same point before, here without calendar: the period
  is the lag of the strongest autocorrelation of the past blocks, between
  ``period_from`` and ``period_to`` blocks, kept when it reaches
  ``period_acf`` and re-estimated every ``period_every`` blocks): the
  distance from a shape to the nearest shape a whole number of periods
  earlier, over the range, scored like novelty over its own decaying
  maximum. It sees what novelty cannot: a familiar shape at the wrong time,
  or the usual one missing (a daily rise that does not come, a holiday).
* **New extremes** (Numenta HTM's "spatial anomaly" in NAB): a value beyond
  every value seen so far by more than ``tolerance`` of the range scores 1;
  a run of them scores once per ``rest`` samples.
* **Quiet after a report** (ARTime's masking after a reported anomaly): within
  ``quiet`` samples after a score of ``report`` or more from any channel, both
  shape channels score 0. The shapes that follow a new one still hold it, so
  they look new too; without this they page again a few blocks later, outside
  the labelled window. ``report`` is the level a score is acted on (NAB's
  optimal standard threshold, 0.667, and the live sweep's 0.67), so the quiet
  follows exactly the scores that were reported, as in ARTime, where every
  non-zero output is a report. New extremes are not quietened (their own
  ``rest`` applies).
* **A report raises the bar** (ARTime's floor under its vigilance at the
  similarity of past reported anomalies, and its rule that a report during
  the mask must be clearly less similar than the last one): a shape that
  reports (from either shape channel) sets novelty's reference to
  ``raise_after_report`` times its novelty, so the
  next report needs a shape clearly newer than this one until the decay
  brings the reference down. Without it a signal whose new behaviour goes on
  reports it again each time the quiet period ends.

All use only samples up to the one scored, so the score at ``t`` never
changes when later samples arrive. Scores are written at each block's last
sample, zero elsewhere and through the warm-up. Parameters are generic, the
same for every signal; the values are the ones measured best on NAB.

The phase channel took NAB standard from 69.9 to 71.0 (low FP 62.1 to 62.1, low
FN 74.5 to 75.8; 97 to 99 of 116 windows, 165 to 191 detections outside them).
The gain is narrow: two windows of seasonal signals (the missing daily jump of
art_daily_nojump, a holiday in nyc_taxi) against 26 more false positives on ten
files (17 in knownCause, which still gains 1.7 raw points, 5 in AWS, which
loses 0.55, 4 in artificialNoAnomaly, 0.44). On 20 half-corpora (10 random
splits, half of each category's files each side, each with its own optimal
threshold) it gains 1.0 on average and on 15 of 20 halves, the worst half
losing 2.2 (the half without those two files pays only the false positives). On
100 other halves (50 splits) it gains 1.2 on average, on 76, worst -1.9; with
any one category left out it still gains 0.3 to 1.8. Its constants are flat:
period_from 6 / 24 give 70.8 / 70.8, period_to 300 / 1,200 71.0 / 71.0,
period_every 125 / 500 71.6 / 70.8, period_acf 0.25 / 0.75 70.5 / 71.0; shapes
within one or two blocks of the phase 70.4 / 70.3; the channel weighted by 1/2
70.5, by 2 63.7 (it then reports any shape as far from its phase as the recent
maximum).

Measured and left out because they did not earn their place on NAB (standard
profile; the detector before the phase channel 69.9, 69.6 without the raised
bar, 68.8 with the quiet also started only by a score of 1, 67.6 without any
quiet period): a robust median/MAD z-score over a moving window (scored 5), an
empirical p-value of the novelty instead of the decaying maximum (34), new
extremes of the residual against the median of the same time on the three
previous days (-3 points while adding 3 windows); HTM's anomaly likelihood (a
Gaussian over the last 500 blocks' novelty, the tail probability of its short
average) in place of the decaying maximum (48.5; on log novelty, uncapped,
53.5; as HTM's log-likelihood, so rounding cannot saturate it, 56: the
novelty's tail is far from Gaussian) and as a third channel on the error
against a moving or same-time-yesterday median (46.9, 46.2); a score only when
above every score of the last 100 samples (66.6); extremes graded by how far
beyond (63.0); novelty at a second scale of 16-sample blocks (66.4); shapes
compared at the same time of day by the timestamps (CAD OSE's context; +0.3
beside an earlier detector; kept since as the phase channel, the period found
from the data); the mean novelty of shapes of 6, 8 and 12 blocks (68.3, within
the spread of one constant halved or doubled). A third round, to cut novelty's
false positives: a floor under the decaying maximum at a quantile of past
novelty (68.0 at the 90th percentile, 64-66 elsewhere) or at a share of the
mean novelty of past reports (ARTime's rho floor; 62-68); a scale-free
reference (the past maximum times (k/j)^a, 63-66); confirmation by a change of
distribution (relative entropy of the last 50 samples against the 1,000 before,
10 bins: its causal percentile is as high at false positives as at detections,
0.88 against 0.91 median); a two-sided CUSUM on robust z of block means against
the median/MAD of the last 250 blocks, with a reset (alone 13; beside the rest
70.1 at drift 2 and limit 20, but 63.4-69.6 with either halved or doubled, so
not kept). A fourth round: no reported
novelty, false positive or detection, is told apart by its ratio, the robust
z of its block, the time since the last report, the count of earlier reports
or its rank among all past novelty (AUC 0.42-0.59), so rules on them only
trade windows for false positives. Beside the detector of 68.8 (quiet after a
score of 1): a cap on how far one block raises the reference (67.9-68.7), a
decay that slows with age (64-69), L1 or L-infinity distances (67.6, 65.9) or
their mean with L2 (68.0), new extremes of the 4-64-sample moving average
(67.4-68.7), HTM's log-likelihood output, which rounding cannot saturate (56).
Beside 69.6 (quiet after 2/3): novelty damped by the reports of the last
1,000-3,000 samples (65-68), the reference frozen during the quiet period
(67.3-68.7), the quiet extended while shapes stay new (no change), shapes
sorted so a spike's position is ignored (68.5), the mean of the 2 nearest
shapes (67.8), a wider exclusion zone of 2, 3, 4 shapes (69.8, 69.1, 67.6),
novelty over the range of block values (68.4) or of square-rooted values
(66.3), new extremes of the 8-64-sample moving standard deviation
(68.8-69.1) or of the last 500-8,000 samples (58-69.6), a level-shift test
(median of the last 8 blocks against the median/MAD of the 250 before: up to
102 windows but 250-390 detections outside them, 63-66). Beside 69.9:
ARTime's report inside the mask when 2-4 times newer (69.6-69.8); the bar also
raised by a shape hushed during the quiet period or holding a new extreme
(70.0 at 1.25, but 69.0 at 1.5 where the kept rule gives 69.5, and +0.1 to
+0.2 on average over 20 half-corpora: not kept). An isolation forest (Liu, Ting
and Zhou 2008) as a third channel, refitted every 100 blocks on the shapes seen
so far over the running range and scored on the next ones, its path score above
0.5 over its own decaying maximum, into the same quiet and bar: with
scikit-learn's forest of 25 trees it gives 71.2, 70.0 or 69.1 as only the
random seed changes (0, 1, 2; mean gain over 20 half-corpora +1.4, +0.1, -0.8),
69.7 refitted every 400 blocks, 70.5 and 70.8 with 50 trees; the same forest
written in NumPy gives 69.6 and 69.2 with 25 trees (two seeds) and 69.1 with
100, where the seed's luck averages out. The best figure is a lucky draw, and
refits every 100 blocks take 50-130 s on 2 workers (the budget is 60): not
kept. A robust running range (the 0.5-99.5th or 2-98th percentile of the
samples so far) for novelty and chomp: 66.0, 65.7, worse on every half-corpus.

Every constant sits at a local peak on NAB (re-measured with the phase
channel): halving or doubling one costs 0 to 10.5 points (block 65.7 / 60.5,
pattern 66.3 / 67.8, chomp 68.5 / 64.8, decay 66.8 / 67.4, reference_from 68.3
/ 68.5, tolerance 70.0 / 69.1, quiet 70.7 / 70.3, spike 70.6 / 69.3,
median_every 69.4 / 70.0, rest 71.0 / 68.5, extremes_from 71.0 / 70.3; warm-up
none, the probation covers it), so they are fitted to NAB and a fresh set
should expect less. ``report``: 1 gives 69.7, 0.8 70.1, 1/2 67.5; below the
level scores are acted on, the quiet follows scores nobody was told of and
hides the next real one. ``raise_after_report``: 1 (no raise) 70.75, 1.5 70.6.
Before the phase channel (69.9): the quiet period (started at 1) added 0.4 to
2.2 points at each constant halved or doubled; checked against over-fitting on
20 half-corpora (10 random splits, half of each category's files each side,
each half with its own optimal threshold): the quiet started at 2/3 and the
raised bar together beat the detector of the morning (68.8) on every half, by
0.9 to 1.7 points (mean 1.2); the raised bar alone adds 0.2 to 0.6 on every
half; no category loses (knownCause +0.7, AWS +0.4, Tweets +1.6 raw points, the
others equal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorParams:
    """The detector's generic settings (samples count raw rows, blocks count blocks)."""

    block: int = 4
    pattern: int = 8
    spike: float = 0.1
    chomp: float = 0.15
    median_every: int = 20
    decay: float = 0.005
    warmup: int = 100
    reference_from: int = 200
    tolerance: float = 0.02
    extremes_from: int = 150
    rest: int = 100
    quiet: int = 24
    report: float = 2 / 3
    raise_after_report: float = 1.25
    period_from: int = 12
    period_to: int = 600
    period_every: int = 250
    period_acf: float = 0.5


DEFAULT = DetectorParams()


def anomaly_scores(values: npt.ArrayLike, params: DetectorParams = DEFAULT) -> Floats:
    """One score in [0, 1] per sample; the score at ``t`` uses samples ``0..t`` only."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("values must be one series")
    x = _fill_gaps(x)
    extremes = _new_extremes(x, params)
    novelty = _pattern_novelty(x, params, extremes)
    return np.clip(np.maximum(novelty, extremes), 0.0, 1.0)


def _quiet_after_report(novelty: Floats, scores: Floats, quiet: int, report: float) -> Floats:
    """Novelty set to 0 within ``quiet`` samples after an earlier score of ``report`` or more.

    The rule ``_pattern_novelty`` applies as it goes; kept whole for the tests to state it.
    """
    if quiet <= 0 or len(scores) == 0:
        return novelty
    full = np.r_[0, np.cumsum(scores >= report)]
    t = np.arange(len(scores))
    recent = full[t] - full[np.maximum(t - quiet, 0)]
    return np.where(recent > 0, 0.0, novelty)


def _fill_gaps(x: Floats) -> Floats:
    """Carry the last finite value forward (a leading gap becomes the first value)."""
    finite = np.isfinite(x)
    if finite.all():
        return x
    if not finite.any():
        return np.zeros_like(x)
    idx = np.where(finite, np.arange(len(x)), 0)
    np.maximum.accumulate(idx, out=idx)
    filled = x[idx]
    filled[: int(np.argmax(finite))] = x[finite][0]
    return filled


def _blocks(x: Floats, p: DetectorParams) -> tuple[Floats, npt.NDArray[np.int64]]:
    """Each complete block as one value, and the row of its last sample."""
    m = len(x) // p.block
    b = x[: m * p.block].reshape(m, p.block)
    mean, hi, lo = b.mean(axis=1), b.max(axis=1), b.min(axis=1)
    kept = np.where(hi - mean >= mean - lo, hi, lo)
    kept = np.where(np.abs(kept - mean) < p.spike * np.abs(mean), mean, kept)
    return kept, np.arange(1, m + 1, dtype=np.int64) * p.block - 1


def _running_median(ds: Floats, every: int) -> Floats:
    """The median of the earlier blocks, refreshed every ``every`` blocks."""
    med = np.empty_like(ds)
    current = ds[0] if len(ds) else 0.0
    for j in range(len(ds)):
        if j and j % every == 0:
            current = float(np.median(ds[:j]))
        med[j] = current
    return med


def _nearest_earlier(shapes: Floats, exclusion: int) -> Floats:
    """Distance from each shape to its nearest shape ending ``exclusion`` or more blocks earlier."""
    m = len(shapes)
    out = np.full(m, np.inf)
    sq = np.einsum("ij,ij->i", shapes, shapes)
    step = 512
    for s in range(0, m, step):
        e = min(m, s + step)
        d2 = sq[s:e, None] + sq[None, :e] - 2.0 * (shapes[s:e] @ shapes[:e].T)
        later = np.arange(e)[None, :] > np.arange(s, e)[:, None] - exclusion
        d2[later] = np.inf
        out[s:e] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


def _pattern_novelty(x: Floats, p: DetectorParams, extremes: Floats) -> Floats:
    """Novelty scores, quiet after reports; a reported novelty raises the reference above it."""
    scores = np.zeros(len(x))
    ds, block_end = _blocks(x, p)
    if len(ds) < p.pattern + 2:
        return scores
    run_range = np.maximum(
        np.maximum.accumulate(x)[block_end] - np.minimum.accumulate(x)[block_end], 1e-9
    )
    med = _running_median(ds, p.median_every)
    ds = np.where(np.abs(ds - med) < p.chomp * run_range, med, ds)
    shapes = sliding_window_view(ds, p.pattern)
    novelty = _nearest_earlier(shapes, p.pattern) / run_range[p.pattern - 1 :]
    seasonal = _same_phase(shapes, p) / run_range[p.pattern - 1 :]
    ends = block_end[p.pattern - 1 :]
    # The last extreme that reported before each shape's last sample (-1: none).
    reported = np.where(extremes >= p.report, np.arange(len(x)), -1)
    last_extreme = np.r_[-1, np.maximum.accumulate(reported)[:-1]][ends]
    scores[ends] = _reported_novelty(novelty, ends, last_extreme, p, seasonal)
    return scores


def _period(ds: Floats, p: DetectorParams) -> int:
    """The lag, in blocks, of the past blocks' strongest autocorrelation if it reaches
    ``period_acf`` (0: no period), so no calendar or sampling rate is assumed."""
    n = len(ds)
    top = min(p.period_to, n // 3)
    if top <= p.period_from:
        return 0
    z = ds - ds.mean()
    var = float(z @ z)
    if var <= 0.0:
        return 0
    f = np.fft.rfft(z, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[: top + 1] / var
    lag = p.period_from + int(np.argmax(acf[p.period_from : top + 1]))
    return lag if acf[lag] >= p.period_acf else 0


def _same_phase(shapes: Floats, p: DetectorParams) -> Floats:
    """Distance from each shape to the nearest shape a whole number of periods earlier (0: none).

    The period is re-estimated every ``period_every`` blocks from the blocks before.
    """
    m = len(shapes)
    out = np.zeros(m)
    last = shapes[:, -1]
    period = 0
    for j in range(m):
        if j >= p.period_every and j % p.period_every == 0:
            period = _period(last[:j], p)
        if period <= 0 or j < period:
            continue
        d = shapes[j - period :: -period] - shapes[j]
        out[j] = float(np.sqrt(np.min(np.einsum("ij,ij->i", d, d))))
    return out


def _reported_novelty(
    novelty: Floats,
    ends: npt.NDArray[np.int64],
    last_extreme: npt.NDArray[np.int64],
    p: DetectorParams,
    seasonal: Floats | None = None,
) -> Floats:
    """Each shape's score: novelty over the reference, quiet after reports, the bar raised by one.

    ``ends`` is the sample each shape is scored at, ``last_extreme`` the last extreme that
    reported before it (-1: none), ``seasonal`` its distance to the same phase of earlier
    periods (0: no period), scored the same way over its own decaying maximum.
    """
    first_scored = max(p.warmup // p.block, p.pattern + 2)
    first_reference = max(p.reference_from // p.block, p.pattern + 2)
    out = np.zeros(len(novelty))
    last_report = -1
    reference = 0.0
    seasonal_reference = 0.0
    phase = seasonal.tolist() if seasonal is not None else [0.0] * len(novelty)
    for j, (v, end, extreme, s) in enumerate(
        zip(novelty.tolist(), ends.tolist(), last_extreme.tolist(), phase, strict=True)
    ):
        if not np.isfinite(v):
            continue
        score = min(v / reference / 2.0, 1.0) if j >= first_scored and reference > 0.0 else 0.0
        if s > 0.0:
            if j >= first_scored and seasonal_reference > 0.0:
                score = max(score, min(s / seasonal_reference / 2.0, 1.0))
            seasonal_reference = max(seasonal_reference * (1.0 - p.decay), s)
        last = max(last_report, extreme)
        told = last < 0 or end - last > p.quiet or p.quiet <= 0
        if told:
            out[j] = score
        if score >= p.report:
            last_report = end
        if j >= first_reference:
            raised = p.raise_after_report if told and score >= p.report else 1.0
            reference = max(reference * (1.0 - p.decay), v * raised)
    return out


def _new_extremes(x: Floats, p: DetectorParams) -> Floats:
    n = len(x)
    if n < 2:
        return np.zeros(n)
    prev_max = np.r_[-np.inf, np.maximum.accumulate(x)[:-1]]
    prev_min = np.r_[np.inf, np.minimum.accumulate(x)[:-1]]
    margin = np.zeros(n)
    margin[1:] = p.tolerance * (prev_max[1:] - prev_min[1:])
    hits = (x > prev_max + margin) | (x < prev_min - margin)
    hits[: p.extremes_from] = False
    out = np.zeros(n)
    last = -(10**9)
    for i in np.flatnonzero(hits).tolist():
        if i - last > p.rest:
            out[i] = 1.0
            last = i
    return out
