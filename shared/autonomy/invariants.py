"""The safety properties the policy engine must keep, written independently of it.

The property tests and ``sre-copilot bench policy`` both judge the engine
with these: ``violations`` looks at one decision, ``simulate`` plays a busy
stretch of concurrent proposals through ``decide`` and ``may_execute``,
applying every execution to the state as an orchestrator would, and checks
the history that results. An empty list means the engine behaved.

``simulate`` takes the run-time decisions one at a time, each seeing every
execution admitted before it. The orchestrations do the same: ``begin``'s
``may_execute`` and its claim on the tenant's limits are one conditional
write on the tenant's admission document (``shared.autonomy.admission``), so
runs that begin at the same instant are judged in turn, never on a state
that misses one of them (``tests/unit/autonomy/test_admission.py`` races
16 threads on the store).

The properties:

- nothing runs under a kill switch (tenant or global), a change freeze, or
  in shadow mode, and neither does an action the catalog does not list;
- an empty, wildcard or selector target is always refused;
- a proposal is never executed at once unless its tier is low; a
  high-risk one runs only with an approval by an approver of the action, given
  before the request expired and itself unexpired, and no Stop or Reject; a
  medium one only after its announce window, with no Stop or Reject;
- executions respect the action's preconditions and every blast-radius limit:
  per service per hour, concurrent runs of the action and of the tenant,
  replica delta, share of a fleet out at once, healthy floor.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.autonomy.engine import (
    Approval,
    Decision,
    Execution,
    Outcome,
    Proposal,
    State,
    Verdict,
    decide,
    may_execute,
)
from shared.autonomy.policy import ActionPolicy, Hours, Mode, Policy, Tier

_LIVE = frozenset({Outcome.EXECUTE_NOW, Outcome.ANNOUNCE, Outcome.AWAIT_APPROVAL})


_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9._]*[a-z0-9])?")


def explicit(target: str) -> bool:
    """A plain resource name: lower-case letters, digits, ``-._``, one optional ``/``."""
    if target in {"all", "any", "everything", "every", "none"}:
        return False
    parts = target.split("/")
    return len(parts) <= 2 and all(_NAME.fullmatch(p) for p in parts)


def taken_out(proposal: Proposal) -> int:
    """Fleet members the proposal takes out of service while it runs."""
    if proposal.action in {"restart_pod", "drain_node"}:
        return len(proposal.targets)
    delta = proposal.params.get("delta")
    if proposal.action == "scale_replicas" and type(delta) is int and delta < 0:
        return -delta
    return 0


def _frozen(policy: Policy, proposal: Proposal, state: State, now: datetime) -> bool:
    return any(
        w.start <= now < w.end and (not w.services or proposal.service in w.services)
        for w in (*policy.freezes, *state.freezes)
    )


def _authorised_approval(
    policy: Policy, entry: ActionPolicy, proposal: Proposal, state: State, now: datetime
) -> bool:
    expiry = timedelta(seconds=entry.approval_expiry_seconds)
    allowed = entry.approvers or policy.approvers
    return any(
        a.proposal_id == proposal.id
        and a.verdict is Verdict.APPROVE
        and a.user in allowed
        and proposal.proposed_at <= a.at <= proposal.proposed_at + expiry
        and a.at <= now <= a.at + expiry
        for a in state.approvals
    )


def _limit_violations(
    policy: Policy, entry: ActionPolicy, proposal: Proposal, state: State, now: datetime
) -> Iterable[str]:
    limits = entry.limits
    hour_ago = now - timedelta(hours=1)
    this_hour = sum(
        1
        for e in state.executions
        if e.action == proposal.action
        and e.service == proposal.service
        and hour_ago < e.started_at <= now
    )
    if this_hour >= limits.per_service_per_hour:
        yield f"run {this_hour + 1} on {proposal.service} within an hour"
    running = [e for e in state.executions if e.running]
    if sum(e.action == proposal.action for e in running) >= limits.max_concurrent:
        yield "over the action's concurrent limit"
    if len(running) >= policy.limits.max_concurrent:
        yield "over the tenant's concurrent limit"
    if len(proposal.targets) > limits.max_targets:
        yield "more targets than max_targets"
    if proposal.action == "scale_replicas":
        delta = proposal.params.get("delta")
        if type(delta) is not int or delta == 0 or abs(delta) > limits.max_replica_delta:
            yield f"replica delta {delta!r} executed"
    out = taken_out(proposal)
    if out:
        fleet = state.fleets.get(proposal.service)
        if fleet is None or fleet.size == 0:
            yield "capacity taken from a fleet of unknown size"
            return
        busy = sum(e.out_of_service for e in running if e.service == proposal.service)
        if busy + out > limits.max_fleet_share * fleet.size + 1e-9:
            yield f"{busy + out} of {fleet.size} out at once"
        floor = max(limits.min_healthy, math.ceil(limits.min_healthy_share * fleet.size - 1e-9))
        if fleet.healthy - busy - out < floor:
            yield f"healthy {fleet.healthy - busy - out} under the floor {floor}"


def _precondition_violations(
    policy: Policy, entry: ActionPolicy, proposal: Proposal, now: datetime
) -> Iterable[str]:
    pre = entry.preconditions
    if pre.categories and proposal.category not in pre.categories:
        yield "category outside the preconditions"
    if not proposal.confidence >= pre.min_confidence:
        yield "confidence under the floor"
    if pre.service_tiers and proposal.service_tier not in pre.service_tiers:
        yield "service tier outside the preconditions"
    if pre.hours is not Hours.ANY:
        local = now.astimezone(policy.zone)
        hours = policy.business_hours
        inside = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
            local.weekday()
        ] in hours.days and hours.start <= local.time() < hours.end
        if inside != (pre.hours is Hours.BUSINESS):
            yield "ran outside its hours"


def violations(
    policy: Policy,
    proposal: Proposal,
    state: State,
    now: datetime,
    decision: Decision,
    *,
    at_run: bool,
) -> list[str]:
    """The properties ``decision`` breaks; ``at_run``: it came from ``may_execute``."""
    found: list[str] = []
    outcome = decision.outcome
    entry = policy.actions.get(proposal.action)
    stopped = any(
        a.proposal_id == proposal.id and a.verdict is not Verdict.APPROVE for a in state.approvals
    )
    must_refuse = {
        "an empty or wildcard target": not proposal.targets
        or not all(map(explicit, proposal.targets)),
        "an action outside the catalog": entry is None,
        "a kill switch": policy.kill_switch or state.tenant_kill_switch or state.global_kill_switch,
        "a change freeze": _frozen(policy, proposal, state, now),
    }
    found.extend(
        f"{outcome} under {why}"
        for why, holds in must_refuse.items()
        if holds and outcome is not Outcome.REFUSED
    )
    if entry is None:
        return found
    if entry.mode is Mode.SHADOW and outcome in _LIVE:
        found.append(f"{outcome} for a shadow-mode action")
    if outcome is Outcome.SHADOW and (entry.mode is not Mode.SHADOW or at_run):
        found.append("shadow outcome for an active action or at run time")
    if outcome in {Outcome.ANNOUNCE, Outcome.AWAIT_APPROVAL} and at_run:
        found.append(f"{outcome} at run time")
    expected_wait = {Tier.MEDIUM: Outcome.ANNOUNCE, Tier.HIGH: Outcome.AWAIT_APPROVAL}
    if outcome in expected_wait.values() and expected_wait.get(entry.tier) is not outcome:
        found.append(f"{outcome} for a {entry.tier}-risk action")
    if outcome is not Outcome.EXECUTE_NOW:
        return found
    if not at_run and entry.tier is not Tier.LOW:
        found.append(f"{entry.tier}-risk action executed without waiting")
    if at_run and stopped:
        found.append("executed after a Stop or Reject")
    if (
        at_run
        and entry.tier is Tier.HIGH
        and not _authorised_approval(policy, entry, proposal, state, now)
    ):
        found.append("high-risk action executed without an authorised, unexpired approval")
    if (
        at_run
        and entry.tier is Tier.MEDIUM
        and now < proposal.proposed_at + timedelta(seconds=entry.announce_seconds)
    ):
        found.append("medium-risk action executed inside its announce window")
    found.extend(_precondition_violations(policy, entry, proposal, now))
    found.extend(_limit_violations(policy, entry, proposal, state, now))
    return found


# --- concurrent incidents ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One proposal of a busy stretch: when it arrives, when the orchestrator would
    run it (after the window or the approval), how long it runs, and the
    responders' answers."""

    proposal: Proposal
    run_after: timedelta
    duration: timedelta
    answers: tuple[Approval, ...] = ()


