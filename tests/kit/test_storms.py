"""``bench storms`` on the kit's public storms: the targets, far above Alertmanager's grouping."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.bench.storms import bench

KIT = Path(__file__).parents[2].parent / "shared"
STORMS = KIT / "scenarios" / "public" / "storms"

pytestmark = pytest.mark.kit


def test_public_storms_beat_the_baseline() -> None:
    if not STORMS.is_dir():
        pytest.skip(f"storms not found at {STORMS} (they live in ../shared beside the repo)")
    result = bench(STORMS)
    assert len(result["storms"]) >= 3
    for row in result["storms"]:
        ours, base = row["correlation"], row["baseline"]
        assert ours["noise_reduction"] >= 0.80
        assert ours["precision"] >= 0.97 and ours["recall"] >= 0.85, row["storm"]
        assert ours["precision"] > base["precision"] + 0.3
        assert ours["recall"] > 5 * base["recall"]
    assert result["overall"]["alerts_per_second"] > 2000  # loose: the 10,000/s target is reported
