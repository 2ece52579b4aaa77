"""``sre-copilot bench nab`` on the tiny corpus in tests/fixtures/nab (NAB's layout)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from shared.cli import app

CORPUS = Path(__file__).parents[2] / "fixtures" / "nab"


def test_writes_one_result_row_per_data_row_and_scores_three_profiles(tmp_path: Path) -> None:
    out = tmp_path / "results"
    run = CliRunner().invoke(
        app, ["bench", "nab", str(CORPUS), "--out", str(out), "--json", "--workers", "1"]
    )
    assert run.exit_code == 0, run.output
    result = json.loads(run.output)
    assert result["files"] == 3 and result["windows"] == 2
    assert set(result["profiles"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert result["profiles"]["standard"]["detected_windows"] == 2
    assert result["published"]["ARTime"]["standard"] == 74.9
    for data in sorted((CORPUS / "data").rglob("*.csv")):
        rel = data.relative_to(CORPUS / "data")
        with data.open() as fh_in, (out / rel).open() as fh_out:
            rows_in = list(csv.reader(fh_in))
            rows_out = list(csv.reader(fh_out))
        assert rows_out[0] == ["timestamp", "value", "anomaly_score"]
        assert len(rows_out) == len(rows_in)
        assert [r[:2] for r in rows_out[1:]] == rows_in[1:]
        assert all(0.0 <= float(r[2]) <= 1.0 for r in rows_out[1:])


def test_prints_our_scores_beside_the_scoreboard_without_a_progress_bar(tmp_path: Path) -> None:
    run = CliRunner().invoke(
        app, ["bench", "nab", str(CORPUS), "--out", str(tmp_path), "--workers", "2"]
    )
    assert run.exit_code == 0, run.output
    lines = run.output.splitlines()
    assert lines[0].startswith("NAB: 3 files, 1800 rows, 2 windows")
    assert any(line.startswith("SRE Copilot") for line in lines)
    assert any(line.startswith("ARTime (published)") for line in lines)
    assert lines[-1].startswith("corpus run time:")
    assert "\r" not in run.output and "\x1b" not in run.output  # not a TTY: no bar


def test_skips_in_one_line_without_data(tmp_path: Path) -> None:
    run = CliRunner().invoke(app, ["bench", "nab", str(tmp_path), "--out", str(tmp_path / "o")])
    assert run.exit_code == 0
    assert run.output.strip() == f"skipped: no NAB data under {tmp_path}"


def test_a_missing_labelled_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "combined_windows.json").write_text('{"x/y.csv": []}')
    run = CliRunner().invoke(app, ["bench", "nab", str(tmp_path), "--out", str(tmp_path / "o")])
    assert run.exit_code == 2
    assert "x/y.csv" in run.output


def test_the_progress_bar_shows_on_a_terminal_only() -> None:
    import io

    from rich.console import Console

    from shared.bench.nab import file_progress

    for terminal, enabled, shown in (
        (True, True, True),
        (False, True, False),
        (True, False, False),
    ):
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=terminal, width=80)
        with file_progress(console, "NAB", enabled=enabled) as advance:
            advance("a/b.csv", 1, 2)
        assert ("NAB" in buffer.getvalue()) is shown
