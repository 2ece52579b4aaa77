"""``correlate`` and ``bench storms`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shared.cli import app
from tests.unit.correlation.test_storm import STORM

runner = CliRunner()


def test_correlate_prints_the_spec_output(tmp_path: Path) -> None:
    path = tmp_path / "storm-t.json"
    path.write_text(json.dumps(STORM))
    result = runner.invoke(app, ["correlate", str(path)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"storm", "alerts", "incidents"}
    assert all(set(i) == {"id", "alerts"} for i in out["incidents"])
    detailed = json.loads(runner.invoke(app, ["correlate", str(path), "--json"]).output)
    assert all("reasons" in i for i in detailed["incidents"])


def test_a_bad_storm_file_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(STORM | {"deliveries": "x"}))
    result = runner.invoke(app, ["correlate", str(path)])
    assert result.exit_code == 2
    assert "bad.json" in result.output and "'deliveries'" in result.output


def test_bench_storms_prints_per_storm_and_overall(tmp_path: Path) -> None:
    (tmp_path / "storm-t.json").write_text(json.dumps(STORM))
    (tmp_path / "storm-t.expected.json").write_text(json.dumps({"groups": [["a", "b"], ["c"]]}))
    result = runner.invoke(app, ["bench", "storms", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["storms"][0]["correlation"]["precision"] == 1.0
    assert out["overall"]["alerts_per_second"] > 0
    table = runner.invoke(app, ["bench", "storms", str(tmp_path)])
    assert "overall" in table.output and "baseline" in table.output
    empty = runner.invoke(app, ["bench", "storms", str(tmp_path / "none")])
    assert empty.exit_code == 2
