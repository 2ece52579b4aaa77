"""``sre-copilot report``: summary, JSON, the HTML file; bad input is exit 2 and one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.cli import app
from shared.settings import Settings
from tests.unit.report import fixture

runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, metrics_file: Path) -> Path:
    monkeypatch.setenv("SRE_COPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SRE_COPILOT_STORE", "sqlite")
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir(parents=True)
    store = SqliteStore(settings.sqlite_path)
    try:
        tenant = fixture.tenant(metrics_file)
        fixture.fill_store(store, tenant)
        bootstrap.build(settings, store=store).tenants.add(tenant, replace=True)
    finally:
        store.close()
    yield tmp_path
    bootstrap.reset()


def test_json_is_the_whole_report_without_a_progress_bar() -> None:
    result = runner.invoke(
        app, ["report", "--tenant", "acme", "--week", "--at", "2026-03-09T09:00", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)  # nothing but the JSON on stdout
    assert doc["week"]["first_day"] == "2026-03-02" and doc["week"]["timezone"] == "Europe/Paris"
    assert doc["traffic"]["services"][0]["service"] == "checkout"
    assert doc["alerts"]["noisiest"][0]["name"] == "HighLatency"
    assert doc["feedback"]["acceptance"]["this_week"] == 0.75


def test_the_summary_and_the_html_file(tmp_path: Path) -> None:
    out = tmp_path / "week.html"
    result = runner.invoke(
        app,
        [
            "report",
            "--tenant",
            "acme",
            "--week",
            "--at",
            "2026-03-09T09:00+01:00",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Weekly report: Acme <Ops>" in result.output
    assert "Mon 02 Mar to Sun 08 Mar 2026 (Europe/Paris)" in result.output
    assert f"HTML report: {out}" in result.output
    assert "0:00:0" not in result.output  # not a terminal: no progress bar (elapsed time)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nobody", "--week"], "error: unknown tenant 'nobody'"),
        (["--tenant", "acme", "--week", "--at", "monday"], "error: --at: 'monday' is not an ISO"),
        (["--tenant", "acme"], "error: report: say which report: --week"),
        (
            ["--tenant", "acme", "--week", "--out", "/nonexistent/dir/r.html"],
            "error: /nonexistent/dir/r.html: cannot write",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["report", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_with_the_rule_file_noisy_alerts_get_their_proposed_fix(home: Path) -> None:
    from datetime import datetime

    from tests.unit.feedback.noise_history import History

    rules = Path(__file__).parents[2] / "fixtures" / "rules" / "acme.rules.yml"
    at = datetime.fromisoformat("2026-03-09T09:00+01:00")
    store = SqliteStore(Settings(home=home / "home").sqlite_path)
    try:  # a rule that pages and resolves by itself within minutes, in the week reported
        History(store, now=at).flapping("NodeCpuBusy", {"severity": "warning", "team": "infra"})
    finally:
        store.close()
    args = ["report", "--tenant", "acme", "--week", "--at", at.isoformat(), "--json"]

    plain = json.loads(runner.invoke(app, args).output)
    advised = runner.invoke(app, [*args, "--rules", str(rules)])

    assert advised.exit_code == 0, advised.output
    fixes = {a["name"]: a["proposed_fix"] for a in json.loads(advised.output)["alerts"]["noisiest"]}
    assert fixes["NodeCpuBusy"].startswith("for: 2m -> ")
    assert all(a["proposed_fix"] is None for a in plain["alerts"]["noisiest"])
    bad = runner.invoke(app, [*args, "--rules", str(home / "missing.yml")])
    assert bad.exit_code == 2 and "missing.yml" in bad.output
