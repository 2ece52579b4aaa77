"""A scheduled post sent once: claimed in the store before posting, released on failure.

Timers fire on every instance and may overlap or die mid-post. Whoever creates
the mark document (``state: sending``) owns the post; a failed post deletes
the mark so the next run tries again; a mark still ``sending`` after
``CLAIM_TIMEOUT`` was left by a run that died and is taken over (under its
ETag, so only one run takes it); a sent post leaves the mark ``sent`` with
where it landed. The weekly report and the daily anomaly digest use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.errors import Conflict, PreconditionFailed
from shared.models.base import iso
from shared.ports.chat import PostedMessage
from shared.ports.store import Container, DocumentStore

CLAIM_TIMEOUT = timedelta(minutes=30)
"""A claim still "sending" after this long was left by a run that died."""


@dataclass(frozen=True, slots=True)
class SendOnce:
    """The mark of one scheduled post (``mark_id`` in the tenant's cache partition)."""

    store: DocumentStore
    tenant_id: str
    mark_id: str
    kind: str
    ttl_s: int
    fields: Mapping[str, object] = field(default_factory=dict)
    """What the mark records of the post (its week or day)."""

    def _mark(self, now: datetime, state: str) -> dict[str, object]:
        return {
            "id": self.mark_id,
            "tenantId": self.tenant_id,
            "kind": self.kind,
            **self.fields,
            "state": state,
            "at": iso(now),
            "ttl": self.ttl_s,
        }

    def claim(self, now: datetime) -> bool:
        """True when this run owns the post (created the mark, or took over a dead claim)."""
        claim = self._mark(now, "sending")
        try:
            self.store.create(Container.CACHE, self.tenant_id, claim)
            return True
        except Conflict:
            pass
        current = self.store.get(Container.CACHE, self.tenant_id, self.mark_id)
        if current is None or current.get("state") != "sending":
            return False
        if now - datetime.fromisoformat(str(current.get("at"))) < CLAIM_TIMEOUT:
            return False
        try:
            self.store.replace(Container.CACHE, self.tenant_id, claim, etag=str(current["_etag"]))
        except PreconditionFailed:
            return False
        return True

    def release(self) -> None:
        """The post failed: the next run tries again."""
        self.store.delete(Container.CACHE, self.tenant_id, self.mark_id)

    def sent(self, now: datetime, posted: PostedMessage) -> None:
        self.store.upsert(
            Container.CACHE,
            self.tenant_id,
            self._mark(now, "sent") | {"channel": posted.channel, "ts": posted.ts},
        )
