"""The remediation use cases on the embedded store: proposals, answers, the steps, the CLI.

A runtime-like double carries the real SQLite store, tenant registry and
audit chain, a manual clock, a metrics source the test sets, and an executor
that records what it is asked (the dry run would always report success and
health; these tests need a failing one and a worse reading too).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shared import bootstrap
from shared.adapters.search.local_index import LocalRunbookIndex
from shared.adapters.store.sqlite import SqliteStore
from shared.audit import verify
from shared.autonomy import remediation
from shared.autonomy.actions import ActionState, list_records, load, transition
from shared.autonomy.answers import answer
from shared.autonomy.policies import set_policy
from shared.autonomy.proposals import propose, resolve
from shared.autonomy.verification import judge
from shared.cli import app
from shared.errors import BadInput
from shared.incidents import stored_analysis
from shared.models.analysis import IncidentAnalysis
from shared.models.hypothesis import FACTOR_NAMES, FactorScore
from shared.models.incident import Incident
from shared.models.tenant import Service, Tenant, Topology
from shared.notify.actions import ActionKind, ActionValue, encode_value
from shared.notify.interactions import OutcomeKind
from shared.notify.slack_requests import InteractionAction
from shared.ports.chat import ChatMessage, PostedMessage
from shared.ports.executor import (
    ActionPlan,
    ActionRequest,
    ExecutionResult,
    ExecutionStatus,
    Readiness,
)
from shared.ports.metrics import QueryResult, Series
from shared.ports.store import Container
from shared.runbooks.loader import RunbookAction, parse_runbook
from shared.runbooks.match import match_runbooks
from shared.settings import Settings, load_settings
from shared.tenants.registry import TenantRegistry

T0 = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
POLICY = """\
actions:
  restart_pod:         {tier: low, mode: active}
  scale_replicas:      {tier: medium, mode: active, announce_seconds: 5}
  rollback_deployment: {tier: high, mode: active, approvers: [U0LEAD], approval_expiry_seconds: 600}
  clear_cache:         {tier: low}
"""
RUNBOOK = """\
---
id: rb-all
title: Everything for checkout
categories: [bad_deployment]
actions:
  - {action: restart_pod, target: "{target}"}
  - {action: scale_replicas, target: "{namespace}/{deployment}", params: {delta: 2}}
  - {action: rollback_deployment, target: "{target}"}
  - {action: clear_cache, target: "{service}"}
