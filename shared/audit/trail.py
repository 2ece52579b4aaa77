"""The audit chain kept in the document store: append, verify, export.

No locks: record ``seq`` has the fixed id ``record_id(seq)`` and is written
with ``create``, which refuses an id that exists. Of two writers racing for
one seq, one wins; the other gets ``Conflict``, re-reads and takes the next.
Both adapters refuse a second create of an id (the contract suite checks it).

The head document (``HEAD_ID`` in ``Container.DEDUP``, beside the tenant's
other per-partition state) remembers the highest seq appended and its hash. It
saves a query per append, only ever moves forward, and may lag behind (a writer
that stopped between its record and the head): the next append looks past it.
It is also the only witness that the newest records existed, so ``verify``
can tell that they were deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.audit.chain import (
    GENESIS,
    HEAD_ID,
    VerifyResult,
    chain_seq,
    judge,
    link,
    record_id,
)
from shared.errors import Conflict, PreconditionFailed, StoreUnavailable
from shared.models.audit import AuditRecord
from shared.ports.store import Container, Document, DocumentStore, Filter, update_with_retry

log = logging.getLogger(__name__)

HEAD_CONTAINER = Container.DEDUP
_PAGE = 500
_ATTEMPTS = 200
"""Appends lost to other writers before giving up; each loss means another one won."""


@dataclass(frozen=True, slots=True)
class _Tip:
    seq: int
    hash: str


def append(
    store: DocumentStore, tenant_id: str, record: AuditRecord, *, key: str | None = None
) -> AuditRecord:
    """Store ``record`` as the tenant's next one; returns it as stored.

    The record's own ``id``, ``seq``, ``prev_hash`` and ``hash`` are replaced.
    ``key``: an idempotency key; when the chain holds a record with it already,
    that record is returned and nothing is appended (a retried activity appends
    once; two first attempts racing each other are not excluded).
    """
    if key is not None:
        found = store.query(Container.AUDIT, tenant_id, [Filter("key", "=", key)], limit=1)
        if found:
            return AuditRecord.from_doc(found[0])
    content = record.model_copy(update={"tenant_id": tenant_id, "key": key}).to_doc()
    for _ in range(_ATTEMPTS):
        tip = _tip(store, tenant_id)
        doc = link(content, seq=tip.seq + 1, prev_hash=tip.hash)
        try:
            stored = store.create(Container.AUDIT, tenant_id, doc)
        except Conflict:
            continue
        _advance_head(store, tenant_id, _Tip(doc["seq"], doc["hash"]))
        return AuditRecord.from_doc(stored)
    raise PreconditionFailed(f"audit trail of {tenant_id}: too many concurrent appends")


def record(
    store: DocumentStore,
    tenant_id: str,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    detail: Mapping[str, Any],
    key: str | None = None,
) -> AuditRecord:
    """Append one record made of these fields (``append`` gives it its id and place)."""
    made = AuditRecord(
        id=record_id(0),
        tenant_id=tenant_id,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        detail=dict(detail),
    )
    return append(store, tenant_id, made, key=key)


def verify(store: DocumentStore, tenant_id: str) -> VerifyResult:
    """Walk the tenant's chain from seq 1 and report the first record that breaks it.

    Each record is read by its id (what the store holds under that id is what
    is judged); one listing besides finds the highest seq held, records that
    claim a seq under another id, and records from before the chain.
    """
    head = _head(store, tenant_id)
    head_seq = head.seq if head else 0
    highest, unchained = 0, 0
    strays: dict[int, str] = {}
    for listed in _all(store, tenant_id):
        seq = chain_seq(listed)
        if seq is None:
            unchained += 1
            continue
        highest = max(highest, seq)
        if listed["id"] != record_id(seq):
            strays.setdefault(seq, str(listed["id"]))
    prev, count = GENESIS, 0
    for seq in range(1, max(highest, head_seq) + 1):
        doc = store.get(Container.AUDIT, tenant_id, record_id(seq))
        broken = judge(
            seq,
            doc,
            prev_hash=prev,
            later_exists=seq < highest,
            head_seq=head_seq,
            head_hash=head.hash if head is not None and head.seq == seq else None,
            claimed_by=strays.get(seq),
        )
        if broken is not None or doc is None:  # judge reports a missing record
            return VerifyResult(
                tenant_id=tenant_id,
                count=count,
                head_seq=head_seq,
                unchained=unchained,
                first_broken=broken,
            )
        prev, count = str(doc["hash"]), count + 1
    return VerifyResult(tenant_id=tenant_id, count=count, head_seq=head_seq, unchained=unchained)


def export(store: DocumentStore, tenant_id: str) -> Iterator[Document]:
    """Every audit record of the tenant, oldest first, as stored (without ``_etag``).

    Records from before the chain (no seq) come first, by time; then the chain by seq.
    """
    legacy = [doc for doc in _all(store, tenant_id) if chain_seq(doc) is None]
    for doc in sorted(legacy, key=lambda d: (str(d.get("at", "")), str(d["id"]))):
        yield _public(doc)
    after = 0
    while True:
        page = store.query(
            Container.AUDIT,
            tenant_id,
            [Filter("seq", ">", after)],
            order_by="seq",
            limit=_PAGE,
        )
        for doc in page:
            yield _public(doc)
        if len(page) < _PAGE:
            return
        after = int(page[-1]["seq"])


def _tip(store: DocumentStore, tenant_id: str) -> _Tip:
    """The last record appended, as far as one can tell without a lock."""
    head = _head(store, tenant_id) or _Tip(0, GENESIS)
    following = store.get(Container.AUDIT, tenant_id, record_id(head.seq + 1))
    if following is None:
        return head
    # The head lags behind (a writer between its record and the head, or one
    # that stopped there): the newest record past it is the tip.
    newest = store.query(
        Container.AUDIT,
        tenant_id,
        [Filter("seq", ">", head.seq)],
        order_by="seq",
        descending=True,
        limit=1,
    )
    tip = newest[0] if newest else following
    return _Tip(chain_seq(tip) or head.seq + 1, str(tip.get("hash", "")))


def _head(store: DocumentStore, tenant_id: str) -> _Tip | None:
    doc = store.get(HEAD_CONTAINER, tenant_id, HEAD_ID)
    if doc is None or chain_seq(doc) is None:
        return None
    return _Tip(int(doc["seq"]), str(doc.get("hash", "")))


def _advance_head(store: DocumentStore, tenant_id: str, tip: _Tip) -> None:
    """Move the head to ``tip`` unless it is there or beyond already.

    Best effort: the record is stored, and a head left behind only costs the
    next append a query, so a busy store does not fail the append.
    """
    doc = {"id": HEAD_ID, "kind": "audit_head", "seq": tip.seq, "hash": tip.hash}

    def forward(current: dict[str, Any]) -> dict[str, Any] | None:
        known = chain_seq(current) or 0
        return doc if tip.seq > known else None

    try:
        if update_with_retry(store, HEAD_CONTAINER, tenant_id, HEAD_ID, forward) is None:
            try:
                store.create(HEAD_CONTAINER, tenant_id, doc)
            except Conflict:
                update_with_retry(store, HEAD_CONTAINER, tenant_id, HEAD_ID, forward)
    except (StoreUnavailable, PreconditionFailed) as exc:
        log.warning("audit head of %s left behind seq %d: %s", tenant_id, tip.seq, exc.reason)


def _all(store: DocumentStore, tenant_id: str) -> Iterator[Document]:
    """Every document of the tenant's audit container, page by page."""
    last: str | None = None
    while True:
        filters = [] if last is None else [Filter("id", ">", last)]
        page = store.query(Container.AUDIT, tenant_id, filters, order_by="id", limit=_PAGE)
        yield from page
        if len(page) < _PAGE:
            return
        last = str(page[-1]["id"])


def _public(doc: Document) -> Document:
    return {k: v for k, v in doc.items() if k != "_etag"}
