"""``sre-copilot noise`` without ``--rules``: the tenant's Prometheus lists its rules, the
proposals come as lines and no diff (there is no file); without such a Prometheus, exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.adapters.store.sqlite import SqliteStore
from shared.settings import load_settings
from tests.fixtures.cli import run
from tests.fixtures.prometheus import free_port, prometheus_with_rules
from tests.unit.feedback.noise_history import History

pytestmark = pytest.mark.usefixtures("cli_home")

RULES = Path(__file__).parents[2] / "fixtures" / "rules" / "acme.rules.yml"


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("prometheus-rules")
    with prometheus_with_rules(RULES.read_text(encoding="utf-8"), workdir) as base:
        yield base


def add_tenant(*options: str) -> None:
    code, out = run("tenants", "add", "acme", *options)
    assert code == 0, out
    store = SqliteStore(load_settings().sqlite_path)
    try:
        History(store, now=datetime.now(UTC)).flapping(
            "NodeCpuBusy", {"severity": "warning", "team": "infra"}
        )
    finally:
        store.close()


@pytest.mark.prometheus
def test_noise_without_rules_reads_them_from_prometheus_and_prints_no_diff(
    prometheus_url: str,
) -> None:
    add_tenant("--prometheus-url", prometheus_url)
    code, out = run("noise", "--tenant", "acme")
    assert code == 0, out
    assert f"noise advice for acme from Prometheus at {prometheus_url} (/api/v1/rules)" in out
    assert "proposal NodeCpuBusy: for 2m -> 9m: 10 of 12 firings resolved by themselves" in out
    assert "no diff: these rules were read from Prometheus' API" in out
    assert "---" not in out and "@@" not in out
    code, out = run("noise", "--tenant", "acme", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["rules_from_api"] is True and doc["diff"] == ""
    assert [(p["alert"], p["new"]) for p in doc["proposals"]] == [("NodeCpuBusy", "9m")]


@pytest.mark.prometheus
def test_report_rules_file_wins_over_the_live_rules(prometheus_url: str) -> None:
    add_tenant("--prometheus-url", prometheus_url)
    args = ["report", "--tenant", "acme", "--week", "--json"]
    code, out = run(*args, "--rules", str(RULES))
    assert code == 0, out
    assert json.loads(out)["alerts"]["advice_from"] == str(RULES)
    code, out = run(*args)
    assert code == 0, out
    assert (
        json.loads(out)["alerts"]["advice_from"]
        == f"Prometheus at {prometheus_url} (/api/v1/rules)"
    )


def test_noise_without_rules_and_without_a_listing_prometheus_is_exit_2(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.om"
    metrics.write_text("# EOF\n", encoding="utf-8")
    add_tenant("--metrics-file", str(metrics))
    code, out = run("noise", "--tenant", "acme")
    assert code == 2
    assert "has no Prometheus that lists its alerting rules: pass --rules FILE" in out


def test_noise_without_rules_when_prometheus_is_down_is_exit_2_with_why() -> None:
    down = f"http://127.0.0.1:{free_port()}"
    add_tenant("--prometheus-url", down)
    code, out = run("noise", "--tenant", "acme")
    assert code == 2
    assert f"the alerting rules of Prometheus at {down}: unavailable" in " ".join(out.split())
