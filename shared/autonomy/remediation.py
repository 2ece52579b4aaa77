"""The remediation orchestration's steps (one Durable activity each; ``functions/remediation.py``).

    open     plan with the executor, move the record on by the policy's
             decision (shadowed / announced / awaiting_approval; a low-risk
             one stays proposed and runs), post the message in the incident's
             thread (nothing in shadow mode)
    settle   after a Stop / Reject / Approve event: what the record says now;
             update the message and, when it will not run, the thread
    expire   the approval window closed: awaiting_approval -> expired
    begin    right before running: the baseline health; ``may_execute`` on the
             policy and the state read now, and the claim on the tenant's
             limits, in one conditional write (``admission``); -> executing
             (or failed, refused, with the reasons)
    execute  the executor, idempotency key = proposal id + attempt
    verify   after the settle time: readiness and the health against the baseline
    undo     the executor's undo, when verify found it worse
    finish   -> verified / rolled_back / failed, the claim released, the
             outcome in the thread

Every step reads the record first and is safe to run again: a state move is
conditional (``actions.transition``), audit records carry idempotency keys,
the executor honours its key, and a message is posted once (its location
kept on the record) and then updated.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from shared.autonomy import actions, admission
from shared.autonomy.actions import ActionRecord, ActionState
from shared.autonomy.engine import Decision, Execution, may_execute, out_of_service
from shared.autonomy.policies import load_policy
from shared.autonomy.proposals import (
    ProposeDeps,
    approvals_of,
    fleet_reason,
    observe,
    proposal_of,
    state_for,
)
from shared.autonomy.verification import judge, read_health
from shared.errors import Conflict, NotFound
from shared.models.base import iso
from shared.models.incident import Incident
from shared.models.tenant import Tenant
from shared.notify.remediation_message import outcome_line, render_proposal
from shared.ports.chat import ChatPort, PostedMessage
from shared.ports.executor import ActionRequest, ExecutionResult, ExecutionStatus, Executor
from shared.ports.metrics import MetricsSource
from shared.ports.store import Container

log = logging.getLogger("sre_copilot.autonomy.remediation")

S = ActionState


class RemediationDeps(ProposeDeps, Protocol):
    def chat_for(self, tenant: Tenant) -> ChatPort: ...

    def metrics_for(self, tenant: Tenant) -> MetricsSource | None: ...

    def executor_for(self, tenant: Tenant) -> Executor: ...


def _record(deps: RemediationDeps, tenant_id: str, proposal_id: str) -> ActionRecord:
    record = actions.load(deps.store, tenant_id, proposal_id)
    if record is None:
        raise NotFound(f"no remediation action {proposal_id}")
    return record


def request_of(record: ActionRecord) -> ActionRequest:
    return ActionRequest(
        tenant_id=record.tenant_id,
        incident_id=record.incident_id,
        action=record.action,
        target=record.target,
        params=record.params,
        idempotency_key=record.idempotency_key,
    )


def _incident(deps: RemediationDeps, record: ActionRecord) -> Incident | None:
    doc = deps.store.get(Container.INCIDENTS, record.tenant_id, record.incident_id)
    return None if doc is None else Incident.from_doc(doc)


# --- Slack --------------------------------------------------------------------------


def _incident_message(deps: RemediationDeps, record: ActionRecord) -> PostedMessage | None:
    doc = deps.store.get(Container.MESSAGES, record.tenant_id, f"incident:{record.incident_id}")
    return None if doc is None else PostedMessage.model_validate(doc["posted"])


def show(deps: RemediationDeps, record: ActionRecord) -> ActionRecord:
    """Post the proposal's message in the incident's thread once, then update it in place."""
    tenant = deps.tenants.get(record.tenant_id)
    chat = deps.chat_for(tenant)
    message = render_proposal(record)
    if record.posted is not None:
        chat.update(message, posted=PostedMessage.model_validate(record.posted))
        return record
    parent = _incident_message(deps, record)
    if parent is not None:
        posted = chat.reply_in_thread(
            parent, f"Remediation proposed: {record.action} on {record.target}", message.blocks
        )
    else:
        posted = chat.post(message, channel=tenant.slack_channel_id)
    return (
        actions.amend(
            deps.store, record.tenant_id, record.id, {"posted": posted.model_dump(mode="json")}
        )
        or record
    )


def tell_thread(deps: RemediationDeps, record: ActionRecord) -> None:
    """The outcome as one line in the incident's thread (once per final state)."""
    marker = {
        "id": f"timeline:remediation:{record.id}:{record.state.value}",
        "tenantId": record.tenant_id,
        "ttl": 30 * 24 * 3600,
    }
    try:
        deps.store.create(Container.MESSAGES, record.tenant_id, marker)
    except Conflict:
        return  # told by an earlier attempt of this activity
    parent = _incident_message(deps, record)
    if parent is None:
        return
    chat = deps.chat_for(deps.tenants.get(record.tenant_id))
    chat.reply_in_thread(parent, outcome_line(record))


