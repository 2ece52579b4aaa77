"""Calibration, measured: does a confidence of 0.7 come true about 70% of the time?

``expected_calibration_error`` sorts (confidence, right) pairs into equal-width
bins over [0, 1] and weighs each bin's gap between its mean confidence and its
share of right answers by how many pairs fell in it. 0 is perfectly calibrated;
the worst is 1. ``reliability_table`` is the per-bin view behind that figure.
Pure functions: the backtest and the RCA bench feed them what they ranked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

BINS = 10


def _bin(confidence: float, bins: int) -> int:
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence {confidence} outside [0, 1]")
    return min(int(confidence * bins), bins - 1)


def reliability_table(
    pairs: Iterable[tuple[float, bool]], bins: int = BINS
) -> list[dict[str, Any]]:
    """Non-empty bins in order: range, count, mean confidence, share right, gap."""
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for confidence, right in pairs:
        members[_bin(confidence, bins)].append((confidence, right))
    rows = []
    for i, group in enumerate(members):
        if not group:
            continue
        confidence = sum(c for c, _ in group) / len(group)
        accuracy = sum(r for _, r in group) / len(group)
        rows.append(
            {
                "low": round(i / bins, 4),
                "high": round((i + 1) / bins, 4),
                "count": len(group),
                "mean_confidence": round(confidence, 4),
                "accuracy": round(accuracy, 4),
                "gap": round(confidence - accuracy, 4),
            }
        )
    return rows


def expected_calibration_error(
    pairs: Iterable[tuple[float, bool]], bins: int = BINS
) -> float | None:
    """Count-weighted mean |mean confidence - share right| over the bins; None if no pairs."""
    sums = [0.0] * bins
    hits = [0] * bins
    counts = [0] * bins
    for confidence, right in pairs:
        b = _bin(confidence, bins)
        sums[b] += confidence
        hits[b] += bool(right)
        counts[b] += 1
    total = sum(counts)
    if not total:
        return None
    return sum(abs(sums[b] - hits[b]) for b in range(bins)) / total


def calibration_summary(
    ranked: Iterable[Iterable[tuple[float, bool]]], bins: int = BINS
) -> dict[str, Any]:
    """ECE over every shown hypothesis (the first 3 of each case) and over the first only."""
    shown: list[tuple[float, bool]] = []
    first: list[tuple[float, bool]] = []
    for case in ranked:
        top = list(case)[:3]
        shown += top
        first += top[:1]
    ece3 = expected_calibration_error(shown, bins)
    ece1 = expected_calibration_error(first, bins)
    return {
        "bins": bins,
        "hypotheses": len(shown),
        "ece_top3": round(ece3, 4) if ece3 is not None else None,
        "ece_top1": round(ece1, 4) if ece1 is not None else None,
        "mean_confidence_top3": round(sum(c for c, _ in shown) / len(shown), 4) if shown else None,
        "accuracy_top3": round(sum(r for _, r in shown) / len(shown), 4) if shown else None,
        "mean_confidence_top1": round(sum(c for c, _ in first) / len(first), 4) if first else None,
        "accuracy_top1": round(sum(r for _, r in first) / len(first), 4) if first else None,
        "reliability_top3": reliability_table(shown, bins),
        "reliability_top1": reliability_table(first, bins),
    }
