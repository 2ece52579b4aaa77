"""NAB's scoring, re-implemented: windows, probation, scaled sigmoid, one threshold per profile.

The rules are those of NAB v1.1 (``nab/sweeper.py``, ``nab/optimizer.py``,
``nab/runner.py``), summarised in the kit's ``BENCHMARKS.md`` section A.2:

* the first ``min(floor(0.15·N), 750)`` rows of a file are not scored;
* inside a labelled window only the earliest detection counts, earning
  ``tp · S(y) / S(-1)`` where ``y`` runs from -1 at the window's left edge to 0
  at its right edge and ``S(y) = 2 / (1 + e^{5y}) - 1``;
* a detection outside every window costs ``fp · S(y)`` with ``y`` the distance
  past the previous window over that window's width less one (the full
  ``-fp`` before a file's first window, and when ``y > 3``);
* a window with no detection costs ``-fn``;
* one threshold per profile for the whole corpus, the one among every distinct
  anomaly score that maximises the summed raw score (ties go to the higher
  threshold, as NAB's stable sort does); a row detects when its score is at
  least the threshold;
* ``100 · (raw - null) / (perfect - null)``, with ``null = -fn · windows``
  (the detector that never fires) and ``perfect = tp · windows``.

The sweep over thresholds is vectorised: rows sorted by score, each window's
credit a running maximum, totals a cumulative sum; one pass per profile.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

PROBATION_PERCENT = 0.15
PROBATION_CAP_ROWS = 0.15 * 5000
NO_DETECTION = 1.1
"""The threshold NAB starts its sweep from: above every score, so nothing detects."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CostMatrix:
    """The weights of one NAB profile (``config/profiles.json``)."""

    tp: float
    fp: float
    fn: float


