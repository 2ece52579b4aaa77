"""Compose and deliver an incident's message from everything stored about it."""

from __future__ import annotations

from typing import Any

from shared.adapters.chat.slack import chat_for
from shared.bootstrap import Runtime
from shared.errors import NotFound
from shared.feedback.learning import feedback_for
from shared.incidents.analysis import snapshot_of, stored_analysis
from shared.incidents.summary import assemble_summary
from shared.notify.delivery import deliver
from shared.notify.incident_message import render_incident
from shared.ports.chat import ChatMessage
from shared.ports.store import Container


def compose(rt: Runtime, tenant_id: str, incident_id: str) -> ChatMessage:
    summary = assemble_summary(rt.store, tenant_id, incident_id, lookback=rt.change_lookback)
    try:
        snapshot: dict[str, Any] | None = snapshot_of(rt, tenant_id, incident_id)
    except NotFound:
        snapshot = None
    return render_incident(
        summary.incident,
        snapshot=snapshot,
        analysis=stored_analysis(rt, tenant_id, incident_id),
        feedback=feedback_for(rt.store, tenant_id, incident_id),
        changes=[c.model_dump(mode="json") for c in summary.changes],
    )


def post_or_update(rt: Runtime, tenant_id: str, incident_id: str) -> dict[str, Any]:
    """Deliver the current message (post once, then update in place)."""
    tenant = rt.tenants.get(tenant_id)
    message = compose(rt, tenant_id, incident_id)
    chat = chat_for(rt.settings, tenant, rt.settings.messages_dir) or rt.chat
    posted = deliver(rt.store, chat, message, channel=tenant.slack_channel_id)
    status = rt.store.get(Container.INCIDENTS, tenant_id, incident_id) or {}
    return {"posted": posted.model_dump(mode="json"), "status": status.get("status", "unknown")}