@dataclass(slots=True)
class Outcomes:
    decisions: int = 0
    executions: int = 0
    violations: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Run:
    """One execution of a history, as ``history_violations`` judges it."""

    action: str
    service: str
    start: datetime
    end: datetime
    out: int


def simulate(policy: Policy, state: State, steps: Sequence[Step]) -> Outcomes:
    """Play ``steps`` in time order against one tenant, as its orchestrations would
    (one decision at a time, as admission serialises their runs).

    ``decide`` at each arrival; ``may_execute`` when the orchestrator would
    run a waiting one; each execution enters the state (running until it
    ends, counted for the hour after). Every decision is judged by
    ``violations``, and the resulting history by ``history_violations``.
    """
    result = Outcomes()
    runs: list[Run] = []
    answers: list[Approval] = []
    # (time, order, kind, index): arrivals and run attempts, in time order.
    queue: list[tuple[datetime, int, str, int]] = [
        (s.proposal.proposed_at, i, "propose", i) for i, s in enumerate(steps)
    ]
    heapq.heapify(queue)
    order = len(steps)
    while queue:
        now, _, kind, i = heapq.heappop(queue)
        step = steps[i]
        answers.extend(a for a in step.answers if a.at <= now and a not in answers)
        current = _state_at(state, runs, answers, now)
        judge = decide if kind == "propose" else may_execute
        decision = judge(policy, step.proposal, current, now)
        result.decisions += 1
        result.violations.extend(
            f"{step.proposal.id} ({kind}): {v}"
            for v in violations(policy, step.proposal, current, now, decision, at_run=kind == "run")
        )
        if decision.outcome in {Outcome.ANNOUNCE, Outcome.AWAIT_APPROVAL}:
            order += 1
            heapq.heappush(queue, (now + step.run_after, order, "run", i))
        elif decision.executes:
            result.executions += 1
            p = step.proposal
            runs.append(Run(p.action, p.service, now, now + step.duration, taken_out(p)))
    result.violations.extend(history_violations(policy, state, runs))
    return result


