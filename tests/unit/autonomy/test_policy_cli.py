"""``policy set`` / ``policy show`` through the store, audited; ``bench policy`` finds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import bootstrap
from shared.ports.store import Container
from shared.settings import load_settings
from tests.fixtures.cli import run
from tests.unit.autonomy.test_policy_yaml import CONTRACT

pytestmark = pytest.mark.usefixtures("cli_home")


def test_set_then_show_and_the_change_is_audited(tmp_path: Path) -> None:
    assert run("tenants", "add", "acme")[0] == 0
    file = tmp_path / "acme.yaml"
    file.write_text(CONTRACT)
    code, out = run("policy", "set", "--tenant", "acme", str(file))
    assert code == 0, out
    assert "rollback_deployment (high, active)" in out
    code, out = run("policy", "show", "--tenant", "acme", "--json")
    assert code == 0, out
    shown = json.loads(out)
    assert shown["policy"]["actions"]["scale_replicas"]["announce_seconds"] == 5
    assert shown["source"] == CONTRACT
    code, out = run("policy", "show", "--tenant", "acme")
    assert "scale_replicas" in out and "approvers U-LEAD" in out
    rt = bootstrap.build(load_settings())
    try:
        audit = rt.store.query(Container.AUDIT, "acme")
    finally:
        rt.close()
    assert [r["action"] for r in audit] == ["policy.set"]
    assert audit[0]["detail"]["version"] == shown["version"]
    assert audit[0]["hash"] and audit[0]["prev_hash"]


def test_show_without_a_policy_says_nothing_is_allowed() -> None:
    run("tenants", "add", "acme")
    code, out = run("policy", "show", "--tenant", "acme")
    assert code == 0 and "no remediation policy set: every action is refused" in out


@pytest.mark.parametrize(
    ("content", "tenant", "message"),
    [
        (
            "actions:\n  scale_replicas: {tier: mid}\n",
            "acme",
            "actions.scale_replicas.tier: must be low, medium or high",
        ),
        (CONTRACT, "nobody", "unknown tenant 'nobody'"),
        (None, "acme", "cannot read"),
    ],
)
def test_a_bad_file_or_an_unknown_tenant_exits_2_with_one_line(
    tmp_path: Path, content: str | None, tenant: str, message: str
) -> None:
    run("tenants", "add", "acme")
    file = tmp_path / "policy.yaml"
    if content is not None:
        file.write_text(content)
    code, out = run("policy", "set", "--tenant", tenant, str(file))
    assert code == 2
    assert message in out and len(out.strip().splitlines()) == 1


def test_bench_policy_reports_zero_violations() -> None:
    code, out = run("bench", "policy", "--cases", "400", "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["cases"] >= 400 and result["violations"] == 0
    assert result["cases_per_second"] > 0 and result["engine_decisions_per_second"] > 0
