"""The document store port.

Documents are JSON objects with an ``id`` and a ``tenantId``; every call names
the tenant, and every query is confined to that tenant's partition. Returned
documents carry an opaque ``_etag``; ``replace`` with a stale one raises
``PreconditionFailed`` so that concurrent writers re-read and retry
(``update_with_retry``). A document with a ``ttl`` (seconds) disappears that
long after its last write.

Adapters: SQLite (embedded default) and Cosmos DB; one contract suite in
``tests/contract/store`` runs against both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol

from shared.errors import PreconditionFailed

Document = dict[str, Any]


class Container(StrEnum):
    """The containers (Cosmos) or tables (SQLite) the product uses."""

    TENANTS = "tenants"
    RAW_EVENTS = "raw_events"
    DEDUP = "dedup"
    ALERTS = "alerts"
    INCIDENTS = "incidents"
    INCIDENT_ALERTS = "incident_alerts"
    """Which alerts each incident holds, one document per alert (``IncidentAlert``)."""
    CHANGES = "changes"
    HISTORY = "history"
    ORCHESTRATIONS = "orchestrations"
    MESSAGES = "messages"
    FEEDBACK = "feedback"
    AUDIT = "audit"
    CACHE = "cache"
    WORK = "work"
    """Responders' actions waiting for an incident's orchestration (``incidents.work``)."""


SYSTEM_TENANT = "_system"
"""Partition for cross-tenant directories (tenant list, Slack team -> tenant)."""

Operator = Literal["=", "!=", "<", "<=", ">", ">=", "contains"]


@dataclass(frozen=True, slots=True)
class Filter:
    """``field op value`` on a top-level field; ``contains`` tests list membership."""

    field: str
    op: Operator
    value: Any


class DocumentStore(Protocol):
    """Per-tenant JSON documents with optimistic concurrency."""

    def get(self, container: Container, tenant_id: str, doc_id: str) -> Document | None:
        """The document, or None when absent or expired."""
        ...

    def create(self, container: Container, tenant_id: str, doc: Document) -> Document:
        """Insert; raises ``Conflict`` when the id exists (the basis of dedup)."""
        ...

    def upsert(self, container: Container, tenant_id: str, doc: Document) -> Document:
        """Insert or overwrite unconditionally."""
        ...

    def replace(
        self, container: Container, tenant_id: str, doc: Document, *, etag: str
    ) -> Document:
        """Overwrite only if the stored ``_etag`` still equals ``etag``."""
        ...

    def delete(self, container: Container, tenant_id: str, doc_id: str) -> bool:
        """Remove; False when there was nothing to remove."""
        ...

    def query(
        self,
        container: Container,
        tenant_id: str,
        filters: Sequence[Filter] = (),
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        """Documents of one tenant matching every filter (AND)."""
        ...

    def close(self) -> None:
        """Release every connection; later calls raise ``StoreUnavailable``.

        The owner of a store (the CLI, the host at shutdown, a test) closes it
        explicitly: a connection left for the garbage collector is a
        ``ResourceWarning`` on Python 3.13.
        """
        ...


def update_with_retry(
    store: DocumentStore,
    container: Container,
    tenant_id: str,
    doc_id: str,
    mutate: Callable[[Document], Document | None],
    *,
    attempts: int = 50,
    current: Document | None = None,
) -> Document | None:
    """Read-modify-write under the ETag until it sticks.

    ``mutate`` gets the current document (without ``_etag``) and returns the new
    one, or None to leave it as it is. Returns the stored result, or None when
    the document does not exist. ``current``: the document as the caller just
    read it (with its ``_etag``), used for the first attempt instead of a
    second read; a stale one costs a retry, as any concurrent write does.
    """
    known = None if current is None else dict(current)
    for _ in range(attempts):
        current = known if known is not None else store.get(container, tenant_id, doc_id)
        known = None
        if current is None:
            return None
        etag = current.pop("_etag")
        updated = mutate(dict(current))
        if updated is None:
            current["_etag"] = etag
            return current
        try:
            return store.replace(container, tenant_id, updated, etag=etag)
        except PreconditionFailed:
            continue
    raise PreconditionFailed(f"{container}/{doc_id}: too many concurrent updates")