def _state_at(state: State, runs: list[Run], answers: list[Approval], now: datetime) -> State:
    hour_ago = now - timedelta(hours=1)
    executions = tuple(
        Execution(
            action=r.action,
            service=r.service,
            started_at=r.start,
            out_of_service=r.out,
            running=r.end > now,
        )
        for r in runs
        if r.end > now or r.start > hour_ago
    )
    return state.model_copy(
        update={
            "executions": (*state.executions, *executions),
            "approvals": (*state.approvals, *answers),
        }
    )


def history_violations(policy: Policy, state: State, runs: Sequence[Run]) -> list[str]:
    """Limits over the whole history: at each start, what else was running or recent."""
    found = []
    for r in runs:
        entry = policy.actions[r.action]
        limits = entry.limits
        hour = [
            o
            for o in runs
            if o.action == r.action
            and o.service == r.service
            and r.start - timedelta(hours=1) < o.start <= r.start
        ]
        if len(hour) > limits.per_service_per_hour:
            found.append(f"{len(hour)} {r.action} on {r.service} within an hour")
        during = [o for o in runs if o.start <= r.start < o.end]
        if len(during) > policy.limits.max_concurrent:
            found.append(f"{len(during)} actions running at once in the tenant")
        if sum(o.action == r.action for o in during) > limits.max_concurrent:
            found.append(f"{r.action} running more than {limits.max_concurrent} at once")
        fleet = state.fleets.get(r.service)
        out = sum(o.out for o in during if o.service == r.service)
        if r.out and fleet is not None:
            if out > limits.max_fleet_share * fleet.size + 1e-9:
                found.append(f"{out} of {fleet.size} of {r.service} out at once")
            floor = max(limits.min_healthy, math.ceil(limits.min_healthy_share * fleet.size - 1e-9))
            if fleet.healthy - out < floor:
                found.append(f"{r.service} down to {fleet.healthy - out} healthy (floor {floor})")
    return found