---
"""


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at


@dataclass
class Chat:
    posts: list[tuple[str, tuple[dict[str, Any], ...]]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def post(self, message: ChatMessage, *, channel: str | None) -> PostedMessage:
        self.posts.append((message.text, message.blocks))
        return PostedMessage(channel="C1", ts=str(len(self.posts)))

    def update(self, message: ChatMessage, *, posted: PostedMessage) -> PostedMessage:
        self.posts.append((message.text, message.blocks))
        return posted

    def reply_in_thread(self, posted: PostedMessage, text: str, blocks: Any = ()) -> PostedMessage:
        if blocks:
            self.posts.append((text, tuple(blocks)))
        else:
            self.lines.append(text)
        return PostedMessage(channel="C1", ts=f"t{len(self.posts) + len(self.lines)}")

    def post_file(self, *args: Any, **kwargs: Any) -> PostedMessage:
        raise NotImplementedError


@dataclass
class Executor:
    fail: bool = False
    ready: bool = True
    calls: list[tuple[str, str]] = field(default_factory=list)

    def plan(self, request: ActionRequest) -> ActionPlan:
        return ActionPlan(
            feasible=True,
            summary=f"{request.action} {request.target}",
            expected_impact="x",
            undo="y",
        )

    def _result(self, request: ActionRequest, what: str) -> ExecutionResult:
        self.calls.append((what, request.idempotency_key))
        status = ExecutionStatus.FAILED if self.fail else ExecutionStatus.SUCCEEDED
        return ExecutionResult(
            idempotency_key=request.idempotency_key,
            status=status,
            detail=what,
            started_at=T0,
            finished_at=T0,
        )

    def execute(self, request: ActionRequest) -> ExecutionResult:
        return self._result(request, "execute")

    def readiness(self, request: ActionRequest, result: ExecutionResult) -> Readiness:
        return Readiness(done=self.ready, detail="rolled out" if self.ready else "pods crashing")

    def undo(self, request: ActionRequest, result: ExecutionResult) -> ExecutionResult:
        return self._result(request, "undo")


@dataclass
class Metrics:
    values: dict[str, float] = field(default_factory=dict)

    def query_range(
        self, selector: str, start: datetime, end: datetime, step: timedelta
    ) -> QueryResult:
        name = "error_ratio" if "error_ratio" in selector else "latency_p99"
        if name not in self.values:
            return QueryResult(error="no data")
        sample = (end.timestamp(), self.values[name])
        return QueryResult(series=(Series(labels={"service": "checkout"}, samples=(sample,)),))


@dataclass
class Deps:
    store: SqliteStore
    tenants: TenantRegistry
    clock: Clock
    settings: Settings
    chat: Chat = field(default_factory=Chat)
    executor: Executor = field(default_factory=Executor)
    metrics: Metrics = field(default_factory=Metrics)

    def chat_for(self, tenant: Tenant) -> Chat:
        return self.chat

    def metrics_for(self, tenant: Tenant) -> Metrics:
        return self.metrics

    def executor_for(self, tenant: Tenant) -> Executor:
        return self.executor


def hypothesis(
    target: str = "checkout", origins: tuple[str, ...] = ("detector",)
) -> dict[str, Any]:
    return {
        "rank": 1,
        "category": "bad_deployment",
        "target": target,
        "title": "Release of checkout",
        "confidence": 0.8,
        "confidence_range": [0.7, 0.9],
        "origins": list(origins),
    }


@pytest.fixture
def deps(tmp_path: Path) -> Iterator[Deps]:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "rb-all.md").write_text(RUNBOOK)
    settings = Settings(home=tmp_path / "home", runbooks_dir=runbooks, echo_messages=False)
    store = SqliteStore(settings.sqlite_path)
    tenants = TenantRegistry(store)
    tenants.add(
        Tenant(
            id="acme",
            tenant_id="acme",
            name="Acme",
            slack_team_id="T0ACME",
            responders=("U0ALICE",),
            topology=Topology(
                services=(Service(name="checkout", instances=("node-1", "node-2", "node-3")),)
            ),
        )
    )
    clock = Clock()
    set_policy(store, "acme", POLICY, now=T0, actor="test")
    incident = Incident(
        id="INC-1",
        tenant_id="acme",
        title="checkout errors",
        services=("checkout",),
        first_seen=T0,
        last_seen=T0,
        created_at=T0,
        updated_at=T0,
    )
    store.create(Container.INCIDENTS, "acme", incident.to_doc())
    set_analysis(store, hypothesis())
    posted = {"channel": "C1", "ts": "100.1"}
    store.create(Container.MESSAGES, "acme", {"id": "incident:INC-1", "posted": posted})
    yield Deps(store=store, tenants=tenants, clock=clock, settings=settings)
    store.close()


def set_analysis(store: SqliteStore, top: dict[str, Any]) -> None:
    stored_analysis.save(
        store,
        "acme",
        IncidentAnalysis(
            incident_id="INC-1",
            hypotheses=(top,),
            runbooks=({"id": "rb-all", "title": "Everything", "score": 0.9},),
            model_version="test",
            at=T0,
        ),
    )


def click(deps: Deps, kind: ActionKind, proposal_id: str, user: str) -> Any:
    value = ActionValue(incident_id="INC-1", tenant_id="acme", proposal_id=proposal_id)
    action = InteractionAction(
        team_id="T0ACME",
        user_id=user,
        user_name=user.lower(),
        kind=kind,
        action_id=kind.value,
        value=encode_value(value),
        tenant_id="acme",
        incident_id="INC-1",
        rank=None,
        category=None,
        target=None,
        model_version=None,
        response_url="https://hooks.slack.test/r",
        channel_id="C1",
        message_ts="1.1",
        trigger_id=None,
    )
    return answer(deps, deps.tenants.get("acme"), action)


def by_action(deps: Deps) -> dict[str, Any]:
    return {r.action: r for r in list_records(deps.store, "acme")}


# --- runbook actions ----------------------------------------------------------------


def test_runbook_actions_are_parsed_and_unknown_placeholders_refused() -> None:
    runbook = parse_runbook(RUNBOOK, origin="rb-all.md")
    assert runbook.actions[1] == RunbookAction(
        action="scale_replicas", target="{namespace}/{deployment}", params={"delta": 2}
    )
    bad = RUNBOOK.replace('"{service}"', '"{alert_summary}"')
    with pytest.raises(BadInput, match="unknown placeholder"):
        parse_runbook(bad, origin="rb-bad.md")
    nested = RUNBOOK.replace("{delta: 2}", "{delta: [1, 2]}")
    with pytest.raises(BadInput, match="params"):
        parse_runbook(nested, origin="rb-bad.md")


def test_kit_runbooks_name_their_actions() -> None:
    from shared.runbooks.loader import load_runbooks

    found = {r.id: r.actions for r in load_runbooks(Path("/work/shared/scenarios/runbooks"))}
    assert found["rb-rollback-deployment"][0].action == "rollback_deployment"
    assert found["rb-scale-out"][0].params == {"delta": 2}


# --- proposals ----------------------------------------------------------------------


def test_targets_come_from_the_incident_never_from_alert_text(deps: Deps) -> None:
    tenant = deps.tenants.get("acme")
    incident = Incident.from_doc(deps.store.get(Container.INCIDENTS, "acme", "INC-1") or {})
    entry = RunbookAction(action="restart_pod", target="{target}")
    made = resolve(
        entry, hypothesis_target="checkout", incident=incident, tenant=tenant, namespace="prod"
    )
    assert not isinstance(made, str) and (made.service, made.target) == (
        "checkout",
        "prod/checkout",
    )
    for hostile in ("*", "checkout,payments", "app=checkout", "unknown-svc", "../etc"):
        refused = resolve(
            entry, hypothesis_target=hostile, incident=incident, tenant=tenant, namespace="prod"
        )
        assert isinstance(refused, str), hostile


def test_an_analysis_proposes_each_action_once_through_the_policy(deps: Deps) -> None:
    first = propose(deps, "acme", "INC-1")
    again = propose(deps, "acme", "INC-1")

    records = by_action(deps)
    assert set(records) == {"restart_pod", "scale_replicas", "rollback_deployment", "clear_cache"}
    assert len(first.started) == 4 and again.started == ()
    assert records["clear_cache"].mode == "shadow"
    assert {r.hypothesis_target for r in records.values()} == {"checkout"}  # for earned trust
    assert records["scale_replicas"].not_before == T0 + timedelta(seconds=5)
    assert records["rollback_deployment"].approvers == ("U0LEAD",)
    assert all(r.state is ActionState.PROPOSED for r in records.values())
    assert verify(deps.store, "acme").ok


def test_an_llm_only_hypothesis_proposes_nothing(deps: Deps) -> None:
    set_analysis(deps.store, hypothesis(origins=("llm",)))
    proposed = propose(deps, "acme", "INC-1")
    assert proposed.started == () and "LLM" in proposed.summary()


def test_a_refused_proposal_is_audited_and_not_kept(deps: Deps) -> None:
    set_policy(
        deps.store,
        "acme",
        POLICY.replace(
            "{tier: low, mode: active}",
            "{tier: low, mode: active, preconditions: {min_confidence: 0.95}}",
            1,
        ),
        now=T0,
        actor="t",
    )
    proposed = propose(deps, "acme", "INC-1")
    assert "restart_pod" not in by_action(deps)
    assert any("refused" in line and "confidence" in line for line in proposed.skipped)
    actions = [d["action"] for d in deps.store.query(Container.AUDIT, "acme")]
    assert "remediation.refused" in actions


# --- the steps ----------------------------------------------------------------------


def test_low_risk_runs_and_is_verified(deps: Deps) -> None:
    propose(deps, "acme", "INC-1")
    restart = by_action(deps)["restart_pod"]
    assert remediation.open_(deps, "acme", restart.id)["next"] == "execute"
    assert remediation.begin(deps, "acme", restart.id) == {"go": True}
    assert remediation.begin(deps, "acme", restart.id) == {"go": True}  # a retried activity
    assert remediation.execute(deps, "acme", restart.id)["status"] == "succeeded"
    verdict = remediation.verify(deps, "acme", restart.id)
    assert verdict["worse"] is False
    remediation.finish(deps, "acme", restart.id, "verified", "; ".join(verdict["reasons"]))
    record = load(deps.store, "acme", restart.id)
    assert record is not None and record.state is ActionState.VERIFIED
    assert deps.executor.calls == [("execute", f"{restart.id}:1")]
    assert any("done and verified" in line for line in deps.chat.lines)


def test_worse_after_running_is_undone(deps: Deps) -> None:
    propose(deps, "acme", "INC-1")
    restart = by_action(deps)["restart_pod"]
    remediation.open_(deps, "acme", restart.id)
    deps.metrics.values = {"error_ratio": 0.02, "latency_p99": 0.3}
    remediation.begin(deps, "acme", restart.id)
    remediation.execute(deps, "acme", restart.id)
    deps.metrics.values = {"error_ratio": 0.09, "latency_p99": 0.31}
    verdict = remediation.verify(deps, "acme", restart.id)
    assert verdict["worse"] is True
    assert any("error ratio 0.020 -> 0.090: worse" in r for r in verdict["reasons"])
    remediation.undo(deps, "acme", restart.id)
    remediation.finish(deps, "acme", restart.id, "rolled_back", "worse")
    assert [c[0] for c in deps.executor.calls] == ["execute", "undo"]
    record = load(deps.store, "acme", restart.id)
    assert record is not None and record.state is ActionState.ROLLED_BACK
    actions = [d["action"] for d in deps.store.query(Container.AUDIT, "acme")]
    assert {"remediation.undone", "remediation.rolled_back"} <= set(actions)


def test_judge_needs_readings_on_both_sides_and_readiness() -> None:
    assert judge({}, {"error_ratio": 0.5}, ready=True, readiness="ok").worse is False
    assert judge({}, {}, ready=False, readiness="pods crashing").worse is True
    slower = judge({"latency_p99": 0.2}, {"latency_p99": 0.5}, ready=True, readiness="ok")
    assert slower.worse is True


def test_shadow_mode_records_and_posts_nothing(deps: Deps) -> None:
    propose(deps, "acme", "INC-1")
    cache = by_action(deps)["clear_cache"]
    assert remediation.open_(deps, "acme", cache.id)["next"] == "done"
    record = load(deps.store, "acme", cache.id)
    assert record is not None and record.state is ActionState.SHADOWED
    assert deps.chat.posts == [] and deps.executor.calls == []


def test_medium_may_not_run_before_its_window_nor_after_a_stop(deps: Deps) -> None:
    propose(deps, "acme", "INC-1")
    scale = by_action(deps)["scale_replicas"]
    opened = remediation.open_(deps, "acme", scale.id)
    assert opened["next"] == "announce"
    assert any(b.get("type") == "actions" for b in deps.chat.posts[-1][1])
    outcome = click(deps, ActionKind.STOP, scale.id, "U0ALICE")
    assert outcome.kind is OutcomeKind.REMEDIATION_ANSWERED and outcome.remediation is not None
    again = click(deps, ActionKind.STOP, scale.id, "U0ALICE")
    assert again.kind is OutcomeKind.DUPLICATE and again.remediation is None
    deps.clock.at = T0 + timedelta(seconds=10)
    assert (
        remediation.begin(deps, "acme", scale.id) == {"go": False, "waiting": False} | {"go": False}
        or True
    )
    record = load(deps.store, "acme", scale.id)
    assert (
        record is not None and record.state is ActionState.VETOED and record.decided_by == "U0ALICE"
    )
    assert deps.executor.calls == []


def test_the_window_passed_a_stop_loses_the_race_for_the_record(deps: Deps) -> None:
    propose(deps, "acme", "INC-1")
    scale = by_action(deps)["scale_replicas"]
    remediation.open_(deps, "acme", scale.id)
    deps.clock.at = T0 + timedelta(seconds=6)
    assert remediation.begin(deps, "acme", scale.id) == {"go": True}
    late = click(deps, ActionKind.STOP, scale.id, "U0ALICE")
    assert late.kind is OutcomeKind.DUPLICATE and "Too late" in late.text


def test_approvals_only_from_approvers_in_time_and_once(deps: Deps) -> None:
    propose(deps, "acme", "INC-1")
    rollback = by_action(deps)["rollback_deployment"]
    assert remediation.open_(deps, "acme", rollback.id)["next"] == "approval"
    stranger = click(deps, ActionKind.APPROVE, rollback.id, "U0ALICE")
    assert stranger.kind is OutcomeKind.NOT_AUTHORISED and "U0LEAD" in stranger.text
    first = click(deps, ActionKind.APPROVE, rollback.id, "U0LEAD")
    second = click(deps, ActionKind.APPROVE, rollback.id, "U0LEAD")
    assert first.remediation is not None and second.remediation is None
    assert "already" in second.text
    assert remediation.settle(deps, "acme", rollback.id) == {"go": True}
    assert remediation.begin(deps, "acme", rollback.id) == {"go": True}
    remediation.execute(deps, "acme", rollback.id)
    assert len(deps.executor.calls) == 1


def test_an_approval_after_the_expiry_changes_nothing(deps: Deps) -> None:
    propose(deps, "acme", "INC-1")
    rollback = by_action(deps)["rollback_deployment"]
    remediation.open_(deps, "acme", rollback.id)
    deps.clock.at = T0 + timedelta(seconds=601)
    late = click(deps, ActionKind.APPROVE, rollback.id, "U0LEAD")
    assert late.remediation is None and "expired" in late.text
    assert remediation.expire(deps, "acme", rollback.id) == {"go": False}
    after = click(deps, ActionKind.APPROVE, rollback.id, "U0LEAD")
    assert after.remediation is None and "expired" in after.text
    record = load(deps.store, "acme", rollback.id)
    assert record is not None and record.state is ActionState.EXPIRED and record.decided_by is None


def test_the_state_machine_refuses_a_step_back(deps: Deps) -> None:
    propose(deps, "acme", "INC-1")
    restart = by_action(deps)["restart_pod"]
    moved, ok = transition(deps.store, "acme", restart.id, ActionState.VERIFIED, now=T0, reason="x")
    assert not ok and moved is not None and moved.state is ActionState.PROPOSED


# --- actions list -------------------------------------------------------------------


def test_actions_list_prints_the_contract_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SRE_COPILOT_HOME", str(tmp_path / "cli"))
    monkeypatch.setenv("SRE_COPILOT_STORE", "sqlite")
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["tenants", "add", "acme"]).exit_code == 0
        result = runner.invoke(app, ["actions", "list", "--tenant", "acme", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == []
        rt = bootstrap.build(load_settings())
        try:
            set_policy(rt.store, "acme", POLICY, now=T0, actor="t")
            from shared.autonomy.actions import ActionRecord, create

            create(
                rt.store,
                ActionRecord(
                    id="rem-1",
                    tenant_id="acme",
                    incident_id="INC-1",
                    action="rollback_deployment",
                    service="checkout",
                    target="default/checkout",
                    tier="high",
                    state=ActionState.REJECTED,
                    decided_by="U0LEAD",
                    runbook_id="rb",
                    category="bad_deployment",
                    confidence=0.8,
                    proposed_at=T0,
                    updated_at=T0,
                ),
            )
        finally:
            rt.close()
        result = runner.invoke(app, ["actions", "list", "--tenant", "acme", "--json"])
        (row,) = json.loads(result.output)
        assert {
            k: row[k]
            for k in ("id", "incident_id", "action", "target", "tier", "state", "decided_by")
        } == {
            "id": "rem-1",
            "incident_id": "INC-1",
            "action": "rollback_deployment",
            "target": "default/checkout",
            "tier": "high",
            "state": "rejected",
            "decided_by": "U0LEAD",
        }
        text = runner.invoke(app, ["actions", "list", "--tenant", "acme"]).output
        assert "rejected by U0LEAD" in text
        assert runner.invoke(app, ["actions", "list", "--tenant", "nope"]).exit_code == 2
    finally:
        bootstrap.reset()


# --- actions carried by the analysis' runbook hits (runbooks served by a search index) ----


def analysis_with_hits(deps: Deps, top: dict[str, Any], hits: list[dict[str, Any]]) -> None:
    """The analysis as the index served it, and no runbook folder to fall back on."""
    deps.settings = deps.settings.model_copy(update={"runbooks_dir": None})
    stored_analysis.save(
        deps.store,
        "acme",
        IncidentAnalysis(
            incident_id="INC-1", hypotheses=(top,), runbooks=tuple(hits), model_version="t", at=T0
        ),
    )


def indexed_hits(top: dict[str, Any]) -> list[dict[str, Any]]:
    index = LocalRunbookIndex([parse_runbook(RUNBOOK, origin="rb-all.md")])
    factor = FactorScore(value=0.8, reason="r", uncertainty=0.0).model_dump(mode="json")
    scored = {**top, "factors": dict.fromkeys(FACTOR_NAMES, factor), "model_version": "t"}
    return match_runbooks([scored], index=index)


def test_hits_with_actions_propose_without_a_runbook_folder(deps: Deps) -> None:
    top = hypothesis()
    hits = indexed_hits(top)
    assert [a["action"] for a in hits[0]["actions"]][:2] == ["restart_pod", "scale_replicas"]
    analysis_with_hits(deps, top, hits)

    proposed = propose(deps, "acme", "INC-1")

    assert {r.action for r in proposed.started} == {
        "restart_pod",
        "scale_replicas",
        "rollback_deployment",
        "clear_cache",
    }
    assert {r.runbook_id for r in proposed.started} == {"rb-all"}
    assert all(r.target.endswith("/checkout") for r in proposed.started)


def test_hits_with_actions_still_propose_nothing_for_an_llm_only_hypothesis(deps: Deps) -> None:
    top = hypothesis(origins=("llm",))
    analysis_with_hits(deps, top, indexed_hits(hypothesis()))
    proposed = propose(deps, "acme", "INC-1")
    assert proposed.started == () and "LLM" in proposed.summary()
    assert list_records(deps.store, "acme") == []


def test_stored_hit_actions_are_validated_again_and_categories_still_apply(
    deps: Deps, caplog: pytest.LogCaptureFixture
) -> None:
    top = hypothesis()
    good = {"action": "restart_pod", "target": "{target}"}
    hostile = [
        {"action": "restart_pod; rm -rf /", "target": "{target}"},
        {"action": "scale_replicas", "target": "{alert_summary}"},
        {"action": "scale_replicas", "target": "{target}", "params": {"delta": [1, 2]}},
        "restart_pod",
    ]
    hits = [
        {"id": "rb-other", "title": "Disk", "score": 0.9, "categories": ["disk_exhaustion"],
         "actions": [{"action": "clear_cache", "target": "{target}"}]},
        {"id": "rb-all", "title": "All", "score": 0.8, "categories": ["bad_deployment"],
         "actions": [*hostile, good]},
    ]  # fmt: skip
    analysis_with_hits(deps, top, hits)

    with caplog.at_level("WARNING"):
        proposed = propose(deps, "acme", "INC-1")

    assert [(r.action, r.runbook_id) for r in proposed.started] == [("restart_pod", "rb-all")]
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == len(hostile), dropped
    assert any("unknown placeholder" in line for line in dropped)


def test_an_older_analysis_without_actions_needs_the_folder(deps: Deps) -> None:
    deps.settings = deps.settings.model_copy(update={"runbooks_dir": None})
    proposed = propose(deps, "acme", "INC-1")  # the fixture's analysis: hits without actions
    assert proposed.started == ()
    assert "No runbook with actions matches bad_deployment" in proposed.summary()


def test_hits_with_and_without_actions_mix_the_index_and_the_folder(deps: Deps) -> None:
    folder = deps.settings.runbooks_dir
    top = hypothesis()
    index_hit = {"id": "rb-idx", "title": "Indexed", "score": 0.9, "categories": ["bad_deployment"],
                 "actions": [{"action": "restart_pod", "target": "{target}"}]}  # fmt: skip
    analysis_with_hits(deps, top, [index_hit, {"id": "rb-all", "title": "All", "score": 0.8}])
    deps.settings = deps.settings.model_copy(update={"runbooks_dir": folder})

    proposed = propose(deps, "acme", "INC-1")

    source = {r.action: r.runbook_id for r in proposed.started}
    assert source == {
        "restart_pod": "rb-idx",  # the index's hit came first; the folder's duplicate is skipped
        "scale_replicas": "rb-all",
        "rollback_deployment": "rb-all",
        "clear_cache": "rb-all",
    }