# --- steps --------------------------------------------------------------------------


def open_(deps: RemediationDeps, tenant_id: str, proposal_id: str) -> dict[str, Any]:
    """Plan, move by the decision, post. ``{"next": "execute" | "announce" | "approval" | "done",
    "deadline": iso | None}``."""
    record = _record(deps, tenant_id, proposal_id)
    now = deps.clock.now()
    if record.state is not S.PROPOSED:
        return _resume(record)
    tenant = deps.tenants.get(tenant_id)
    plan = deps.executor_for(tenant).plan(request_of(record))
    record = (
        actions.amend(deps.store, tenant_id, proposal_id, {"plan": plan.model_dump(mode="json")})
        or record
    )
    if record.mode == "shadow":
        moved, _ = actions.transition(
            deps.store, tenant_id, proposal_id, S.SHADOWED, now=now, reason=record.reasons[0]
        )
        if moved is not None:
            actions.audit(deps.store, moved, "shadowed", now=now, detail={"plan": plan.summary})
        return {"next": "done", "deadline": None}
    if not plan.feasible:
        failed, _ = actions.transition(
            deps.store,
            tenant_id,
            proposal_id,
            S.FAILED,
            now=now,
            reason=f"not feasible: {plan.reason}",
        )
        if failed is not None:
            actions.audit(deps.store, failed, "failed", now=now, detail={"reason": plan.reason})
            show(deps, failed)
            tell_thread(deps, failed)
        return {"next": "done", "deadline": None}
    to = {"low": None, "medium": S.ANNOUNCED, "high": S.AWAITING_APPROVAL}[record.tier or "high"]
    if to is not None:
        moved, _ = actions.transition(
            deps.store, tenant_id, proposal_id, to, now=now, reason=record.reasons[0]
        )
        record = moved or record
        actions.audit(deps.store, record, to.value, now=now, detail={"plan": plan.summary})
    show(deps, record)
    return _resume(_record(deps, tenant_id, proposal_id))


def _resume(record: ActionRecord) -> dict[str, Any]:
    """What the orchestration does next for a record in this state."""
    if record.state is S.PROPOSED:
        return {"next": "execute", "deadline": None}
    if record.state is S.ANNOUNCED:
        return {
            "next": "announce",
            "deadline": iso(record.not_before) if record.not_before else None,
        }
    if record.state is S.AWAITING_APPROVAL:
        return {
            "next": "approval",
            "deadline": iso(record.expires_at) if record.expires_at else None,
        }
    if record.state in (S.APPROVED, S.EXECUTING):
        return {"next": "execute", "deadline": None}
    return {"next": "done", "deadline": None}


def settle(deps: RemediationDeps, tenant_id: str, proposal_id: str) -> dict[str, Any]:
    """After an answer event: ``{"go": bool}``; the message and thread say what happened."""
    record = _record(deps, tenant_id, proposal_id)
    show(deps, record)
    if record.state in (S.APPROVED, S.EXECUTING):
        return {"go": True}
    if record.state.terminal:
        tell_thread(deps, record)
        return {"go": False}
    return {"go": False, "waiting": True}  # nothing decided yet (an event without an answer)


def expire(deps: RemediationDeps, tenant_id: str, proposal_id: str) -> dict[str, Any]:
    """The approval request lapsed; an approval that landed first still counts (``go``)."""
    now = deps.clock.now()
    record, moved = actions.transition(
        deps.store,
        tenant_id,
        proposal_id,
        S.EXPIRED,
        now=now,
        reason="nobody approved before the request expired",
        allowed_from=frozenset({S.AWAITING_APPROVAL}),
    )
    if record is None:
        raise NotFound(f"no remediation action {proposal_id}")
    if moved:
        actions.audit(deps.store, record, "expired", now=now)
    return settle(deps, tenant_id, proposal_id)


