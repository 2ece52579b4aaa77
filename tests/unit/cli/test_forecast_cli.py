"""``forecast`` and ``bench forecast`` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shared.cli import app
from tests.unit.predict.synthetic import NOW, make

runner = CliRunner()


def _series(tmp_path: Path, kind: str, seed: int, name: str) -> Path:
    s = make(kind, seed)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(s.as_json(name)))
    at = None
    if s.hours_left is not None:
        from datetime import timedelta

        at = (NOW + timedelta(hours=s.hours_left)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (tmp_path / f"{name}.expected.json").write_text(json.dumps({"exhausted_at": at}))
    return path


def test_forecast_json_is_exactly_the_spec_object(tmp_path: Path) -> None:
    path = _series(tmp_path, "plateau_then_fill", 31, "cap-31")
    out = runner.invoke(app, ["forecast", str(path), "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert list(doc) == ["id", "exhausted_at", "hours_left", "range_hours"]
    assert doc["id"] == "cap-31" and doc["hours_left"] > 0


def test_forecast_reads_as_a_sentence(tmp_path: Path) -> None:
    path = _series(tmp_path, "sawtooth", 32, "cap-32")
    out = runner.invoke(app, ["forecast", str(path)])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("cap-32: /data on db-1 is not filling within 48 h")
    assert "cleanups" in out.output


def test_a_bad_file_exits_2_naming_the_file_and_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"id": "x", "now": "2026-03-04T14:00:00Z", "samples": "none"}))
    out = runner.invoke(app, ["forecast", str(bad)])
    assert out.exit_code == 2
    assert f"{bad}: field 'samples'" in out.output
    missing = runner.invoke(app, ["forecast", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "nope.json: file not found" in missing.output


def test_bench_forecast_scores_a_folder_beside_predict_linear(tmp_path: Path) -> None:
    for i, kind in enumerate(("linear", "sawtooth", "plateau_then_fill", "fill_then_stop")):
        _series(tmp_path, kind, 40 + i, f"cap-{i}")
    out = runner.invoke(app, ["bench", "forecast", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["series"] == 4
    assert set(result["methods"]) >= {"sre-copilot", "predict_linear 1h", "predict_linear 6h"}
    assert result["methods"]["sre-copilot"]["right"] == 4
    reported = result["reported"]
    assert all(r["note"] == "reported in issue 9, not run here" for r in reported.values())
    text = runner.invoke(app, ["bench", "forecast", str(tmp_path)])
    assert text.exit_code == 0
    assert "predict_linear 6h" in text.output and "ms" in text.output


def test_bench_forecast_on_a_missing_folder_exits_2(tmp_path: Path) -> None:
    out = runner.invoke(app, ["bench", "forecast", str(tmp_path / "none")])
    assert out.exit_code == 2 and "not a folder of capacity series" in out.output
