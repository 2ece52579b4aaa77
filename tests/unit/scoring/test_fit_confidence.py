"""The offline fit of the confidence map (benchmarks/fit_confidence.py) and its figure on
the kit's public scenarios (skipped without the kit)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.fit_confidence import Case, collect, eces, fit, shown
from shared.models.hypothesis import FACTOR_NAMES, Hypothesis, RootCause
from shared.scoring.engine import MODEL_VERSION, PLATT, Z_CAP, compete

KIT = Path(__file__).resolve().parents[3].parent / "shared"


def hypothesis(value: float, target: str) -> Hypothesis:
    return Hypothesis(
        rank=1,
        category=RootCause.CPU_SATURATION,
        target=target,
        title="t",
        confidence=value,
        confidence_range=(value, value),
        score=value,
        factors={n: {"value": value, "reason": "r"} for n in FACTOR_NAMES},
        model_version=MODEL_VERSION,
    )


def synthetic(n: int, stand_out: float, right_every: int) -> list[Case]:
    """Incidents with the same two candidates; the lead is right once in ``right_every``."""
    competed = tuple(compete([hypothesis(0.7, "a"), hypothesis(0.55, "b")]))
    return [
        Case("set", f"{stand_out}-{i}", competed, stand_out, (i % right_every == 0, False))
        for i in range(n)
    ]


def test_fit_learns_that_a_lead_out_of_its_noise_is_right_more_often() -> None:
    cases = synthetic(60, math.log1p(Z_CAP), 2) + synthetic(60, math.log1p(2.0), 6)
    intercept, slope, weight = fit(cases)
    assert weight > 0.3
    assert all(math.isfinite(v) for v in (intercept, slope, weight))
    platt = (intercept, slope, weight)
    clear = shown(cases[:1], platt)[0][2]
    faint = shown(cases[-1:], platt)[0][2]
    assert clear > faint


@pytest.mark.skipif(not (KIT / "scenarios" / "public").is_dir(), reason="no kit at ../shared")
def test_stored_map_is_calibrated_on_the_public_scenarios() -> None:
    cases = collect(KIT, sets=("public",))
    assert cases
    figures = eces(shown(cases, PLATT))["public"]
    share_alone = eces(shown(cases, None))["public"]
    assert figures[0] <= 0.08
    assert figures[0] <= share_alone[0]