def begin(deps: RemediationDeps, tenant_id: str, proposal_id: str) -> dict[str, Any]:
    """Check everything again, take the baseline, and move to executing: ``{"go": bool}``.

    The re-check and the claim on the tenant's limits are one conditional write
    (``admission.admit``): proposals beginning at the same instant take turns,
    so concurrency, fleet-share and healthy-floor limits hold between them.
    """
    record = _record(deps, tenant_id, proposal_id)
    if record.state is S.EXECUTING:
        return {"go": True}  # a retried activity: the first attempt moved it
    if record.state.terminal:  # a Stop won, or an earlier attempt refused it: nothing to claim
        return settle(deps, tenant_id, proposal_id) | {"go": False}
    now = deps.clock.now()
    tenant = deps.tenants.get(tenant_id)
    stored = load_policy(deps.store, tenant_id)
    if stored is None:
        return _refuse(deps, record, ("the tenant's policy is gone: nothing may run",), now)
    proposal = proposal_of(record)
    # The fleet as the cluster shows it now when the executor can tell, else the
    # topology. Ready replicas already miss pods a running restart took out, which
    # the engine subtracts again: counted twice, the floor errs on the safe side.
    live = observe(deps.executor_for(tenant), proposal)
    # Read before the switches and the claim: what follows is store reads and
    # two quick writes, so a kill switch flipped meanwhile is seen.
    baseline = read_health(deps.metrics_for(tenant), record.service, now, tenant.signal_overrides)
    state = state_for(
        deps.store,
        tenant,
        _incident(deps, record),
        record.id,
        approvals_of(record),
        now,
        live={proposal.service: live.fleet} if live.fleet is not None else None,
        kill_switch_setting=deps.settings.autonomy_kill_switch,
        executions=(),  # judged against admission's claims instead (``judge``)
    )
    fleet_line = fleet_reason(proposal, state, live)

    def judge(executions: tuple[Execution, ...]) -> Decision:
        decision = may_execute(
            stored.policy, proposal, state.model_copy(update={"executions": executions}), now
        )
        if fleet_line is None:
            return decision
        return decision.model_copy(update={"reasons": (*decision.reasons, fleet_line)})

    taken = out_of_service(proposal)
    admitted = admission.admit(deps.store, record, taken, judge, now)
    verdict = admitted.decision
    if not admitted.admitted:
        return _refuse(deps, record, verdict.reasons, now)
    moved_record, moved = actions.transition(
        deps.store,
        tenant_id,
        proposal_id,
        S.EXECUTING,
        now=now,
        reason="; ".join(verdict.reasons[:2]),
        allowed_from=frozenset({S.PROPOSED, S.ANNOUNCED, S.APPROVED}),
        changes={"executed_at": iso(now), "baseline": baseline, "out_of_service": taken},
    )
    if moved_record is None or not moved:
        if moved_record is not None and moved_record.state is S.EXECUTING:
            # A duplicate run of this activity moved it first: whichever result
            # Durable keeps must go on, or the record stays executing for good
            # (execute is idempotent by key).
            return {"go": True}
        # A Stop won the race for the record: it does not run, its claim goes.
        admission.release(deps.store, tenant_id, proposal_id, now, ran=False)
        return settle(deps, tenant_id, proposal_id) | {"go": False}
    actions.audit(
        deps.store,
        moved_record,
        "execution_started",
        now=now,
        detail={
            "reasons": list(verdict.reasons),
            "approved_by": verdict.approved_by,
            "baseline": baseline,
            "admission": {"attempts": admitted.attempts, "running": admitted.running},
        },
    )
    show(deps, moved_record)
    return {"go": True}


def _refuse(
    deps: RemediationDeps, record: ActionRecord, reasons: tuple[str, ...], now: datetime
) -> dict[str, Any]:
    """Refused right before running: ``failed`` with the reasons, audited, told."""
    failed, moved = actions.transition(
        deps.store,
        record.tenant_id,
        record.id,
        S.FAILED,
        now=now,
        reason="refused right before running: " + "; ".join(reasons),
        allowed_from=frozenset({S.PROPOSED, S.ANNOUNCED, S.APPROVED}),
        changes={"reasons": list(reasons)},
    )
    current = failed or record
    if moved:
        actions.audit(
            deps.store,
            current,
            "refused",
            now=now,
            detail={"reasons": list(reasons)},
            key=f"{record.id}:refused-at-run",
        )
    show(deps, current)
    tell_thread(deps, current)
    return {"go": False}


