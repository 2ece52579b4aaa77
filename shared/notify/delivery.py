"""Delivery: post an incident's message once, then update it in place.

The posted message's channel and ``ts`` are kept per incident, which is also
the idempotency key: a retried activity updates instead of posting twice.
"""

from __future__ import annotations

import contextlib

from shared.errors import Conflict
from shared.ports.chat import ChatMessage, ChatPort, PostedMessage
from shared.ports.store import Container, DocumentStore


def deliver(
    store: DocumentStore, chat: ChatPort, message: ChatMessage, *, channel: str | None
) -> PostedMessage:
    tenant_id, key = message.tenant_id, f"incident:{message.incident_id}"
    existing = store.get(Container.MESSAGES, tenant_id, key)
    if existing is not None:
        posted = PostedMessage.model_validate(existing["posted"])
        return chat.update(message, posted=posted)
    posted = chat.post(message, channel=channel)
    record = {"id": key, "tenantId": tenant_id, "posted": posted.model_dump(mode="json")}
    # A concurrent delivery may have recorded it first; both point at one incident.
    with contextlib.suppress(Conflict):
        store.create(Container.MESSAGES, tenant_id, record)
    return posted
