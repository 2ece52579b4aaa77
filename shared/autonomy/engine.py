"""The policy engine: (policy, proposal, state, time) -> a decision with its reasons.

Pure: no store, no clock, no I/O. The caller reads the state and the time and
passes them in, so an orchestrator can call it from an activity and a test or
the benchmark can call it a million times.

``decide`` answers when an action is proposed: ``refused``, ``shadow`` (the
action would have run: record it, do nothing), ``execute_now`` (low risk),
``announce`` (medium: runs after the announce window unless stopped) or
``await_approval`` (high: an approver must say yes before it expires).

``may_execute`` answers right before running: everything is checked again
(state may have changed during a wait), and for medium risk the window must
have passed without a Stop, for high risk an approver listed in the policy
must have approved in time, with no rejection. Only ``execute_now`` lets an
executor act.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field

from shared.autonomy.policy import (
    CAPACITY_PER_TARGET,
    ActionPolicy,
    Hours,
    Mode,
    Policy,
    Tier,
    Window,
    announce_window,
    approval_expiry,
)
from shared.models.base import Model, UtcDatetime

HOUR = timedelta(hours=1)

_TARGET = re.compile(
    r"^[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?(/[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?)?$"
)
"""A Kubernetes-style name, optionally ``namespace/name``: no selector, no pattern."""
_MATCH_ALL = frozenset({"all", "any", "everything", "every", "none", "null", "default"})


class Outcome(StrEnum):
    REFUSED = "refused"
    SHADOW = "shadow"
    EXECUTE_NOW = "execute_now"
    ANNOUNCE = "announce"
    AWAIT_APPROVAL = "await_approval"


class Verdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    STOP = "stop"


class Proposal(Model):
    """One proposed run of a catalog action on explicitly named targets.

    ``service`` names the fleet the targets belong to (a deployment's
    replicas, a node pool for ``drain_node``); ``proposed_at`` starts the
    announce window and the approval's expiry.
    """

    id: str = Field(min_length=1)
    incident_id: str
    action: str
    service: str
    targets: tuple[str, ...]
    params: dict[str, Any] = {}
    category: str
    confidence: float
    service_tier: int | None = None
    proposed_at: UtcDatetime

    @property
    def replica_delta(self) -> int | None:
        value = self.params.get("delta")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class Execution(Model):
    """An execution the tenant started (running or finished), for rate and concurrency."""

    action: str
    service: str
    started_at: UtcDatetime
    out_of_service: int = 0
    """Fleet members it takes out while running (pods restarting, nodes drained, replicas gone)."""
    running: bool = True


class Fleet(Model):
    size: int = Field(ge=0)
    healthy: int = Field(ge=0)


class Approval(Model):
    """A responder's answer to a proposal: approve / reject (high), stop (medium)."""

    proposal_id: str
    user: str
    verdict: Verdict
    at: UtcDatetime


class State(Model):
    """What the engine needs to know of the world, read just before deciding."""

    executions: tuple[Execution, ...] = ()
    fleets: dict[str, Fleet] = {}
    freezes: tuple[Window, ...] = ()
    """Freezes declared live (besides the policy's scheduled ones)."""
    tenant_kill_switch: bool = False
    global_kill_switch: bool = False
    kill_switch_notes: dict[str, str] = {}
    """Who set a switch, when and why (``global`` / ``tenant``), for the refusal's reason."""
    approvals: tuple[Approval, ...] = ()


