"""The CLI: tenants, incidents, send; bad input ends with a message and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import bootstrap
from shared.incidents import stored_analysis
from shared.incidents.analysis import context_key
from shared.models.analysis import IncidentAnalysis
from shared.ports.store import Container
from shared.replay.bundle import load_bundle
from shared.replay.pipeline import analyze, context_request
from shared.settings import load_settings
from tests.fixtures.cli import run

pytestmark = pytest.mark.usefixtures("cli_home")


def test_tenants_add_generates_credentials_and_list_hides_them(tmp_path: Path) -> None:
    topology = tmp_path / "topology.json"
    topology.write_text(json.dumps({"services": [{"name": "checkout", "depends_on": ["db"]}]}))
    code, out = run(
        "tenants", "add", "acme", "--alertmanager-token", "tok-1", "--topology", str(topology)
    )
    assert code == 0, out
    assert "tok-1" not in out  # given credentials are not echoed
    assert "PagerDuty:" in out and "Changes:" in out  # generated ones are shown once
    code, out = run("tenants", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert rows == [{"id": "acme", "slack_team": None, "slack_channel": None, "services": 1}]
    assert "tok-1" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tenants", "add", "Bad Name"), "must be lower-case"),
        (
            ("tenants", "add", "acme", "--topology", "/nonexistent.json"),
            "/nonexistent.json: file not found",
        ),
        (("incidents", "list", "--tenant", "ghost"), "unknown tenant 'ghost'"),
        (("incidents", "show", "INC-1"), "no incident INC-1"),
        (("send", "/no/such/bundle"), "/no/such/bundle: file not found"),
    ],
)
def test_bad_input_is_a_message_and_exit_2(args: tuple[str, ...], message: str) -> None:
    code, out = run(*args)
    assert code == 2, out
    assert message in " ".join(out.split())
    assert "Traceback" not in out


def test_duplicate_tenant_is_refused_unless_replace() -> None:
    assert run("tenants", "add", "acme")[0] == 0
    code, out = run("tenants", "add", "acme")
    assert code == 2 and "exists already" in out
    assert run("tenants", "add", "acme", "--replace")[0] == 0


def test_bad_topology_names_the_field(tmp_path: Path) -> None:
    topology = tmp_path / "t.json"
    topology.write_text(json.dumps({"services": [{"team": "x"}]}))
    code, out = run("tenants", "add", "acme", "--topology", str(topology))
    assert code == 2
    assert "services.0.name" in out


def test_send_rejects_a_bundle_with_bad_json(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "scenario.json").write_text("{oops")
    code, out = run("send", str(bundle))
    assert code == 2
    assert "scenario.json: bad JSON at line 1" in out


SAMPLES = Path(__file__).parents[3] / "samples" / "bundles"


def test_replay_json_follows_the_spec_shape() -> None:
    code, out = run("replay", str(SAMPLES / "sample-checkout-deploy"), "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["scenario"] == "sample-checkout-deploy"
    assert set(result) == {"scenario", "incident_id", "hypotheses", "runbooks", "similar_incidents"}
    top = result["hypotheses"][0]
    assert (top["category"], top["target"]) == ("bad_deployment", "checkout")
    low, high = top["confidence_range"]
    assert low <= top["confidence"] <= high
    assert set(top["factors"]) == {
        "signal_strength",
        "temporal_correlation",
        "precedent_frequency",
        "evidence_quality",
        "human_validation",
    }
    assert result["runbooks"][0]["id"] == "rb-rollback-deployment"
    assert result["similar_incidents"][0]["id"] == "INC-1042"


def test_backtest_reports_accuracy_of_the_samples() -> None:
    code, out = run("backtest", str(SAMPLES), "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["judged"] == 2
    assert result["ac_at_1"] == 1.0
    assert result["runbook_hit_at_3"] == 1.0


def test_replay_of_a_broken_bundle_names_file_and_field(tmp_path: Path) -> None:
    bundle = tmp_path / "broken"
    bundle.mkdir()
    scenario = json.loads((SAMPLES / "sample-disk-full" / "scenario.json").read_text())
    del scenario["alert_time"]
    (bundle / "scenario.json").write_text(json.dumps(scenario))
    code, out = run("replay", str(bundle))
    assert code == 2
    assert "scenario.json" in out and "alert_time" in out
    assert "Traceback" not in out


SAMPLE_TOPOLOGY = Path(__file__).parents[3] / "samples" / "topology.json"


def test_the_shipped_sample_topology_is_accepted_and_whole() -> None:
    code, out = run("tenants", "add", "acme", "--topology", str(SAMPLE_TOPOLOGY))
    assert code == 0, out
    code, out = run("tenants", "list", "--json")
    assert code == 0, out
    assert json.loads(out)[0]["services"] == 3
    # Every dependency is a service of the file, and it is the sample bundles' own
    # topology, so `send samples/bundles/...` to that tenant lines up.
    services = json.loads(SAMPLE_TOPOLOGY.read_text())["services"]
    names = {s["name"] for s in services}
    assert {d for s in services for d in s["depends_on"]} <= names
    bundle = json.loads((SAMPLES / "sample-checkout-deploy" / "scenario.json").read_text())
    assert services == bundle["topology"]["services"]


def test_incidents_show_includes_the_stored_analysis() -> None:
    assert run("tenants", "add", "acme")[0] == 0
    bundle = load_bundle(SAMPLES / "sample-checkout-deploy")
    result = analyze(context_request(bundle), metrics=None, index=None)
    incident_id = "INC-260304-A1B2C3"
    rt = bootstrap.configure(bootstrap.build(load_settings()))
    at = "2026-03-04T14:05:00.000000Z"
    rt.store.create(
        Container.INCIDENTS,
        "acme",
        {"id": incident_id, "tenantId": "acme", "title": "t", "first_seen": at, "last_seen": at}
        | {"created_at": at, "updated_at": at},
    )
    snapshot = result["context"]
    rt.store.upsert(
        Container.CACHE,
        "acme",
        {"id": context_key(incident_id), "tenantId": "acme", "snapshot": snapshot},
    )
    stored_analysis.save(
        rt.store,
        "acme",
        IncidentAnalysis(
            incident_id=incident_id,
            hypotheses=tuple(result["hypotheses"]),
            similar_incidents=tuple(snapshot["similar_incidents"]),
            model_version="conf-1.0+w:default",
            missing=("Claude's candidates unavailable",),
            unconfigured=("metrics", "runbooks"),
        ),
    )
    bootstrap.reset()

    code, out = run("incidents", "show", incident_id, "--json")
    assert code == 0, out
    analysis = json.loads(out)["analysis"]
    (top,) = analysis["hypotheses"]
    assert (top["category"], top["target"]) == ("bad_deployment", "checkout")
    assert set(top["factors"]) >= {"signal_strength", "human_validation"}
    assert analysis["model_version"] == "conf-1.0+w:default"
    assert analysis["similar_incidents"][0]["id"] == "INC-1042"
    assert analysis["missing"] == ["Claude's candidates unavailable"]
    assert {"name": "metrics", "ok": False, "reason": "no metrics source"} in analysis["sources"]
    assert "no metrics source configured" in analysis["evidence_gaps"]

    code, out = run("incidents", "show", incident_id)
    assert code == 0, out
    text = " ".join(out.split())
    assert "#1 Release v2.3.1 of checkout" in text
    assert "signal_strength 0.00: no measured signal supports it" in text
    assert "similar INC-1042" in text
    assert "missing: Claude's candidates unavailable" in text


def test_incidents_list_by_impact_puts_the_costliest_first() -> None:
    assert run("tenants", "add", "acme")[0] == 0
    rt = bootstrap.configure(bootstrap.build(load_settings()))
    for n, (incident_id, score) in enumerate(
        (("INC-260304-AAAAAA", 20.0), ("INC-260304-BBBBBB", 80.0), ("INC-260304-CCCCCC", None))
    ):
        at = f"2026-03-04T14:0{n}:00.000000Z"  # the newest is the one not yet analysed
        rt.store.create(
            Container.INCIDENTS,
            "acme",
            {"id": incident_id, "tenantId": "acme", "title": "t", "first_seen": at}
            | {"last_seen": at, "created_at": at, "updated_at": at},
        )
        if score is not None:
            impact = {"score": score, "level": "high", "urgency": "affects checkout"}
            stored_analysis.save(
                rt.store, "acme", IncidentAnalysis(incident_id=incident_id, impact=impact)
            )
    bootstrap.reset()

    code, out = run("incidents", "list", "--json")
    assert code == 0, out
    assert [r["id"][-1] for r in json.loads(out)] == ["C", "B", "A"]  # newest first
    code, out = run("incidents", "list", "--json", "--by-impact")
    assert code == 0, out
    rows = json.loads(out)
    assert [r["id"][-1] for r in rows] == ["B", "A", "C"]
    assert rows[0]["impact"]["score"] == 80.0 and rows[2]["impact"] is None