PROFILES: dict[str, CostMatrix] = {
    "standard": CostMatrix(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": CostMatrix(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": CostMatrix(tp=1.0, fp=0.11, fn=2.0),
}


def scaled_sigmoid(y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """NAB's credit curve: about 0.987 at -1, 0 at 0, about -0.987 at 1, -1 beyond 3."""
    with np.errstate(over="ignore"):
        val = 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0
    return np.where(y > 3.0, -1.0, val)


MAX_TP = float(scaled_sigmoid(np.array([-1.0]))[0])


def probation_rows(n: int) -> int:
    """Rows at the start of an ``n``-row file that NAB does not score."""
    return math.ceil(min(math.floor(PROBATION_PERCENT * n), PROBATION_CAP_ROWS))


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelledFile:
    """One file's rows as the scorer sees them, independent of any detector.

    ``window`` is the index of the row's window in the file (-1 outside every
    window), ``credit`` the row's unweighted scaled sigmoid (positive inside a
    window, a penalty outside), ``scored`` false for probationary rows.
    """

    name: str
    window: npt.NDArray[np.int64]
    credit: npt.NDArray[np.float64]
    scored: npt.NDArray[np.bool_]
    windows: int


def label_file(
    name: str,
    timestamps: npt.NDArray[np.datetime64],
    windows: Sequence[tuple[np.datetime64, np.datetime64]],
) -> LabelledFile:
    """Where each row of a file sits relative to its labelled windows.

    A window's edges must be timestamps of the file, as in NAB's labels.
    """
    n = len(timestamps)
    window = np.full(n, -1, dtype=np.int64)
    credit = np.full(n, -1.0)
    index = {t: i for i, t in enumerate(timestamps.tolist())}
    rows = np.arange(n, dtype=np.float64)
    prev_right: int | None = None
    prev_width = 0.0
    spans: list[tuple[int, int]] = []
    for start, end in sorted(windows):
        left, right = index.get(start.item()), index.get(end.item())
        if left is None or right is None:
            raise ValueError(f"{name}: window {start}..{end} does not match a row's timestamp")
        spans.append((left, right))
    for k, (left, right) in enumerate(spans):
        width = float(right - left + 1)
        inside = slice(left, right + 1)
        window[inside] = k
        credit[inside] = scaled_sigmoid(-(right - rows[inside] + 1.0) / width)
        # Rows between the previous window and this one are judged from the previous one.
        gap_end = left
        if prev_right is not None:
            gap = slice(prev_right + 1, gap_end)
            credit[gap] = scaled_sigmoid(np.abs(prev_right - rows[gap]) / (prev_width - 1.0))
        prev_right, prev_width = right, width
    if prev_right is not None:
        tail = slice(prev_right + 1, n)
        credit[tail] = scaled_sigmoid(np.abs(prev_right - rows[tail]) / (prev_width - 1.0))
    scored = np.ones(n, dtype=np.bool_)
    scored[: probation_rows(n)] = False
    return LabelledFile(name=name, window=window, credit=credit, scored=scored, windows=len(spans))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileScore:
    """A detector's result on one profile: threshold, raw and normalised score, counts."""

    profile: str
    threshold: float
    raw: float
    normalized: float
    detected_windows: int
    windows: int
    false_positive_rows: int

    def to_json(self) -> dict[str, float | int | str]:
        return {
            "profile": self.profile,
            "threshold": self.threshold,
            "raw": round(self.raw, 4),
            "score": round(self.normalized, 2),
            "detected_windows": self.detected_windows,
            "windows": self.windows,
            "false_positive_rows": self.false_positive_rows,
        }


class Scorer:
    """Scores per-row anomaly scores of a labelled corpus under NAB's profiles."""

    def __init__(self, files: Iterable[LabelledFile]) -> None:
        self.files = list(files)
        window_ids: list[npt.NDArray[np.int64]] = []
        offset = 0
        for f in self.files:
            window_ids.append(np.where(f.window >= 0, f.window + offset, -1)[f.scored])
            offset += f.windows
        self.windows = offset
        self._window = np.concatenate(window_ids) if window_ids else np.zeros(0, np.int64)
        self._credit = (
            np.concatenate([f.credit[f.scored] for f in self.files]) if self.files else np.zeros(0)
        )

    def _scored_scores(
        self, scores: Mapping[str, npt.NDArray[np.float64]]
    ) -> npt.NDArray[np.float64]:
        parts = []
        for f in self.files:
            s = np.asarray(scores[f.name], dtype=np.float64)
            if len(s) != len(f.scored):
                raise ValueError(f"{f.name}: {len(s)} scores for {len(f.scored)} rows")
            parts.append(s[f.scored])
        return np.concatenate(parts) if parts else np.zeros(0)

    def score(
        self,
        scores: Mapping[str, npt.NDArray[np.float64]],
        profile: str = "standard",
        *,
        threshold: float | None = None,
    ) -> ProfileScore:
        """The corpus score under ``profile``; the optimal threshold unless one is given."""
        cost = PROFILES[profile]
        a = self._scored_scores(scores)
        order = np.argsort(-a, kind="stable")
        a_sorted = a[order]
        w = self._window[order]
        credit = self._credit[order]
        inside = w >= 0
        gain = np.where(inside, 0.0, cost.fp * credit)
        # Each window's value is the best credit among its detected rows (the earliest
        # detection has the highest credit); the total changes by each new maximum.
        in_rows = np.flatnonzero(inside)
        value = cost.tp * credit[in_rows] / MAX_TP
        by_window = np.argsort(w[in_rows], kind="stable")
        wins = w[in_rows][by_window]
        vals = value[by_window]
        starts = np.flatnonzero(np.r_[True, wins[1:] != wins[:-1]]) if len(wins) else wins
        ends = np.r_[starts[1:], len(wins)] if len(wins) else wins
        for s, e in zip(starts, ends, strict=True):
            run = np.maximum.accumulate(vals[s:e])
            vals[s:e] = np.diff(run, prepend=-cost.fn)
        gain[in_rows[by_window]] = vals
        total = -cost.fn * self.windows + np.cumsum(gain)
        # A threshold keeps every row scoring at least it: totals at the last row of each score.
        last_of_group = np.flatnonzero(np.r_[a_sorted[1:] != a_sorted[:-1], True])
        candidates = np.r_[-cost.fn * self.windows, total[last_of_group]]
        thresholds = np.r_[NO_DETECTION, a_sorted[last_of_group]]
        if threshold is None:
            best = int(np.argmax(candidates))
        else:
            best = int(np.searchsorted(-thresholds, -threshold, side="right")) - 1
        cut = 0 if best == 0 else int(last_of_group[best - 1]) + 1
        raw = float(candidates[best])
        null = -cost.fn * self.windows
        perfect = cost.tp * self.windows
        return ProfileScore(
            profile=profile,
            threshold=float(thresholds[best]),
            raw=raw,
            normalized=100.0 * (raw - null) / (perfect - null) if self.windows else 0.0,
            detected_windows=len(np.unique(w[:cut][inside[:cut]])),
            windows=self.windows,
            false_positive_rows=int(np.count_nonzero(~inside[:cut])),
        )

    def score_all(self, scores: Mapping[str, npt.NDArray[np.float64]]) -> list[ProfileScore]:
        """The three profiles, each with its own optimal threshold."""
        return [self.score(scores, p) for p in PROFILES]


def load_windows(path: Path) -> dict[str, list[tuple[np.datetime64, np.datetime64]]]:
    """``labels/combined_windows.json``: relative data path to its windows' edges."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {name: [(_timestamp(a), _timestamp(b)) for a, b in spans] for name, spans in raw.items()}


def _timestamp(text: str) -> np.datetime64:
    return np.datetime64(text.replace(" ", "T"), "s")
