"""The engine on worked examples: each outcome, its reasons, and the checks before running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.autonomy.engine import (
    Approval,
    Execution,
    Fleet,
    Outcome,
    Proposal,
    State,
    Verdict,
    decide,
    may_execute,
)
from shared.autonomy.policy import Window, parse_policy

NOW = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)  # Monday 12:00 in Paris
POLICY = parse_policy(
    """
timezone: Europe/Paris
approvers: [U-LEAD]
actions:
  restart_pod:
    tier: low
    mode: active
    preconditions: {categories: [memory_leak], min_confidence: 0.6}
    limits: {per_service_per_hour: 2, max_fleet_share: 0.5, min_healthy: 2}
  scale_replicas: {tier: medium, mode: active, announce_seconds: 300}
  rollback_deployment: {tier: high, mode: active, approval_expiry_seconds: 600}
  clear_cache: {tier: low}
  drain_node: {tier: low, mode: active, preconditions: {hours: outside_business}}
"""
)
FLEETS = {"checkout": Fleet(size=4, healthy=4)}


def proposal(action: str = "restart_pod", **changes: object) -> Proposal:
    base = {
        "id": "p1",
        "incident_id": "inc-1",
        "action": action,
        "service": "checkout",
        "targets": ("checkout-7d9f-abcde",),
        "category": "memory_leak",
        "confidence": 0.8,
        "proposed_at": NOW,
    }
    return Proposal.model_validate({**base, **changes})


def approved(by: str, after: int, verdict: Verdict = Verdict.APPROVE) -> Approval:
    return Approval(proposal_id="p1", user=by, verdict=verdict, at=NOW + timedelta(seconds=after))


def test_low_risk_runs_now_and_says_why() -> None:
    decision = decide(POLICY, proposal(), State(fleets=FLEETS), NOW)
    assert decision.outcome is Outcome.EXECUTE_NOW
    assert decision.reasons[0] == "restart_pod is low risk: runs now"
    assert "3 of 4 stay healthy (floor 2)" in decision.reasons


def test_medium_is_announced_and_runs_only_after_the_window_without_a_stop() -> None:
    p = proposal("scale_replicas", targets=("checkout",), params={"delta": 2})
    decision = decide(POLICY, p, State(), NOW)
    assert decision.outcome is Outcome.ANNOUNCE
    assert decision.not_before == NOW + timedelta(seconds=300)
    assert may_execute(POLICY, p, State(), NOW + timedelta(seconds=299)).outcome is Outcome.REFUSED
    assert may_execute(POLICY, p, State(), NOW + timedelta(seconds=300)).executes
    stopped = State(approvals=(approved("U-ANY", 10, Verdict.STOP),))
    late = may_execute(POLICY, p, stopped, NOW + timedelta(seconds=300))
    assert late.outcome is Outcome.REFUSED
    assert late.reasons[0].startswith("stopped by U-ANY at 2025-06-02 10:00:10 UTC")


@pytest.mark.parametrize(
    ("answers", "after", "runs", "reason"),
    [
        ((), 60, False, "no valid approval from U-LEAD"),
        ((approved("U-LEAD", 30),), 60, True, "approved by U-LEAD at 2025-06-02 10:00:30 UTC"),
        ((approved("U-INTERN", 30),), 60, False, "U-INTERN approved but is not an approver"),
        ((approved("U-LEAD", 601),), 602, False, "came after the request expired"),
        ((approved("U-LEAD", 30),), 631, False, "has expired"),
        (
            (approved("U-LEAD", 30), approved("U-OPS", 40, Verdict.REJECT)),
            60,
            False,
            "rejected by U-OPS",
        ),
    ],
)
def test_high_risk_needs_an_authorised_unexpired_approval(
    answers: tuple[Approval, ...], after: int, runs: bool, reason: str
) -> None:
    p = proposal("rollback_deployment", targets=("checkout",))
    asked = decide(POLICY, p, State(), NOW)
    assert asked.outcome is Outcome.AWAIT_APPROVAL and asked.approvers == ("U-LEAD",)
    decision = may_execute(POLICY, p, State(approvals=answers), NOW + timedelta(seconds=after))
    assert decision.executes is runs
    assert any(reason in line for line in decision.reasons), decision.reasons
    assert decision.approved_by == ("U-LEAD" if runs else None)


@pytest.mark.parametrize(
    ("targets", "reason"),
    [
        ((), "no target named: an empty target list never means everything"),
        (("*",), "is a wildcard"),
        (("checkout-*",), "is a wildcard"),
        (("all",), "is a wildcard"),
        (("app=checkout",), "is a selector"),
        (("",), "an empty target"),
    ],
)
def test_targets_must_be_named_one_by_one(targets: tuple[str, ...], reason: str) -> None:
    decision = decide(POLICY, proposal(targets=targets), State(fleets=FLEETS), NOW)
    assert decision.outcome is Outcome.REFUSED
    assert any(reason in line for line in decision.reasons), decision.reasons


def test_shadow_mode_records_what_it_would_have_done_and_never_runs() -> None:
    p = proposal("clear_cache", targets=("checkout",))
    decision = decide(POLICY, p, State(), NOW)
    assert decision.outcome is Outcome.SHADOW and decision.would is Outcome.EXECUTE_NOW
    assert decision.reasons[0] == "shadow mode: recorded only; would have run now"
    assert may_execute(POLICY, p, State(), NOW).outcome is Outcome.REFUSED


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (State(fleets=FLEETS, global_kill_switch=True), "the global kill switch is on"),
        (State(fleets=FLEETS, tenant_kill_switch=True), "the tenant's kill switch is on"),
        (
            State(
                fleets=FLEETS,
                freezes=(Window(start=NOW, end=NOW + timedelta(hours=2), reason="launch"),),
            ),
            "change freeze until 2025-06-02 12:00:00 UTC (launch)",
        ),
        (
            State(fleets={"checkout": Fleet(size=4, healthy=2)}),
            "would leave 1 healthy of 4 in checkout (floor 2)",
        ),
        (
            State(
                fleets=FLEETS,
                executions=(
                    Execution(
                        action="restart_pod",
                        service="checkout",
                        started_at=NOW - timedelta(minutes=50),
                        running=False,
                    ),
                    Execution(
                        action="restart_pod",
                        service="checkout",
                        started_at=NOW - timedelta(minutes=5),
                        running=False,
                    ),
                ),
            ),
            "restart_pod ran 2 times on checkout in the last hour (limit 2)",
        ),
        (State(), "fleet size and health of checkout are unknown"),
    ],
)
def test_refusals_say_why(state: State, reason: str) -> None:
    decision = decide(POLICY, proposal(), state, NOW)
    assert decision.outcome is Outcome.REFUSED
    assert reason in decision.reasons


def test_preconditions_and_an_unlisted_action() -> None:
    weak = decide(
        POLICY, proposal(confidence=0.4, category="dns_failure"), State(fleets=FLEETS), NOW
    )
    assert weak.reasons == (
        "hypothesis category dns_failure is not one of memory_leak",
        "confidence 0.40 is below 0.60",
    )
    unlisted = decide(POLICY, proposal("failover_database"), State(), NOW)
    assert unlisted.reasons == (
        "failover_database is not in the tenant's action catalog: not allowed",
    )
    drain = proposal("drain_node", service="pool-a", targets=("node-1",))
    pool = State(fleets={"pool-a": Fleet(size=4, healthy=4)})
    assert decide(POLICY, drain, pool, NOW).reasons == (
        "runs only outside business hours (Mon 12:00 Europe/Paris)",
    )
    assert decide(POLICY, drain, pool, NOW + timedelta(hours=8)).executes


def test_a_decision_is_json_for_the_audit_and_slack() -> None:
    decided = decide(POLICY, proposal("rollback_deployment", targets=("checkout",)), State(), NOW)
    assert decided.to_json()["outcome"] == "await_approval"
    assert decided.to_json()["expires_at"] == "2025-06-02T10:10:00.000000Z"
