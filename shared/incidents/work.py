"""Work for an incident's orchestration, kept in the store rather than in events.

The Durable extension appends an external event to history when it arrives,
and the Python SDK keeps one parked event per name, handing it to every later
wait of that name (azure-functions-durable-python #507): an event raised
while the orchestrator is inside an activity can be lost or applied twice. So
an event here only *wakes* the orchestration; what to do lives in the store:

- a click (acknowledge, "resolved with #N", a verdict) is a work item with a
  stable id, written before Slack gets its acknowledgement, applied once and
  then marked done;
- an alert change bumps the incident's ``alert_revision``; the orchestration
  re-analyses while the revision it analysed is behind. Ingestion wakes it
  only when no wake is pending (``wake_requested_at``), and ``take`` clears
  that flag in the same write that reads the revision, so a change stored
  after the flag was seen set is always read by the drain that follows.

A lost, duplicated or re-delivered wake event therefore costs at most an
empty drain; nothing a responder did is lost or applied twice.

An incident whose alerts are all ``info`` has no orchestration at all
(``announced``): it is stored and listed, and its orchestration starts (and
posts its message) when a warning or critical alert joins it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from shared.errors import Conflict
from shared.models.alert import Severity
from shared.models.base import TenantDocument, UtcDatetime, doc_id, iso
from shared.ports.store import Container, DocumentStore, Filter, update_with_retry

WAKE_EVENT = "wake"
"""The one external event the incident orchestration waits for."""
WAKE_REPEAT = timedelta(seconds=60)
"""A wake still unanswered this long after it was requested is sent again (it may be lost)."""
DONE_TTL = 7 * 24 * 3600
TAKE_LIMIT = 50
"""Items one drain returns; the rest wait for the next drain."""

WorkKind = Literal["action", "feedback"]


class WorkItem(TenantDocument):
    """Something a responder did that the orchestration must apply once."""

    incident_id: str
    kind: WorkKind
    payload: dict[str, Any]
    reply: dict[str, str] | None = None
    """Slack's ``response_url`` and the text to tell the clicking user once applied."""
    state: Literal["pending", "done"] = "pending"
    created_at: UtcDatetime
    done_at: UtcDatetime | None = None


def wake_token() -> str:
    """A fresh payload for a wake event: the orchestration tells a re-delivered one apart."""
    return uuid.uuid4().hex


def item_id(incident_id: str, kind: str, payload: Mapping[str, Any]) -> str:
    """Stable for the same click: a sender's retry writes the same item, not a second one."""
    raw = json.dumps([incident_id, kind, payload], sort_keys=True, default=str)
    return doc_id("work:", f"{incident_id}:{_digest(raw)}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def enqueue(
    store: DocumentStore,
    tenant_id: str,
    incident_id: str,
    kind: WorkKind,
    payload: Mapping[str, Any],
    *,
    now: datetime,
    reply: Mapping[str, str] | None = None,
) -> WorkItem:
    """Store a work item (idempotent by content); returns it."""
    item = WorkItem(
        id=item_id(incident_id, kind, payload),
        tenant_id=tenant_id,
        incident_id=incident_id,
        kind=kind,
        payload=dict(payload),
        reply=None if reply is None else dict(reply),
        created_at=now,
    )
    try:
        store.create(Container.WORK, tenant_id, item.to_doc())
    except Conflict:  # the same click again (a sender's retry): the stored item stands
        existing = store.get(Container.WORK, tenant_id, item.id)
        return item if existing is None else WorkItem.from_doc(existing)
    return item


def take(store: DocumentStore, tenant_id: str, incident_id: str) -> dict[str, Any]:
    """Clear the pending wake and return what there is to do.

    ``{"items": [...], "revision": int, "status": str}``; ``status`` is
    ``"unknown"`` when the incident is gone.
    """

    def clear(doc: dict[str, Any]) -> dict[str, Any] | None:
        if doc.get("wake_requested_at") is None:
            return None
        return {**doc, "wake_requested_at": None}

    incident = update_with_retry(store, Container.INCIDENTS, tenant_id, incident_id, clear)
    if incident is None:
        return {"items": [], "revision": 0, "status": "unknown"}
    pending = store.query(
        Container.WORK,
        tenant_id,
        [Filter("incident_id", "=", incident_id), Filter("state", "=", "pending")],
        order_by="created_at",
        limit=TAKE_LIMIT,
    )
    items = [WorkItem.from_doc(doc) for doc in pending]
    return {
        "items": [
            {
                "id": i.id,
                "kind": i.kind,
                "payload": i.payload,
                "reply": i.reply,
                "at": iso(i.created_at),
            }
            for i in items
        ],
        "revision": int(incident.get("alert_revision") or 0),
        "status": str(incident.get("status")),
    }


def mark_done(
    store: DocumentStore, tenant_id: str, item_ids: Sequence[str], *, now: datetime
) -> None:
    """Mark items applied; kept a week for the audit trail of what the orchestration did."""
    for item_id_ in item_ids:

        def done(doc: dict[str, Any]) -> dict[str, Any] | None:
            if doc.get("state") == "done":
                return None
            return {**doc, "state": "done", "done_at": iso(now), "ttl": DONE_TTL}

        update_with_retry(store, Container.WORK, tenant_id, item_id_, done)


def wake_needed(requested_at: datetime | None, now: datetime) -> bool:
    """Whether ingestion should wake the orchestration for an alert change."""
    return requested_at is None or now - requested_at >= WAKE_REPEAT


def announced(severity: Severity) -> bool:
    """Whether an incident of this severity has an orchestration (and so a message).

    An incident's severity is the highest its alerts reached, so an ``info``
    one holds only info alerts: nothing to analyse and nobody to page. It
    is announced from the delivery that raises it to warning or critical.
    """
    return severity is not Severity.INFO
