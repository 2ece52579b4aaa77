"""The pure core of the audit chain: ids, hashes, and the judgement of one record.

A tenant's records form one chain: record ``seq`` (from 1) is stored under
``record_id(seq)``, carries ``prev_hash`` (the ``hash`` of record ``seq - 1``,
``GENESIS`` for the first) and ``hash``, the SHA-256 of its canonical JSON
without ``hash``. Every field a record holds is hashed, so editing any of them,
adding one or removing one shows.

Canonical JSON: keys sorted, no spaces, UTF-8, and a float with no fraction
written as the integer it equals; Cosmos DB (JavaScript) returns ``1.0`` as
``1``, which must not read as an edit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

GENESIS = "0" * 64
"""``prev_hash`` of a tenant's first record."""

RECORD_PREFIX = "audit-"
HEAD_ID = "audit-head"
"""The per-tenant head document: the highest ``seq`` appended and its ``hash``."""

_SEQ_DIGITS = 12
"""Zero-padded, so that ids sort as their sequence numbers do."""


class Reason(StrEnum):
    """Why a record breaks the chain."""

    EDITED = "edited"
    """Its content no longer hashes to its ``hash``."""
    BROKEN_LINK = "broken_link"
    """Its ``prev_hash`` is not the previous record's ``hash``."""
    MISSING = "missing"
    """No record has this seq, though later ones exist: a gap."""
    REORDERED = "reordered"
    """The record stored under this seq's id holds another seq, or sits under another id."""
    HEAD_BEYOND = "head_beyond"
    """The head says more records were appended than the store holds: the newest are gone."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Broken:
    """The first record that breaks the chain, and why."""

    seq: int
    id: str
    reason: Reason
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "id": self.id, "reason": self.reason.value, "detail": self.detail}


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    """What ``verify`` found: ``ok`` when every chained record is intact."""

    tenant_id: str
    count: int
    """Records verified intact (all of them when ``ok``)."""
    head_seq: int
    """The highest seq the head document recorded (0 when there is none)."""
    unchained: int = 0
    """Records without a seq: written before the chain existed (not verifiable)."""
    first_broken: Broken | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken is None

    def summary(self) -> str:
        """One line for people."""
        legacy = f", {self.unchained} unchained from before the chain" if self.unchained else ""
        if self.first_broken is None:
            return f"audit chain of {self.tenant_id} intact: {self.count} records{legacy}"
        broken = self.first_broken
        return (
            f"audit chain of {self.tenant_id} BROKEN at seq {broken.seq} ({broken.id}): "
            f"{broken.reason.value}: {broken.detail}; {self.count} records intact before it"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant_id,
            "ok": self.ok,
            "count": self.count,
            "head_seq": self.head_seq,
            "unchained": self.unchained,
            "first_broken": None if self.first_broken is None else self.first_broken.to_json(),
        }


def record_id(seq: int) -> str:
    """The id of record ``seq``: two writers of one seq collide on it."""
    return f"{RECORD_PREFIX}{seq:0{_SEQ_DIGITS}d}"


def canonical(doc: dict[str, Any]) -> bytes:
    """The bytes hashed for a record: every field but ``hash`` and the store's own (``_*``)."""
    content = {k: _normal(v) for k, v in doc.items() if k != "hash" and not k.startswith("_")}
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def record_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(doc)).hexdigest()


def link(content: dict[str, Any], *, seq: int, prev_hash: str) -> dict[str, Any]:
    """``content`` as record ``seq`` of a chain whose last hash is ``prev_hash``."""
    doc = {**content, "id": record_id(seq), "seq": seq, "prev_hash": prev_hash}
    doc.pop("hash", None)
    return {**doc, "hash": record_hash(doc)}


def chain_seq(doc: dict[str, Any]) -> int | None:
    """The seq a stored record claims, or None for a record outside the chain."""
    seq = doc.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else None


def judge(
    seq: int,
    doc: dict[str, Any] | None,
    *,
    prev_hash: str,
    later_exists: bool,
    head_seq: int,
    head_hash: str | None = None,
    claimed_by: str | None = None,
) -> Broken | None:
    """Whether what is stored under ``record_id(seq)`` is record ``seq`` of an intact chain.

    ``prev_hash``: the hash of the record before (``GENESIS`` for seq 1);
    ``later_exists``: some record with a higher seq is stored; ``head_seq``: what
    the head document recorded, and ``head_hash`` the hash it recorded when
    its seq is this one; ``claimed_by``: another record's id that also claims
    this seq.
    """
    expected = record_id(seq)
    if doc is None:
        if later_exists:
            return Broken(seq=seq, id=expected, reason=Reason.MISSING, detail="deleted: a gap")
        return Broken(
            seq=seq,
            id=expected,
            reason=Reason.HEAD_BEYOND,
            detail=f"the head records seq {head_seq}, the last record held is seq {seq - 1}",
        )
    if doc.get("id") != expected or chain_seq(doc) != seq:
        return Broken(
            seq=seq,
            id=expected,
            reason=Reason.REORDERED,
            detail=f"stored here is record {doc.get('id')!r} with seq {doc.get('seq')!r}",
        )
    if doc.get("hash") != record_hash(doc):
        return Broken(
            seq=seq, id=expected, reason=Reason.EDITED, detail="its content does not match its hash"
        )
    if doc.get("prev_hash") != prev_hash:
        return Broken(
            seq=seq,
            id=expected,
            reason=Reason.BROKEN_LINK,
            detail=f"prev_hash is not the hash of seq {seq - 1}",
        )
    if head_hash is not None and doc["hash"] != head_hash:
        # Content and hash rewritten together: the head still knows the original.
        return Broken(
            seq=seq,
            id=expected,
            reason=Reason.EDITED,
            detail="its hash is not the one the head recorded when it was appended",
        )
    if claimed_by is not None:
        return Broken(
            seq=seq,
            id=claimed_by,
            reason=Reason.REORDERED,
            detail=f"record {claimed_by!r} also claims seq {seq}",
        )
    return None


def _normal(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    return value
