"""A responder's answer to a remediation proposal: Stop, Approve or Reject (a Slack click).

``answer`` is called by the interaction use case once the workspace maps to
the tenant. It decides who may say what, and moves the action record in one
conditional write, so the answer and the orchestration cannot both win:

- ``Approve``: only the policy's approvers of that action, only while the
  record awaits approval and before the request expires;
- ``Reject``: an approver or a responder, while it awaits approval;
- ``Stop``: an approver or a responder, while a medium-risk action is
  announced (up to the moment it starts running).

Everything else (a stranger, a second click, a click after the expiry, after
a Stop or after it ran) is an outcome with a clear reply that changes nothing.
Only an answer that moved the record asks the caller to tell the
orchestration (``remediation`` on the outcome); a double click therefore
wakes it once and the action runs once. Each accepted answer, and each
refused approval, is appended to the audit chain.
"""

from __future__ import annotations

from typing import Literal

from shared.autonomy import actions
from shared.autonomy.actions import ActionRecord, ActionState, Answer
from shared.autonomy.policies import load_policy
from shared.models.base import iso
from shared.models.tenant import Tenant
from shared.notify.actions import ActionKind, decode_value
from shared.notify.interactions import (
    InteractionDeps,
    InteractionOutcome,
    OutcomeKind,
    RemediationSignal,
    may_act,
)
from shared.notify.mrkdwn import escape
from shared.notify.slack_requests import InteractionAction

S = ActionState
Said = Literal["approve", "reject", "stop"]

_TO: dict[Said, tuple[ActionState, ActionState, str]] = {
    "approve": (S.AWAITING_APPROVAL, S.APPROVED, "approved"),
    "reject": (S.AWAITING_APPROVAL, S.REJECTED, "rejected"),
    "stop": (S.ANNOUNCED, S.VETOED, "vetoed"),
}


def _said(kind: ActionKind) -> Said:
    return {ActionKind.APPROVE: "approve", ActionKind.REJECT: "reject"}.get(kind, "stop")  # type: ignore[return-value]


def answer(deps: InteractionDeps, tenant: Tenant, action: InteractionAction) -> InteractionOutcome:
    said = _said(action.kind)
    proposal_id = decode_value(action.value).proposal_id or ""
    record = actions.load(deps.store, tenant.id, proposal_id) if proposal_id else None
    if record is None or record.incident_id != action.incident_id:
        return InteractionOutcome(
            OutcomeKind.UNKNOWN_INCIDENT,
            "That remediation proposal is not in this workspace; nothing changed.",
            tenant_id=tenant.id,
        )
    stored = load_policy(deps.store, tenant.id)
    approvers = stored.policy.approvers_for(record.action) if stored else ()
    now = deps.clock.now()
    what = f"`{escape(record.action)}` on `{escape(record.target)}`"
    if said == "approve" and action.user_id not in approvers:
        actions.audit(
            deps.store,
            record,
            "approval_refused",
            now=now,
            actor=f"slack:{action.user_id}",
            detail={"reason": "not an approver"},
            key=f"{record.id}:approval-refused:{action.user_id}",
        )
        shown = ", ".join(f"<@{escape(a)}>" for a in approvers) or "nobody (no policy)"
        return _no(
            OutcomeKind.NOT_AUTHORISED, tenant, f"Only {shown} can approve {what}; nothing changed."
        )
    if said != "approve" and not (may_act(tenant, action.user_id) or action.user_id in approvers):
        return _no(
            OutcomeKind.NOT_AUTHORISED,
            tenant,
            f"Only the responders of {escape(tenant.name)} can do that; nothing changed.",
        )
    source, target, verb = _TO[said]
    if (
        said != "stop"
        and record.state is S.AWAITING_APPROVAL
        and record.expires_at
        and now > record.expires_at
    ):
        return _no(
            OutcomeKind.DUPLICATE,
            tenant,
            f"The approval request for {what} expired at {iso(record.expires_at)}; "
            "nothing changed.",
        )
    moved, changed = actions.transition(
        deps.store,
        tenant.id,
        record.id,
        target,
        now=now,
        by=action.user_id,
        reason=f"{verb} by {action.user_id}",
        allowed_from=frozenset({source}),
        changes={
            "decided_by": action.user_id,
            "decided_at": iso(now),
            "answers": [
                *(a.model_dump(mode="json") for a in record.answers),
                Answer(user=action.user_id, verdict=said, at=now).model_dump(mode="json"),
            ],
        },
    )
    if moved is None or not changed:
        return _no(OutcomeKind.DUPLICATE, tenant, _too_late(moved or record, what, said))
    actions.audit(
        deps.store,
        moved,
        verb,
        now=now,
        actor=f"slack:{action.user_id}",
        detail={"user_name": action.user_name, "channel_id": action.channel_id},
    )
    reply = {
        "approve": f"You approved {what}: it runs now, once.",
        "reject": f"You rejected {what}: it will not run.",
        "stop": f"You stopped {what}: it will not run.",
    }[said]
    return InteractionOutcome(
        OutcomeKind.REMEDIATION_ANSWERED,
        reply,
        tenant_id=tenant.id,
        remediation=RemediationSignal(
            kind="answer",
            tenant_id=tenant.id,
            incident_id=record.incident_id,
            proposal_id=record.id,
            user_id=action.user_id,
        ),
    )


def _no(kind: OutcomeKind, tenant: Tenant, text: str) -> InteractionOutcome:
    return InteractionOutcome(kind, text, tenant_id=tenant.id)


def _too_late(record: ActionRecord, what: str, said: Said) -> str:
    who = f"<@{escape(record.decided_by)}>" if record.decided_by else "someone"
    match record.state:
        case S.APPROVED | S.EXECUTING | S.VERIFIED | S.ROLLED_BACK | S.FAILED if (
            said == "approve" and record.decided_by
        ):
            return f"{what} was approved already by {who}; it runs once. Nothing changed."
        case S.APPROVED:
            return f"{what} was approved by {who}; nothing changed."
        case S.REJECTED:
            return f"{what} was rejected by {who}; nothing changed."
        case S.VETOED:
            return f"{what} was stopped by {who}; nothing changed."
        case S.EXPIRED:
            return f"The approval request for {what} expired; nothing changed."
        case S.EXECUTING | S.VERIFIED | S.ROLLED_BACK:
            return f"Too late: {what} has started already; nothing changed."
        case S.SHADOWED:
            return f"{what} is in shadow mode and never runs; nothing changed."
    return f"{what} is {record.state.value.replace('_', ' ')}; nothing changed."