def execute(deps: RemediationDeps, tenant_id: str, proposal_id: str) -> dict[str, Any]:
    """Run the action once (the executor keys it); ``{"status": "succeeded" | "failed"}``."""
    record = _record(deps, tenant_id, proposal_id)
    executor = deps.executor_for(deps.tenants.get(tenant_id))
    result = executor.execute(request_of(record))  # ExecutorUnavailable: the activity retries
    record = (
        actions.amend(
            deps.store, tenant_id, proposal_id, {"result": result.model_dump(mode="json")}
        )
        or record
    )
    actions.audit(
        deps.store,
        record,
        "executed",
        now=deps.clock.now(),
        detail={
            "status": result.status.value,
            "detail": result.detail,
            "key": result.idempotency_key,
        },
    )
    return {"status": result.status.value, "detail": result.detail}


def verify(deps: RemediationDeps, tenant_id: str, proposal_id: str) -> dict[str, Any]:
    """Readiness and health against the baseline: ``{"worse": bool, "reasons": [...]}``."""
    record = _record(deps, tenant_id, proposal_id)
    tenant = deps.tenants.get(tenant_id)
    now = deps.clock.now()
    result = _result(record)
    readiness = deps.executor_for(tenant).readiness(request_of(record), result)
    after = read_health(deps.metrics_for(tenant), record.service, now, tenant.signal_overrides)
    verdict = judge(record.baseline, after, ready=readiness.done, readiness=readiness.detail)
    body = {**verdict.to_json(), "after": after}
    record = actions.amend(deps.store, tenant_id, proposal_id, {"verification": body}) or record
    actions.audit(deps.store, record, "verification", now=now, detail=verdict.to_json())
    return verdict.to_json()


def undo(deps: RemediationDeps, tenant_id: str, proposal_id: str) -> dict[str, Any]:
    record = _record(deps, tenant_id, proposal_id)
    executor = deps.executor_for(deps.tenants.get(tenant_id))
    result = executor.undo(request_of(record), _result(record))
    record = (
        actions.amend(
            deps.store, tenant_id, proposal_id, {"undo_result": result.model_dump(mode="json")}
        )
        or record
    )
    actions.audit(
        deps.store,
        record,
        "undone",
        now=deps.clock.now(),
        detail={"status": result.status.value, "detail": result.detail},
    )
    return {"status": result.status.value, "detail": result.detail}


def finish(
    deps: RemediationDeps, tenant_id: str, proposal_id: str, state: str, reason: str
) -> dict[str, Any]:
    """Executing -> ``state`` (verified / rolled_back / failed); the outcome in the thread.

    ``failed`` is also where a run ends whose ``begin`` kept failing (the store
    down, endless admission conflicts): it never started, and says why.
    """
    now = deps.clock.now()
    target = S(state)
    before = {S.EXECUTING}
    if target is S.FAILED:
        before |= {S.PROPOSED, S.ANNOUNCED, S.APPROVED}
    record, moved = actions.transition(
        deps.store,
        tenant_id,
        proposal_id,
        target,
        now=now,
        reason=reason,
        allowed_from=frozenset(before),
        changes={"finished_at": iso(now)},
    )
    if record is None:
        raise NotFound(f"no remediation action {proposal_id}")
    if moved:
        actions.audit(deps.store, record, state, now=now, detail={"reason": reason})
    if record.state.terminal:
        ran = record.executed_at is not None
        admission.release(deps.store, tenant_id, proposal_id, now, ran=ran)
    show(deps, record)
    tell_thread(deps, record)
    return {"state": record.state.value}


def _result(record: ActionRecord) -> ExecutionResult:
    if record.result is not None:
        return ExecutionResult.model_validate(record.result)
    now: datetime = record.executed_at or record.updated_at
    return ExecutionResult(
        idempotency_key=record.idempotency_key,
        status=ExecutionStatus.FAILED,
        detail="no result recorded",
        started_at=now,
        finished_at=now,
    )