class Decision(Model):
    """A verdict as a value; ``reasons`` are one line each, for Slack and the audit."""

    outcome: Outcome
    reasons: tuple[str, ...]
    action: str
    tier: Tier | None = None
    would: Outcome | None = None
    """In shadow mode: what active mode would have done."""
    approvers: tuple[str, ...] = ()
    not_before: UtcDatetime | None = None
    """Announce: when it may run if nobody stops it."""
    expires_at: UtcDatetime | None = None
    """Await approval: when the request lapses."""
    approved_by: str | None = None

    @property
    def executes(self) -> bool:
        return self.outcome is Outcome.EXECUTE_NOW

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def _at(moment: datetime) -> str:
    """A time as a reason line shows it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- checks -------------------------------------------------------------------------
# Each returns (failures, notes): a failure refuses, a note explains a pass.

Lines = list[str]


def out_of_service(proposal: Proposal) -> int:
    """Fleet members the proposal takes out while it runs."""
    if proposal.action in CAPACITY_PER_TARGET:
        return len(proposal.targets)
    if proposal.action == "scale_replicas":
        delta = proposal.replica_delta
        return max(0, -delta) if delta is not None else 0
    return 0


def target_problem(target: str) -> str | None:
    """Why a target is not one explicit object, or None when it is."""
    if _TARGET.match(target) and target not in _MATCH_ALL:
        return None
    if not target.strip():
        return "an empty target"
    if target.strip().lower() in _MATCH_ALL or any(c in target for c in "*?[]{}"):
        return f"target {target!r} is a wildcard"
    if any(c in target for c in "=!,()~ "):
        return f"target {target!r} is a selector, not a name"
    return f"target {target!r} is not a resource name"


def _check_targets(proposal: Proposal, entry: ActionPolicy, fails: Lines, notes: Lines) -> None:
    if not proposal.service.strip() or target_problem(proposal.service) is not None:
        fails.append(f"service {proposal.service!r} is not one explicit service")
    if not proposal.targets:
        fails.append("no target named: an empty target list never means everything")
        return
    problems = [p for p in map(target_problem, proposal.targets) if p is not None]
    fails.extend(f"{p}: targets must be named one by one" for p in problems)
    if len(set(proposal.targets)) != len(proposal.targets):
        fails.append("a target is named twice")
    if len(proposal.targets) > entry.limits.max_targets:
        fails.append(
            f"{len(proposal.targets)} targets, over the limit of {entry.limits.max_targets} "
            "per proposal"
        )
    if not problems:
        notes.append(f"targets: {', '.join(proposal.targets)}")


def _check_switches(policy: Policy, state: State, fails: Lines) -> None:
    notes = {k: f" ({v})" for k, v in state.kill_switch_notes.items() if v}
    if state.global_kill_switch:
        fails.append("the global kill switch is on" + notes.get("global", ""))
    if state.tenant_kill_switch:
        fails.append("the tenant's kill switch is on" + notes.get("tenant", ""))
    elif policy.kill_switch:
        fails.append("the tenant's kill switch is on (the policy's kill_switch: true)")


def _check_freezes(policy: Policy, proposal: Proposal, state: State, now: datetime) -> Lines:
    return [
        f"change freeze until {_at(w.end)}" + (f" ({w.reason})" if w.reason else "")
        for w in (*policy.freezes, *state.freezes)
        if w.covers(now, proposal.service)
    ]


def _check_preconditions(
    policy: Policy, entry: ActionPolicy, proposal: Proposal, now: datetime, fails: Lines
) -> None:
    pre = entry.preconditions
    if pre.categories and proposal.category not in pre.categories:
        fails.append(
            f"hypothesis category {proposal.category} is not one of {', '.join(pre.categories)}"
        )
    if not proposal.confidence >= pre.min_confidence:
        fails.append(f"confidence {proposal.confidence:.2f} is below {pre.min_confidence:.2f}")
    if pre.service_tiers and proposal.service_tier not in pre.service_tiers:
        shown = "unknown" if proposal.service_tier is None else str(proposal.service_tier)
        fails.append(f"service tier {shown} is not one of {', '.join(map(str, pre.service_tiers))}")
    if pre.hours is not Hours.ANY:
        local = now.astimezone(policy.zone)
        inside = policy.business_hours.contains(local)
        if inside != (pre.hours is Hours.BUSINESS):
            when = "in" if pre.hours is Hours.BUSINESS else "outside"
            fails.append(f"runs only {when} business hours ({local:%a %H:%M} {policy.timezone})")


def _check_limits(
    policy: Policy,
    entry: ActionPolicy,
    proposal: Proposal,
    state: State,
    now: datetime,
    fails: Lines,
    notes: Lines,
) -> None:
    limits = entry.limits
    since = now - HOUR
    same = [
        e
        for e in state.executions
        if e.action == proposal.action and e.service == proposal.service and e.started_at > since
    ]
    if len(same) + 1 > limits.per_service_per_hour:
        fails.append(
            f"{proposal.action} ran {len(same)} times on {proposal.service} in the last hour "
            f"(limit {limits.per_service_per_hour})"
        )
    else:
        notes.append(
            f"run {len(same) + 1} of {limits.per_service_per_hour} this hour on {proposal.service}"
        )
    running = [e for e in state.executions if e.running]
    mine = sum(1 for e in running if e.action == proposal.action)
    if mine + 1 > limits.max_concurrent:
        fails.append(
            f"{mine} {proposal.action} already running (limit {limits.max_concurrent} at once)"
        )
    if len(running) + 1 > policy.limits.max_concurrent:
        fails.append(
            f"{len(running)} actions already running in the tenant "
            f"(limit {policy.limits.max_concurrent} at once)"
        )
    if proposal.action == "scale_replicas":
        delta = proposal.replica_delta
        if delta is None or delta == 0:
            fails.append("scale_replicas needs a non-zero whole 'delta' parameter")
        elif abs(delta) > limits.max_replica_delta:
            fails.append(
                f"replica delta {delta:+d} is over the limit of ±{limits.max_replica_delta}"
            )
    taken = out_of_service(proposal)
    if taken == 0:
        return
    fleet = state.fleets.get(proposal.service)
    if fleet is None or fleet.size == 0:
        fails.append(f"fleet size and health of {proposal.service} are unknown")
        return
    busy = sum(e.out_of_service for e in running if e.service == proposal.service)
    share = (busy + taken) / fleet.size
    if share > limits.max_fleet_share:
        fails.append(
            f"would have {busy + taken} of {fleet.size} of {proposal.service} out at once "
            f"({share:.0%}, limit {limits.max_fleet_share:.0%})"
        )
    left = fleet.healthy - busy - taken
    floor = max(limits.min_healthy, _ceil_share(limits.min_healthy_share, fleet.size))
    if left < floor:
        fails.append(
            f"would leave {left} healthy of {fleet.size} in {proposal.service} (floor {floor})"
        )
    elif share <= limits.max_fleet_share:
        notes.append(f"{left} of {fleet.size} stay healthy (floor {floor})")


def _ceil_share(share: float, size: int) -> int:
    exact = share * size
    whole = int(exact)
    return whole + (1 if exact > whole + 1e-9 else 0)


def _evaluate(
    policy: Policy, proposal: Proposal, state: State, now: datetime
) -> tuple[ActionPolicy | None, Lines, Lines]:
    """Every check that holds whatever the tier: (the action's entry, failures, notes)."""
    fails: Lines = []
    notes: Lines = []
    _check_switches(policy, state, fails)
    entry = policy.actions.get(proposal.action)
    if entry is None:
        fails.append(f"{proposal.action} is not in the tenant's action catalog: not allowed")
        if not proposal.targets or any(map(target_problem, proposal.targets)):
            fails.append("no target named, or a wildcard: targets must be named one by one")
        return None, fails, notes
    _check_targets(proposal, entry, fails, notes)
    fails.extend(_check_freezes(policy, proposal, state, now))
    _check_preconditions(policy, entry, proposal, now, fails)
    _check_limits(policy, entry, proposal, state, now, fails, notes)
    return entry, fails, notes


def _refused(proposal: Proposal, entry: ActionPolicy | None, fails: Lines) -> Decision:
    return Decision(
        outcome=Outcome.REFUSED,
        reasons=tuple(fails),
        action=proposal.action,
        tier=entry.tier if entry else None,
    )


def _shadowed(decision: Decision) -> Decision:
    said = {
        Outcome.EXECUTE_NOW: "would have run now",
        Outcome.ANNOUNCE: "would have been announced",
        Outcome.AWAIT_APPROVAL: "would have asked for approval",
    }[decision.outcome]
    return decision.model_copy(
        update={
            "outcome": Outcome.SHADOW,
            "would": decision.outcome,
            "reasons": (f"shadow mode: recorded only; {said}", *decision.reasons),
        }
    )


def decide(policy: Policy, proposal: Proposal, state: State, now: datetime) -> Decision:
    """What to do with a new proposal."""
    entry, fails, notes = _evaluate(policy, proposal, state, now)
    if entry is None or fails:
        return _refused(proposal, entry, fails)
    name = proposal.action
    if entry.tier is Tier.LOW:
        decision = Decision(
            outcome=Outcome.EXECUTE_NOW,
            reasons=(f"{name} is low risk: runs now", *notes),
            action=name,
            tier=entry.tier,
        )
    elif entry.tier is Tier.MEDIUM:
        at = now + announce_window(entry)
        decision = Decision(
            outcome=Outcome.ANNOUNCE,
            reasons=(
                f"{name} is medium risk: runs at {_at(at)} unless someone presses Stop",
                *notes,
            ),
            action=name,
            tier=entry.tier,
            not_before=at,
        )
    else:
        approvers = policy.approvers_for(name)
        expires = now + approval_expiry(entry)
        decision = Decision(
            outcome=Outcome.AWAIT_APPROVAL,
            reasons=(
                f"{name} is high risk: needs an approval from {', '.join(approvers)} "
                f"by {_at(expires)}",
                *notes,
            ),
            action=name,
            tier=entry.tier,
            approvers=approvers,
            expires_at=expires,
        )
    return _shadowed(decision) if entry.mode is Mode.SHADOW else decision


def _answers(state: State, proposal: Proposal) -> list[Approval]:
    return sorted((a for a in state.approvals if a.proposal_id == proposal.id), key=lambda a: a.at)


def _medium_gate(entry: ActionPolicy, proposal: Proposal, now: datetime, fails: Lines) -> Lines:
    at = proposal.proposed_at + announce_window(entry)
    if now < at:
        fails.append(f"the announce window is open until {_at(at)}")
    return [f"announced at {_at(proposal.proposed_at)}; nobody pressed Stop"]


def _high_gate(
    policy: Policy,
    entry: ActionPolicy,
    proposal: Proposal,
    state: State,
    now: datetime,
    fails: Lines,
) -> tuple[Lines, str | None]:
    """An approval counts when its user is an approver, it came before the
    request expired, and it is itself younger than the expiry."""
    approvers = policy.approvers_for(proposal.action)
    expiry = approval_expiry(entry)
    deadline = proposal.proposed_at + expiry
    answers = _answers(state, proposal)
    valid: list[Approval] = []
    ignored: Lines = []
    for a in answers:
        if a.verdict is not Verdict.APPROVE:
            continue
        if a.user not in approvers:
            ignored.append(f"{a.user} approved but is not an approver of {proposal.action}")
        elif not proposal.proposed_at <= a.at <= deadline:
            ignored.append(f"{a.user}'s approval at {_at(a.at)} came after the request expired")
        elif not a.at <= now <= a.at + expiry:
            ignored.append(f"{a.user}'s approval at {_at(a.at)} has expired")
        else:
            valid.append(a)
    if not valid:
        fails.append(f"no valid approval from {', '.join(approvers)}")
        fails.extend(ignored)
        return [], None
    return [f"approved by {valid[0].user} at {_at(valid[0].at)}"], valid[0].user


def may_execute(policy: Policy, proposal: Proposal, state: State, now: datetime) -> Decision:
    """Right before running: may this proposal run now, under today's policy and state?

    Everything ``decide`` checked is checked again, and the tier's gate on top:
    the announce window passed without a Stop (medium), an authorised and
    unexpired approval without a rejection (high).
    """
    entry, fails, notes = _evaluate(policy, proposal, state, now)
    if entry is None:
        return _refused(proposal, entry, fails)
    approved_by = None
    gate: Lines = []
    if entry.mode is Mode.SHADOW:
        fails.append(f"{proposal.action} is in shadow mode: it never runs")
    # A Stop or a Reject from anyone blocks whatever the tier: blocking is always safe.
    fails.extend(
        f"{'stopped' if a.verdict is Verdict.STOP else 'rejected'} by {a.user} at {_at(a.at)}"
        for a in _answers(state, proposal)
        if a.verdict is not Verdict.APPROVE
    )
    if entry.tier is Tier.MEDIUM:
        gate = _medium_gate(entry, proposal, now, fails)
    elif entry.tier is Tier.HIGH:
        gate, approved_by = _high_gate(policy, entry, proposal, state, now, fails)
    if fails:
        return _refused(proposal, entry, fails)
    return Decision(
        outcome=Outcome.EXECUTE_NOW,
        reasons=(f"{proposal.action} ({entry.tier} risk) may run now", *gate, *notes),
        action=proposal.action,
        tier=entry.tier,
        approved_by=approved_by,
    )
