"""Property tests of the policy engine (``bench policy`` runs the same over 100,000+ cases).

Each property is stated here on its own for the reader, and all of them are
judged by ``shared.autonomy.invariants``, the oracle the benchmark uses too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.autonomy.engine import (
    Decision,
    Outcome,
    Policy,
    Proposal,
    State,
    Verdict,
    decide,
    may_execute,
)
from shared.autonomy.invariants import simulate, violations
from shared.autonomy.policy import Mode, Tier
from tests.unit.autonomy.strategies import (
    BAD_TARGETS,
    answers_to,
    busy_stretches,
    moments,
    policies,
    proposals,
    states,
)

CI = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cases(draw: st.DrawFn) -> tuple[Policy, Proposal, State, datetime]:
    """A proposal with its answers so far, and the time a decision is asked for."""
    policy = draw(policies())
    proposal = draw(proposals())
    now = proposal.proposed_at + timedelta(seconds=draw(st.sampled_from((0, 5, 301, 700, 4000))))
    state = draw(states(now=now))
    state = state.model_copy(update={"approvals": draw(answers_to(proposal))})
    return policy, proposal, state, now


def both(policy: Policy, proposal: Proposal, state: State, now: datetime) -> list[Decision]:
    return [decide(policy, proposal, state, now), may_execute(policy, proposal, state, now)]


def high_risk_runs_only_with_an_authorised_unexpired_approval(
    policy: Policy, proposal: Proposal, state: State, now: datetime
) -> None:
    entry = policy.actions.get(proposal.action)
    decision = may_execute(policy, proposal, state, now)
    if decision.executes and entry is not None and entry.tier is Tier.HIGH:
        expiry = timedelta(seconds=entry.approval_expiry_seconds)
        approver = decision.approved_by
        assert approver in policy.approvers_for(proposal.action)
        assert any(
            a.user == approver
            and a.verdict is Verdict.APPROVE
            and proposal.proposed_at <= a.at <= proposal.proposed_at + expiry
            and a.at <= now <= a.at + expiry
            for a in state.approvals
        )
    immediate = decide(policy, proposal, state, now)
    assert not immediate.executes or (entry is not None and entry.tier is Tier.LOW)


def nothing_runs_under_a_freeze_a_kill_switch_or_shadow_mode(
    policy: Policy, proposal: Proposal, state: State, now: datetime
) -> None:
    entry = policy.actions.get(proposal.action)
    frozen = any(w.covers(now, proposal.service) for w in (*policy.freezes, *state.freezes))
    killed = policy.kill_switch or state.tenant_kill_switch or state.global_kill_switch
    for decision in both(policy, proposal, state, now):
        if frozen or killed:
            assert decision.outcome is Outcome.REFUSED
        if entry is not None and entry.mode is Mode.SHADOW:
            assert decision.outcome in {Outcome.SHADOW, Outcome.REFUSED}


def the_oracle_finds_nothing(
    policy: Policy, proposal: Proposal, state: State, now: datetime
) -> None:
    for at_run, decision in enumerate(both(policy, proposal, state, now)):
        assert violations(policy, proposal, state, now, decision, at_run=bool(at_run)) == []
        assert decision.reasons, "every decision says why"


@CI
@given(cases())
def test_single_decisions(case: tuple[Policy, Proposal, State, datetime]) -> None:
    """One generated case, three properties (generation is the slow part)."""
    high_risk_runs_only_with_an_authorised_unexpired_approval(*case)
    nothing_runs_under_a_freeze_a_kill_switch_or_shadow_mode(*case)
    the_oracle_finds_nothing(*case)


@settings(CI, max_examples=50)
@given(policies(), proposals(), st.sampled_from(BAD_TARGETS), moments)
def test_empty_and_wildcard_targets_are_always_refused(
    policy: Policy, proposal: Proposal, bad: tuple[str, ...], now: datetime
) -> None:
    proposal = proposal.model_copy(update={"targets": bad})
    for decision in both(policy, proposal, State(), now):
        assert decision.outcome is Outcome.REFUSED


@settings(CI, max_examples=40)
@given(policies(), st.data(), busy_stretches())
def test_limits_hold_under_concurrent_proposals(
    policy: Policy, data: st.DataObject, steps: list
) -> None:
    state = data.draw(states(now=steps[0].proposal.proposed_at, history=False))
    outcome = simulate(policy, state, steps)
    assert outcome.violations == []


def test_the_oracle_catches_an_engine_that_runs_everything() -> None:
    """The properties are not vacuous: a decider that says yes to all breaks them."""
    from random import Random

    from shared.bench.policy import busy_stretch, random_policy, random_state

    rng = Random(7)
    found = 0
    for _ in range(30):
        policy, state = random_policy(rng), random_state(rng)
        for step in busy_stretch(rng, policy):
            yes = Decision(outcome=Outcome.EXECUTE_NOW, reasons=("yes",), action="x")
            found += len(
                violations(
                    policy, step.proposal, state, step.proposal.proposed_at, yes, at_run=True
                )
            )
    assert found > 100
