"""``bench policy``: the policy engine's safety properties over many generated cases.

Seeded plain random generation (the property tests use ``hypothesis`` for the
same properties, with fewer cases): policies, fleets, freezes, kill switches,
proposals with good and bad targets, responders' answers early, late, from
approvers and from others. Half the cases are single decisions on a random
state (``decide`` and ``may_execute``), half are busy stretches of concurrent
proposals played through ``shared.autonomy.invariants.simulate``, each
execution applied to the state. Every decision is judged by
``shared.autonomy.invariants``; the figure that matters is 0 violations.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.autonomy.engine import (
    Approval,
    Execution,
    Fleet,
    Proposal,
    State,
    Verdict,
    decide,
    may_execute,
)
from shared.autonomy.invariants import Step, simulate, violations
from shared.autonomy.policy import ACTIONS, Policy, Window, policy_from

SERVICES = ("checkout", "cart", "orders-db", "nodepool-a")
CATEGORIES = ("bad_deployment", "memory_leak", "cpu_saturation", "traffic_surge", "node_failure")
USERS = ("U-LEAD", "U-OPS", "U-INTERN")
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo")
BAD_TARGETS: tuple[tuple[str, ...], ...] = (
    (),
    ("*",),
    ("all",),
    ("checkout-*",),
    ("app=checkout",),
    ("",),
    ("checkout-1", "*"),
    ("default/*",),
    (".*",),
    ("checkout-1", "checkout-1"),
)
BASE = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)  # a Monday
MAX_STEPS = 24


def _sometimes(rng: random.Random, value: Any, default: Any, share: float = 0.15) -> Any:
    """``value`` now and then, else the permissive ``default``: most proposals should pass
    most checks, or the limits are never reached."""
    return value if rng.random() < share else default


def random_policy(rng: random.Random) -> Policy:
    actions: dict[str, Any] = {}
    for name in rng.sample(ACTIONS, rng.randint(2, len(ACTIONS))):
        entry: dict[str, Any] = {
            "tier": rng.choice(("low", "medium", "high")),
            "mode": "active" if rng.random() < 0.85 else "shadow",
            "announce_seconds": rng.choice((0, 5, 300, 900)),
            "approval_expiry_seconds": rng.choice((60, 600, 3600)),
            "limits": {
                "per_service_per_hour": _sometimes(rng, 0, rng.choice((1, 2, 3, 5)), 0.05),
                "max_concurrent": _sometimes(rng, 0, rng.choice((1, 2, 3)), 0.05),
                "max_replica_delta": rng.randint(1, 3),
                "max_fleet_share": rng.choice((0.1, 0.25, 0.5, 0.5, 1.0)),
                "min_healthy": rng.choice((0, 1, 1, 2, 3)),
                "min_healthy_share": _sometimes(rng, rng.choice((0.5, 0.75)), 0.0),
                "max_targets": rng.randint(1, 3),
            },
            "preconditions": {
                "categories": _sometimes(rng, rng.sample(CATEGORIES, 2), [], 0.1),
                "min_confidence": rng.choice((0.0, 0.0, 0.3, 0.8)),
                "service_tiers": _sometimes(rng, rng.sample((1, 2, 3), 2), [], 0.1),
                "hours": _sometimes(rng, rng.choice(("business", "outside_business")), "any", 0.1),
            },
        }
        if rng.random() < 0.5:
            entry["approvers"] = rng.sample(USERS[:2], rng.randint(1, 2))
        actions[name] = entry
    freezes = [
        {
            "start": BASE + timedelta(minutes=rng.randint(0, 180)),
            "end": BASE + timedelta(minutes=rng.randint(181, 400)),
            "services": rng.sample(SERVICES, rng.randint(0, 2)),
        }
        for _ in range(_sometimes(rng, 1, 0, 0.2))
    ]
    return policy_from(
        {
            "timezone": rng.choice(ZONES),
            "kill_switch": rng.random() < 0.03,
            "approvers": ["U-LEAD"],
            "business_hours": {"days": ["mon", "tue", "wed", "thu", "fri"]},
            "freezes": freezes,
            "limits": {"max_concurrent": _sometimes(rng, 0, rng.choice((1, 2, 3, 5, 8)), 0.05)},
            "actions": actions,
        }
    )


def random_state(rng: random.Random) -> State:
    fleets = {}
    for service in SERVICES:
        if rng.random() < 0.95:
            size = rng.choice((0, 1, 2, 3, 4, 6, 8, 10, 12, 20))
            fleets[service] = Fleet(size=size, healthy=max(0, size - rng.choice((0, 0, 1, 3))))
    freezes = (
        (
            Window(
                start=BASE + timedelta(minutes=rng.randint(0, 200)),
                end=BASE + timedelta(minutes=rng.randint(201, 300)),
                services=tuple(rng.sample(SERVICES, rng.randint(0, 1))),
            ),
        )
        if rng.random() < 0.1
        else ()
    )
    return State(
        fleets=fleets,
        freezes=freezes,
        tenant_kill_switch=rng.random() < 0.02,
        global_kill_switch=rng.random() < 0.02,
    )


def random_proposal(
    rng: random.Random, n: int, at: datetime, policy: Policy | None = None
) -> Proposal:
    """Mostly an action the policy lists, on one or two named targets; now and then
    an unknown action, a wildcard, a selector, an empty list."""
    service = rng.choice(SERVICES)
    if rng.random() < 0.1:
        targets = rng.choice(BAD_TARGETS)
    else:
        targets = tuple(
            f"{service}-{i}" for i in rng.sample(range(12), rng.choice((1, 1, 1, 1, 2, 3)))
        )
    params: dict[str, Any] = {}
    if rng.random() < 0.95:
        params["delta"] = rng.choice((-3, -2, -1, -1, 1, 1, 2, 3, 0))
    listed = tuple(policy.actions) if policy is not None else ()
    if listed and rng.random() < 0.9:
        action = rng.choice(listed)
    else:
        action = rng.choice((*ACTIONS, "delete_namespace"))
    return Proposal(
        id=f"p{n}",
        incident_id=f"inc-{rng.randint(1, 5)}",
        action=action,
        service=service,
        targets=targets,
        params=params,
        category=rng.choice(CATEGORIES),
        confidence=rng.random(),
        service_tier=rng.choice((None, 1, 2, 3)),
        proposed_at=at,
    )


def random_answers(rng: random.Random, proposal: Proposal) -> tuple[Approval, ...]:
    """Mostly one approval by someone, sometimes late, from a non-approver, or a Stop."""
    answers = []
    for _ in range(rng.choice((0, 1, 1, 1, 2))):
        verdict = rng.choices(list(Verdict), weights=(8, 1, 1))[0]
        answers.append(
            Approval(
                proposal_id=proposal.id,
                user=rng.choices(USERS, weights=(5, 2, 1))[0],
                verdict=verdict,
                at=proposal.proposed_at + timedelta(seconds=rng.randint(-30, 4000)),
            )
        )
    return tuple(answers)


def random_history(rng: random.Random, now: datetime) -> tuple[Execution, ...]:
    return tuple(
        Execution(
            action=rng.choice(ACTIONS),
            service=rng.choice(SERVICES),
            started_at=now - timedelta(minutes=rng.randint(0, 90)),
            out_of_service=rng.randint(0, 3),
            running=rng.random() < 0.4,
        )
        for _ in range(rng.randint(0, 6))
    )


def single_cases(rng: random.Random, policy: Policy, state: State, count: int) -> list[str]:
    """``count`` proposals on random states, each through ``decide`` and ``may_execute``."""
    found = []
    for n in range(count):
        proposed = BASE + timedelta(minutes=rng.randint(0, 24 * 60 * 3))
        proposal = random_proposal(rng, n, proposed, policy)
        now = proposed + timedelta(seconds=rng.choice((0, rng.randint(0, 5000))))
        current = state.model_copy(
            update={
                "executions": random_history(rng, now),
                "approvals": random_answers(rng, proposal),
            }
        )
        for at_run, judge in ((False, decide), (True, may_execute)):
            decision = judge(policy, proposal, current, now)
            found.extend(violations(policy, proposal, current, now, decision, at_run=at_run))
    return found


def _run_after(
    rng: random.Random, policy: Policy, step: Proposal, answers: Sequence[Approval]
) -> int:
    """When the orchestrator tries to run a waiting proposal: mostly when it should (the
    window's end, just after the first answer), sometimes early or late."""
    entry = policy.actions.get(step.action)
    if entry is None or rng.random() < 0.25:
        return rng.randint(0, 4000)
    if entry.tier == "medium":
        return entry.announce_seconds + rng.choice((0, 1, 30))
    first = min((a.at for a in answers), default=None)
    if first is None:
        return entry.approval_expiry_seconds
    return max(0, int((first - step.proposed_at).total_seconds())) + rng.choice((0, 1, 30))


def busy_stretch(rng: random.Random, policy: Policy) -> list[Step]:
    """Concurrent incidents: proposals over two hours on a few services."""
    steps = []
    for n in range(rng.randint(2, MAX_STEPS)):
        at = BASE + timedelta(seconds=rng.randint(0, 7200))
        proposal = random_proposal(rng, n, at, policy)
        answers = random_answers(rng, proposal)
        steps.append(
            Step(
                proposal=proposal,
                run_after=timedelta(seconds=_run_after(rng, policy, proposal, answers)),
                duration=timedelta(seconds=rng.randint(1, 1800)),
                answers=answers,
            )
        )
    return steps


def bench(
    cases: int = 100_000, *, seed: int = 0, on_case: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Run at least ``cases`` decisions; violations listed (the first 20) and counted."""
    rng = random.Random(seed)
    decisions = executions = 0
    found: list[str] = []
    scenarios = 0
    started = time.perf_counter()
    while decisions < cases:
        policy, state = random_policy(rng), random_state(rng)
        scenarios += 1
        if scenarios % 2:
            count = 20
            found.extend(single_cases(rng, policy, state, count))
            decisions += 2 * count
        else:
            outcome = simulate(policy, state, busy_stretch(rng, policy))
            decisions += outcome.decisions
            executions += outcome.executions
            found.extend(outcome.violations)
        if on_case is not None:
            on_case(decisions)
    seconds = time.perf_counter() - started
    return {
        **_engine_speed(rng, min(5_000, max(20, cases))),
        "cases": decisions,
        "scenarios": scenarios,
        "simulated_executions": executions,
        "seconds": round(seconds, 2),
        "cases_per_second": round(decisions / seconds) if seconds else None,
        "violations": len(found),
        "first_violations": found[:20],
        "seed": seed,
    }


def _engine_speed(rng: random.Random, count: int = 5_000) -> dict[str, Any]:
    """The engine alone (generation and judging excluded): ``decide`` per second."""
    cases = []
    for n in range(count // 20):
        policy, state = random_policy(rng), random_state(rng)
        for _ in range(20):
            at = BASE + timedelta(minutes=rng.randint(0, 600))
            proposal = random_proposal(rng, n, at, policy)
            cases.append(
                (
                    policy,
                    proposal,
                    state.model_copy(update={"executions": random_history(rng, at)}),
                    at,
                )
            )
    started = time.perf_counter()
    for policy, proposal, state, at in cases:
        decide(policy, proposal, state, at)
    seconds = time.perf_counter() - started
    return {"engine_decisions_per_second": round(len(cases) / seconds) if seconds else None}


def render(result: dict[str, Any], echo: Callable[[str], None]) -> None:
    echo(
        f"policy engine: {result['cases']} cases ({result['scenarios']} scenarios, "
        f"{result['simulated_executions']} simulated executions) in {result['seconds']} s: "
        f"{result['cases_per_second']} cases/s generated, decided and judged"
    )
    echo(f"engine alone: {result['engine_decisions_per_second']} decisions/s")
    echo(f"violations: {result['violations']}")
    for line in result["first_violations"]:
        echo(f"  {line}")
