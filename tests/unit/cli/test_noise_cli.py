"""``sre-copilot noise``: advice and a diff on stdout, the rule file untouched, bad input exit 2."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.adapters.store.sqlite import SqliteStore
from shared.settings import load_settings
from tests.fixtures.cli import run
from tests.unit.feedback.noise_history import History

pytestmark = pytest.mark.usefixtures("cli_home")

RULES = Path(__file__).parents[2] / "fixtures" / "rules" / "acme.rules.yml"


@pytest.fixture
def tenant() -> str:
    code, out = run("tenants", "add", "acme")
    assert code == 0, out
    return "acme"


def seed_flapping_cpu() -> None:
    store = SqliteStore(load_settings().sqlite_path)
    try:
        History(store, now=datetime.now(UTC)).flapping(
            "NodeCpuBusy", {"severity": "warning", "team": "infra"}
        )
    finally:
        store.close()


def test_noise_prints_the_proposal_and_a_diff_and_leaves_the_file_alone(tenant: str) -> None:
    seed_flapping_cpu()
    before = RULES.read_text()
    code, out = run("noise", "--tenant", tenant, "--rules", str(RULES))
    assert code == 0, out
    assert "NodeCpuBusy (severity=warning, team=infra): fired 12, 10 resolved by themselves" in out
    assert "proposal NodeCpuBusy: for 2m -> 9m: 10 of 12 firings resolved by themselves" in out
    assert f"--- {RULES}\n+++ {RULES}\n" in out
    assert "-        for: 2m  # short on purpose, see INC-1234\n" in out
    assert "+        for: 9m  # short on purpose, see INC-1234\n" in out
    assert RULES.read_text() == before


def test_noise_json_gives_the_proposals_as_data(tenant: str) -> None:
    seed_flapping_cpu()
    code, out = run("noise", "--tenant", tenant, "--rules", str(RULES), "--json", "--since", "7")
    assert code == 0, out
    doc = json.loads(out)
    (proposal,) = doc["proposals"]
    assert proposal | {"reason": ""} == {
        "alert": "NodeCpuBusy",
        "rule": "groups[0].rules[0]",
        "field": "for",
        "old": "2m",
        "new": "9m",
        "reason": "",
        "suppressed": 9,
        "noise": 10,
        "delayed": 2,
        "delayed_by_seconds": 420,
    }
    assert doc["rules"][0]["fired"] == 12 and doc["diff"].startswith("--- ")


def test_no_data_is_a_no_advice_line(tenant: str) -> None:
    code, out = run("noise", "--tenant", tenant, "--rules", str(RULES))
    assert code == 0, out
    assert "no advice: no alert of" in out and "for acme in the last 30 days" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("groups: [\n", "bad YAML at line 2"),
        ("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5 min\n", "for"),
    ],
)
def test_a_bad_rule_file_exits_2_naming_file_and_field(
    tenant: str, tmp_path: Path, text: str, message: str
) -> None:
    bad = tmp_path / "bad.rules.yml"
    bad.write_text(text)
    code, out = run("noise", "--tenant", tenant, "--rules", str(bad))
    assert code == 2, out
    flat = " ".join(out.split())
    assert f"{bad}: " in flat and message in flat and "Traceback" not in out


def test_unknown_tenant_and_missing_file_exit_2() -> None:
    code, out = run("noise", "--tenant", "ghost", "--rules", str(RULES))
    assert code == 2 and "unknown tenant 'ghost'" in out
    code, out = run("noise", "--tenant", "ghost", "--rules", "/no/such.yml")
    assert code == 2 and "/no/such.yml: file not found" in out
