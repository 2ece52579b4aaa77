"""The learning loop end to end in-process: analyse, take clicks, resolve, analyse again.

Runs the same use cases the orchestration's activities and the Slack edge run
(ingestion, the analysis steps, ``handle_action``, ``apply_action``) over the
embedded store, on a sample bundle shipped with the repository.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.feedback.learning import acceptance_by_category, import_history
from shared.incidents import analysis, stored_analysis
from shared.incidents.lifecycle import apply_action
from shared.models.tenant import Tenant, Topology
from shared.notify.actions import ActionKind, ActionValue, action_id, encode_value
from shared.notify.interactions import handle_action
from shared.notify.slack_requests import InteractionAction
from shared.settings import Settings

BUNDLE = Path(__file__).parents[3] / "samples" / "bundles" / "sample-checkout-deploy"
RUNBOOKS = Path(__file__).parents[3] / "samples" / "runbooks"


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    scenario = json.loads((BUNDLE / "scenario.json").read_text())
    settings = Settings(home=tmp_path, runbooks_dir=RUNBOOKS, echo_messages=False)
    store = SqliteStore(settings.sqlite_path)
    clock = FixedClock(datetime.fromisoformat(scenario["alert_time"].replace("Z", "+00:00")))
    runtime = bootstrap.build(settings, store=store, clock=clock)
    runtime.tenants.add(
        Tenant(
            id="acme",
            tenant_id="acme",
            name="Acme",
            alertmanager_token=SecretStr("t"),
            change_token=SecretStr("c"),
            slack_team_id="T1",
            topology=Topology.model_validate(scenario["topology"]),
            metrics_file=str(BUNDLE / "metrics.om"),
        )
    )
    import_history(store, "acme", json.loads((BUNDLE / "history.json").read_text()))
    yield runtime
    store.close()


def open_incident(rt: bootstrap.Runtime, round_no: int) -> str:
    """Send the bundle's alert deliveries as a fresh incident; returns its id."""
    scenario = json.loads((BUNDLE / "scenario.json").read_text())
    changes = json.dumps({"changes": scenario["changes"]}).encode()
    rt.ingest.changes("acme", {"Authorization": "Bearer c"}, changes)
    incident_id = ""
    for hook in scenario["webhooks"]:
        body = hook["body"]
        for alert in body["alerts"]:
            alert["fingerprint"] = f"{alert['fingerprint']}-{round_no}"
        receipt = rt.ingest.alertmanager(
            "acme", {"Authorization": "Bearer t"}, json.dumps(body).encode()
        )
        incident_id = incident_id or receipt.incidents[0].incident_id
    return incident_id


def analyse(rt: bootstrap.Runtime, incident_id: str) -> dict[str, Any]:
    """The orchestration's steps, in order (fan-out branches run one by one here)."""
    planned = analysis.plan(rt, "acme", incident_id)
    parts = [analysis.collect(rt, "acme", incident_id, [name]) for name in planned["signals"]]
    analysis.assemble(rt, "acme", incident_id, parts)
    detected = analysis.detect(rt, "acme", incident_id)
    proposal = analysis.propose(rt, "acme", incident_id)
    analysis.score(rt, "acme", incident_id, detected, proposal)
    stored = stored_analysis.load(rt.store, "acme", incident_id)
    assert stored is not None
    return stored.to_json()


def click(
    rt: bootstrap.Runtime, incident_id: str, hyp: dict[str, Any], kind: ActionKind, user: str
):
    value = ActionValue(
        incident_id=incident_id,
        tenant_id="acme",
        category=hyp["category"],
        target=hyp["target"],
        model_version="conf-1.0",
    )
    action = InteractionAction(
        team_id="T1",
        user_id=user,
        user_name=user,
        kind=kind,
        action_id=action_id(kind, hyp["rank"]),
        value=encode_value(value),
        tenant_id="acme",
        incident_id=incident_id,
        rank=hyp["rank"],
        category=hyp["category"],
        target=hyp["target"],
        model_version="conf-1.0",
        response_url="http://127.0.0.1:9/unused",
        channel_id="C1",
        message_ts="1.0",
        trigger_id=None,
    )
    return handle_action(rt, action)


def by_key(result: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(h["category"], h["target"]): h for h in result["hypotheses"]}


