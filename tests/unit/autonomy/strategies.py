"""Hypothesis strategies for policies, proposals, states and busy stretches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from shared.autonomy.engine import Approval, Execution, Fleet, Proposal, State, Verdict
from shared.autonomy.invariants import Step
from shared.autonomy.policy import ACTIONS, Policy, Window, policy_from

BASE = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)  # a Monday
SERVICES = ("checkout", "cart", "orders-db")
CATEGORIES = ("bad_deployment", "memory_leak", "traffic_surge")
USERS = ("U-LEAD", "U-OPS", "U-INTERN")
BAD_TARGETS = ((), ("*",), ("all",), ("checkout-*",), ("app=checkout",), ("",), ("ns/*",))

moments = st.integers(0, 3 * 86_400).map(lambda s: BASE + timedelta(seconds=s))
names = st.builds(lambda svc, i: f"{svc}-{i}", st.sampled_from(SERVICES), st.integers(0, 9))
targets = st.one_of(
    st.lists(names, min_size=1, max_size=3, unique=True).map(tuple),
    st.sampled_from(BAD_TARGETS),
    st.lists(st.text(max_size=8), max_size=2).map(tuple),
)

limits = st.fixed_dictionaries(
    {},
    optional={
        "per_service_per_hour": st.integers(0, 4),
        "max_concurrent": st.integers(0, 3),
        "max_replica_delta": st.integers(0, 3),
        "max_fleet_share": st.sampled_from((0.1, 0.25, 0.5, 1.0)),
        "min_healthy": st.integers(0, 3),
        "min_healthy_share": st.sampled_from((0.0, 0.5, 0.75)),
        "max_targets": st.integers(1, 3),
    },
)
preconditions = st.fixed_dictionaries(
    {},
    optional={
        "categories": st.lists(st.sampled_from(CATEGORIES), max_size=2),
        "min_confidence": st.sampled_from((0.0, 0.5, 0.8)),
        "service_tiers": st.lists(st.integers(1, 3), max_size=2),
        "hours": st.sampled_from(("any", "business", "outside_business")),
    },
)
entries = st.fixed_dictionaries(
    {"tier": st.sampled_from(("low", "medium", "high"))},
    optional={
        "mode": st.sampled_from(("shadow", "active", "active")),
        "limits": limits,
        "preconditions": preconditions,
        "approvers": st.lists(st.sampled_from(USERS[:2]), min_size=1, max_size=2),
        "announce_seconds": st.sampled_from((0, 5, 300)),
        "approval_expiry_seconds": st.sampled_from((60, 600, 3600)),
    },
)
windows = st.builds(
    lambda start, minutes, services: {
        "start": start,
        "end": start + timedelta(minutes=minutes),
        "services": services,
    },
    moments,
    st.integers(1, 600),
    st.lists(st.sampled_from(SERVICES), max_size=2),
)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    data: dict[str, Any] = {
        "approvers": ["U-LEAD"],
        "timezone": draw(st.sampled_from(("UTC", "Europe/Paris", "Asia/Tokyo"))),
        "kill_switch": draw(st.sampled_from((False, False, False, True))),
        "freezes": draw(st.lists(windows, max_size=1)),
        "limits": {"max_concurrent": draw(st.integers(0, 4))},
        "actions": draw(st.dictionaries(st.sampled_from(ACTIONS), entries, min_size=1)),
    }
    return policy_from(data)


@st.composite
def proposals(draw: st.DrawFn, *, ident: str = "p1", at: datetime | None = None) -> Proposal:
    return Proposal(
        id=ident,
        incident_id="inc-1",
        action=draw(st.sampled_from((*ACTIONS, "delete_namespace"))),
        service=draw(st.sampled_from(SERVICES)),
        targets=draw(targets),
        params=draw(st.fixed_dictionaries({}, optional={"delta": st.integers(-4, 4)})),
        category=draw(st.sampled_from(CATEGORIES)),
        confidence=draw(st.floats(0.0, 1.0)),
        service_tier=draw(st.none() | st.integers(1, 3)),
        proposed_at=at if at is not None else draw(moments),
    )


@st.composite
def answers_to(draw: st.DrawFn, proposal: Proposal) -> tuple[Approval, ...]:
    return tuple(
        draw(
            st.lists(
                st.builds(
                    Approval,
                    proposal_id=st.just(proposal.id),
                    user=st.sampled_from(USERS),
                    verdict=st.sampled_from(list(Verdict)),
                    at=st.integers(-60, 4000).map(
                        lambda s: proposal.proposed_at + timedelta(seconds=s)
                    ),
                ),
                max_size=2,
            )
        )
    )


@st.composite
def fleets(draw: st.DrawFn) -> dict[str, Fleet]:
    out = {}
    for service in draw(st.lists(st.sampled_from(SERVICES), unique=True)):
        size = draw(st.integers(0, 12))
        out[service] = Fleet(size=size, healthy=draw(st.integers(0, size)))
    return out


@st.composite
def states(draw: st.DrawFn, *, now: datetime, history: bool = True) -> State:
    executions = ()
    if history:
        executions = tuple(
            draw(
                st.lists(
                    st.builds(
                        Execution,
                        action=st.sampled_from(ACTIONS),
                        service=st.sampled_from(SERVICES),
                        started_at=st.integers(0, 5400).map(lambda s: now - timedelta(seconds=s)),
                        out_of_service=st.integers(0, 3),
                        running=st.booleans(),
                    ),
                    max_size=5,
                )
            )
        )
    freezes = draw(st.lists(windows.map(Window.model_validate), max_size=1))
    return State(
        executions=executions,
        fleets=draw(fleets()),
        freezes=tuple(freezes),
        tenant_kill_switch=draw(st.sampled_from((False, False, False, True))),
        global_kill_switch=draw(st.sampled_from((False, False, False, True))),
    )


@st.composite
def busy_stretches(draw: st.DrawFn) -> list[Step]:
    steps = []
    for n in range(draw(st.integers(2, 12))):
        at = BASE + timedelta(seconds=draw(st.integers(0, 7200)))
        proposal = draw(proposals(ident=f"p{n}", at=at))
        steps.append(
            Step(
                proposal=proposal,
                run_after=timedelta(seconds=draw(st.sampled_from((0, 5, 61, 300, 601, 3000)))),
                duration=timedelta(seconds=draw(st.integers(1, 3600))),
                answers=draw(answers_to(proposal)),
            )
        )
    return steps
