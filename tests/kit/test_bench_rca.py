"""``bench rca`` on the kit's halves of the labelled datasets beats the trivial baseline."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.bench.rca import bench
from shared.cli import app

KIT = Path(__file__).parents[2].parent / "shared"
RCA = KIT / "data" / "rca"

pytestmark = pytest.mark.kit


def _folder(name: str) -> Path:
    folder = RCA / name
    if not folder.is_dir():
        pytest.skip(f"{name} data not found at {folder} (it lives in ../shared beside the repo)")
    return folder


def test_petshop_meets_the_targets_and_beats_the_baseline() -> None:
    """Issue 8's PetShop targets (top-1 >= 0.55, top-3 >= 0.80) on the kit's half."""
    result = bench("petshop", _folder("petshop"), progress=False)
    assert result["cases"] == 20
    assert result["pipeline"]["top1"] >= 0.55
    assert result["pipeline"]["top3"] >= 0.80
    assert result["pipeline"]["top3"] > result["baseline"]["top3"]
    assert result["timings"]["median_ms"] < 1500  # loose: the 300 ms target is reported, not timed


def test_nezha_meets_the_online_boutique_targets_and_beats_the_baseline() -> None:
    """Online Boutique AS@1 >= 0.65 and AS@3 >= 0.80 (issue 8); Train Ticket, whose
    code faults barely show in its metrics, at least beats the trivial baseline."""
    result = bench("nezha", _folder("nezha"), progress=False)
    assert result["cases"] >= 40
    assert result["pipeline"]["top3"] > result["baseline"]["top3"]
    groups = {g["group"]: g for g in result["groups"]}
    boutique = groups["online-boutique"]
    assert boutique["pipeline"]["top1"] >= 0.65
    assert boutique["pipeline"]["top3"] >= 0.80
    assert "MicroRCA" in boutique["published"]
    ticket = groups["train-ticket"]
    assert ticket["pipeline"]["top3"] > ticket["baseline"]["top3"]


def test_cli_skips_in_one_line_without_data(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["bench", "rca", "nezha", str(tmp_path)])
    assert out.exit_code == 0
    assert out.output.strip() == f"skipped: no nezha data under {tmp_path}"


def test_cli_json_has_the_figures() -> None:
    out = CliRunner().invoke(
        app, ["bench", "rca", "petshop", str(_folder("petshop")), "--limit", "1", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert '"baseline"' in out.output and '"pipeline"' in out.output