def test_feedback_and_resolutions_change_the_next_ranking(rt: bootstrap.Runtime) -> None:
    first_id = open_incident(rt, 1)
    first = analyse(rt, first_id)
    top, runner_up = first["hypotheses"][0], first["hypotheses"][1]
    assert top["factors"]["human_validation"]["value"] == pytest.approx(0.5)  # the prior

    # Responders reject #1 and accept #2, and resolve incidents with #2.
    for n in range(12):
        assert click(rt, first_id, top, ActionKind.NOT_IT, f"U{n}").kind == "feedback_recorded"
        assert (
            click(rt, first_id, runner_up, ActionKind.LIKELY, f"U{n}").kind == "feedback_recorded"
        )
    assert click(rt, first_id, top, ActionKind.NOT_IT, "U0").kind == "duplicate"
    assert acceptance_by_category(rt.store, "acme")[top["category"]] == {
        "accepted": 0,
        "rejected": 12,
    }
    resolve = {
        "action": "resolve",
        "user_name": "dana",
        **{k: runner_up[k] for k in ("rank", "category", "target")},
    }
    assert apply_action(rt, "acme", first_id, resolve) == "resolved"
    for round_no in range(2, 5):  # more incidents of the same kind, resolved the same way
        rt.clock.set(rt.clock.now() + timedelta(hours=1))  # type: ignore[attr-defined]
        incident_id = open_incident(rt, round_no)
        assert incident_id != first_id
        analyse(rt, incident_id)
        assert apply_action(rt, "acme", incident_id, resolve) == "resolved"

    rt.clock.set(rt.clock.now() + timedelta(hours=1))  # type: ignore[attr-defined]
    last = analyse(rt, open_incident(rt, 9))
    before, after = by_key(first), by_key(last)
    rejected, accepted = (
        (top["category"], top["target"]),
        (runner_up["category"], runner_up["target"]),
    )
    assert after[rejected]["factors"]["human_validation"]["value"] < 0.3
    assert after[accepted]["factors"]["human_validation"]["value"] > 0.7
    assert (
        after[accepted]["factors"]["precedent_frequency"]["value"]
        > before[accepted]["factors"]["precedent_frequency"]["value"]
    )
    assert after[rejected]["confidence"] < before[rejected]["confidence"]
    assert after[accepted]["confidence"] > before[accepted]["confidence"]
    # Evidence carries 0.65 of the weight, so verdicts and precedent narrow a
    # clear lead rather than overturn it; they decide when evidence is close.
    gap_before = before[rejected]["confidence"] - before[accepted]["confidence"]
    gap_after = after[rejected]["confidence"] - after[accepted]["confidence"]
    assert gap_after < gap_before - 0.2
    # "Resolved with #2" made those incidents the most similar ones.
    assert {s["id"] for s in last["similar_incidents"]} & {first_id}


def test_feedback_is_shown_in_the_message(rt: bootstrap.Runtime) -> None:
    from shared.incidents.message import compose

    incident_id = open_incident(rt, 1)
    result = analyse(rt, incident_id)
    click(rt, incident_id, result["hypotheses"][0], ActionKind.LIKELY, "dana")
    message = compose(rt, "acme", incident_id)
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "marked: 👍 dana" in text
    assert result["model_version"] in text


def test_verdicts_decide_between_candidates_with_equal_evidence(rt: bootstrap.Runtime) -> None:
    from shared.scoring.engine import score_candidates

    incident_id = open_incident(rt, 1)
    analyse(rt, incident_id)
    snapshot = analysis.snapshot_of(rt, "acme", incident_id)
    lead = analysis.detect(rt, "acme", incident_id)[0]
    twin = {**lead, "category": "config_change", "title": "the same evidence, another cause"}
    rank_before = [h["category"] for h in score_candidates(snapshot, [lead, twin])]
    hyp = {"rank": 1, "category": rank_before[0], "target": lead["target"]}
    other = {"rank": 2, "category": rank_before[1], "target": lead["target"]}
    for n in range(5):
        click(rt, incident_id, hyp, ActionKind.NOT_IT, f"U{n}")
        click(rt, incident_id, other, ActionKind.LIKELY, f"U{n}")
    acceptance = acceptance_by_category(rt.store, "acme")
    rank_after = [
        h["category"] for h in score_candidates(snapshot, [lead, twin], acceptance=acceptance)
    ]
    assert rank_after == list(reversed(rank_before))


def test_the_anomaly_sweeps_findings_reach_the_analysis_and_the_message(
    rt: bootstrap.Runtime,
) -> None:
    from shared.incidents.message import compose
    from shared.models.anomaly import AnomalyFinding, IncidentAnomalies, evidence_id
    from shared.ports.store import Container

    incident_id = open_incident(rt, 1)
    at = rt.clock.now()
    finding = AnomalyFinding(
        signal="latency_p99",
        entity="<checkout>",
        scope="service",
        unit="s",
        score=0.91,
        at=at,
        value=1.8,
        baseline=0.3,
    )
    filed = IncidentAnomalies(
        id=evidence_id(incident_id),
        tenant_id="acme",
        incident_id=incident_id,
        findings=(finding,),
        updated_at=at,
    )
    rt.store.upsert(Container.CACHE, "acme", filed.to_doc())

    stored = analyse(rt, incident_id)
    assert [a["signal"] for a in stored["anomalies"]] == ["latency_p99"]
    text = json.dumps(compose(rt, "acme", incident_id).blocks, ensure_ascii=False)
    assert "*Also deviating* (anomaly sweep)" in text
    assert "latency_p99 of &lt;checkout&gt;: 1.8 s (usually 300 ms)" in text
