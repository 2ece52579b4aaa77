"""The incident orchestration's own steps around the analysis: take work, apply it, deliver.

Each function is one activity's work (see ``functions/incident.py``), and each
is safe to run again: a retried activity applies nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.bootstrap import Runtime
from shared.incidents import work
from shared.incidents.lifecycle import apply_action
from shared.incidents.message import post_or_update
from shared.notify.interactions import FEEDBACK_EVENT, OrchestrationEvent


def take(rt: Runtime, tenant_id: str, incident_id: str) -> dict[str, Any]:
    """Clear the pending wake; the pending work items, the alert revision and the status."""
    return work.take(rt.store, tenant_id, incident_id)


def apply(rt: Runtime, tenant_id: str, incident_id: str, item: Mapping[str, Any]) -> str:
    """Apply one action item (acknowledge, resolve); keyed by the item, so once."""
    return apply_action(rt, tenant_id, incident_id, item["payload"], key=str(item["id"]))


def deliver(
    rt: Runtime,
    tenant_id: str,
    incident_id: str,
    *,
    events: Sequence[Mapping[str, Any]] = (),
    done: Sequence[str] = (),
    replies: Sequence[Mapping[str, str]] = (),
    missing: Sequence[str] = (),
) -> dict[str, Any]:
    """Post or update the message, answer the clicking users, mark their items done."""
    state = post_or_update(rt, tenant_id, incident_id, events=events, missing=missing)
    for reply in replies:
        # Best effort: the message itself is updated.
        rt.replies.respond(reply["url"], reply["text"])
    if done:
        work.mark_done(rt.store, tenant_id, done, now=rt.clock.now())
    return state


def record_click(
    rt: Runtime, event: OrchestrationEvent, *, response_url: str, text: str
) -> work.WorkItem:
    """Store a click's work for its incident's orchestration before Slack is answered."""
    kind: work.WorkKind = "feedback" if event.name == FEEDBACK_EVENT else "action"
    reply = {"url": response_url, "text": text} if response_url else None
    return work.enqueue(
        rt.store,
        event.tenant_id,
        event.incident_id,
        kind,
        event.payload,
        now=rt.clock.now(),
        reply=reply,
    )
