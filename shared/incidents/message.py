"""Compose and deliver an incident's message from everything stored about it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.autonomy.policies import load_policy
from shared.bootstrap import Runtime
from shared.errors import Conflict, NotFound
from shared.feedback.learning import feedback_for
from shared.incidents import merge, stored_analysis
from shared.incidents.alerts import with_alerts
from shared.incidents.analysis import snapshot_of
from shared.incidents.summary import changes_before, load_incident
from shared.models.base import doc_id
from shared.models.incident import Incident, IncidentStatus
from shared.notify.delivery import deliver
from shared.notify.incident_message import render_incident
from shared.notify.remediation_message import propose_fix_block
from shared.ports.chat import ChatMessage
from shared.ports.store import Container


def compose(rt: Runtime, tenant_id: str, incident_id: str) -> ChatMessage:
    return _compose(rt, with_alerts(rt.store, load_incident(rt.store, tenant_id, incident_id)))


def _compose(rt: Runtime, incident: Incident, missing: Sequence[str] = ()) -> ChatMessage:
    tenant_id, incident_id = incident.tenant_id, incident.id
    try:
        snapshot: dict[str, Any] | None = snapshot_of(rt, tenant_id, incident_id)
        changes: list[dict[str, Any]] = []  # the snapshot has them, with minutes before onset
    except NotFound:
        snapshot = None
        found = changes_before(rt.store, incident, lookback=rt.change_lookback)
        changes = [c.model_dump(mode="json") for c in found]
    analysis = stored_analysis.load(rt.store, tenant_id, incident_id)
    message = render_incident(
        incident,
        snapshot=snapshot,
        analysis=analysis.to_json() if analysis else None,
        feedback=feedback_for(rt.store, tenant_id, incident_id),
        changes=changes,
        missing=missing,
    )
    if (
        analysis is not None
        and analysis.hypotheses
        and incident.status is not IncidentStatus.RESOLVED
        and load_policy(rt.store, tenant_id) is not None
    ):
        # The tenant has a remediation policy: its runbook actions can be proposed on demand.
        blocks = (*message.blocks, propose_fix_block(tenant_id, incident_id))
        message = message.model_copy(update={"blocks": blocks})
    return message


def timeline_note(kind: str, payload: Mapping[str, Any], incident: Incident) -> str:
    """One line for the message's thread saying what just happened."""
    who = payload.get("user_name") or payload.get("user_id") or "someone"
    hypothesis = (
        f"#{payload.get('rank')} {payload.get('category')} on {payload.get('target')}"
        if payload.get("category")
        else ""
    )
    if kind == "feedback" and payload.get("runbook_id"):
        return f"{who} used {payload['runbook_id']}"
    if kind == "feedback":
        verdict = "likely" if payload.get("verdict") == "likely" else "not it"
        return f"{who} marked {hypothesis} as {verdict}"
    if kind == "action" and payload.get("action") == "acknowledge":
        return f"Acknowledged by {who}"
    if kind == "action" and payload.get("action") == "resolve":
        return f"Resolved with {hypothesis} by {who}" if hypothesis else f"Resolved by {who}"
    total = incident.alert_count
    if incident.status is IncidentStatus.RESOLVED:
        return f"All {total} alert(s) resolved: incident resolved"
    if len(incident.alerts) < total:  # only a sample is loaded: no exact firing count
        return f"Alerts changed: {total} alerts; analysis updated"
    return f"Alerts changed: {len(incident.firing_alerts)} of {total} firing; analysis updated"


def post_or_update(
    rt: Runtime,
    tenant_id: str,
    incident_id: str,
    *,
    events: Sequence[Mapping[str, Any]] = (),
    missing: Sequence[str] = (),
) -> dict[str, Any]:
    """Deliver the current message (post once, then update in place).

    Each of ``events`` (``kind``, ``payload``, ``id``) adds one line to the
    message's thread; its id makes a retried activity post that
    line once only. A burst of clicks costs one message update, not one each.
    ``missing`` names what the analysis could not get (shown on the message).

    The first post is claimed on the incident first (``merge.claim_post``): an
    incident merged into another before that is never posted, and answers
    ``{"posted": None, "status": "resolved", "merged_into": ...}`` so that its
    orchestration ends.
    """
    tenant = rt.tenants.get(tenant_id)
    incident = with_alerts(rt.store, load_incident(rt.store, tenant_id, incident_id))
    message = _compose(rt, incident, missing)
    chat = rt.chat_for(tenant)
    if incident.announced_at is None:
        merged_into = merge.claim_post(rt.store, tenant_id, incident_id, rt.clock.now())
        if merged_into is not None:
            resolved = IncidentStatus.RESOLVED.value
            return {"posted": None, "status": resolved, "merged_into": merged_into}
    posted = deliver(rt.store, chat, message, channel=tenant.slack_channel_id)
    for line in events:
        marker = {
            "id": doc_id("timeline:", f"{incident_id}:{line['id']}"),
            "tenantId": tenant_id,
            "ttl": 30 * 24 * 3600,
        }
        try:
            rt.store.create(Container.MESSAGES, tenant_id, marker)
        except Conflict:
            continue  # posted by an earlier attempt of this activity
        note = timeline_note(str(line["kind"]), line.get("payload") or {}, incident)
        chat.reply_in_thread(posted, note)
    return {"posted": posted.model_dump(mode="json"), "status": incident.status.value}
