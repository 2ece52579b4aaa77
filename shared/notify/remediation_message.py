"""A remediation proposal as a Slack message, its buttons, and the incident's lines about it.

Pure functions of an ``ActionRecord``: the message shows the action, its
target, its risk tier, the executor's plan (what it does, the expected
impact, how it is undone) and the policy's reasons. Buttons follow the state:
``Stop`` while a medium-risk action is announced, ``Approve`` / ``Reject``
while a high-risk one awaits approval, none otherwise (the message then says
who decided what). Every outside string is escaped for mrkdwn.
"""

from __future__ import annotations

from typing import Any

from shared.autonomy.actions import ActionRecord, ActionState
from shared.notify.actions import ActionKind, ActionValue, button
from shared.notify.mrkdwn import escape
from shared.ports.chat import ChatMessage

KIND = "remediation"

_STATUS = {
    ActionState.PROPOSED: "proposed",
    ActionState.SHADOWED: "shadow mode: recorded only, nothing runs",
    ActionState.ANNOUNCED: "announced: runs at {not_before} unless someone presses *Stop*",
    ActionState.AWAITING_APPROVAL: "awaiting approval by {approvers} until {expires_at}",
    ActionState.APPROVED: "approved by {who}; about to run",
    ActionState.REJECTED: "rejected by {who}: will not run",
    ActionState.VETOED: "stopped by {who}: will not run",
    ActionState.EXPIRED: "approval request expired at {expires_at}: will not run",
    ActionState.EXECUTING: "running",
    ActionState.VERIFIED: "done and verified",
    ActionState.ROLLED_BACK: "made things worse: undone",
    ActionState.FAILED: "failed",
}


def _when(record: ActionRecord, field: str) -> str:
    value = getattr(record, field)
    return value.strftime("%H:%M:%S UTC") if value is not None else "?"


def status_line(record: ActionRecord) -> str:
    who = f"<@{escape(record.decided_by)}>" if record.decided_by else "someone"
    approvers = ", ".join(f"<@{escape(a)}>" for a in record.approvers) or "an approver"
    return _STATUS[record.state].format(
        not_before=_when(record, "not_before"),
        expires_at=_when(record, "expires_at"),
        who=who,
        approvers=approvers,
    )


def headline(record: ActionRecord) -> str:
    tier = record.tier or "?"
    return f"`{escape(record.action)}` on `{escape(record.target)}` ({tier} risk)"


def render_proposal(record: ActionRecord) -> ChatMessage:
    """The proposal's message in its current state."""
    plan = record.plan or {}
    lines = [
        f"*Remediation for {escape(record.incident_id)}*: {headline(record)}",
        f"*Status:* {status_line(record)}",
    ]
    if plan:
        lines += [
            f"*Plan:* {escape(str(plan.get('summary', '')))}",
            f"*Expected impact:* {escape(str(plan.get('expected_impact', '')))}",
            f"*Undo:* {escape(str(plan.get('undo', '')))}",
        ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": escape(
                        f"from runbook {record.runbook_id} ({record.category}); "
                        + "; ".join(record.reasons[:4])
                    )[:2000],
                }
            ],
        },
    ]
    elements = _buttons(record)
    if elements:
        blocks.append({"type": "actions", "block_id": f"rem:{record.id}", "elements": elements})
    text = f"Remediation {record.action} on {record.target}: {status_line(record)}"
    return ChatMessage(
        tenant_id=record.tenant_id,
        incident_id=record.id,
        text=escape(text),
        blocks=tuple(blocks),
        kind=KIND,
    )


def _buttons(record: ActionRecord) -> list[dict[str, Any]]:
    value = ActionValue(
        incident_id=record.incident_id, tenant_id=record.tenant_id, proposal_id=record.id
    )
    if record.state is ActionState.ANNOUNCED:
        return [button("Stop", ActionKind.STOP, value, style="danger")]
    if record.state is ActionState.AWAITING_APPROVAL:
        return [
            button("Approve", ActionKind.APPROVE, value, style="primary"),
            button("Reject", ActionKind.REJECT, value, style="danger"),
        ]
    return []


def outcome_line(record: ActionRecord) -> str:
    """The incident thread's line once the proposal is settled (plain text; escaped by chat)."""
    what = f"{record.action} on {record.target}"
    who = record.decided_by or "someone"
    match record.state:
        case ActionState.VETOED:
            return f"Remediation {what}: stopped by {who}; it did not run"
        case ActionState.REJECTED:
            return f"Remediation {what}: rejected by {who}; it did not run"
        case ActionState.EXPIRED:
            return f"Remediation {what}: nobody approved it in time; it did not run"
        case ActionState.VERIFIED:
            return f"Remediation {what}: done and verified ({record.why})"
        case ActionState.ROLLED_BACK:
            return f"Remediation {what}: made things worse and was undone ({record.why})"
        case ActionState.FAILED:
            return f"Remediation {what}: failed ({record.why})"
    return f"Remediation {what}: {record.state.value}"


def propose_fix_block(tenant_id: str, incident_id: str) -> dict[str, Any]:
    """The incident message's "Propose fix" button (the runbooks' actions, on demand)."""
    value = ActionValue(incident_id=incident_id, tenant_id=tenant_id)
    return {
        "type": "actions",
        "block_id": "remediation",
        "elements": [button("Propose fix", ActionKind.PROPOSE_FIX, value)],
    }
