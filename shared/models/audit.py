"""Audit records: who did what, when, to what, and why.

Records are written only through ``shared.audit.append``, which numbers them
per tenant (``seq``) and links each to the one before (``prev_hash``, ``hash``);
records kept from before the chain existed have none of the three.
"""

from __future__ import annotations

from typing import Any

from shared.models.base import TenantDocument, UtcDatetime


class AuditRecord(TenantDocument):
    at: UtcDatetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] = {}
    key: str | None = None
    """Idempotency key: appending a record whose key the chain holds appends nothing."""
    seq: int | None = None
    """Position in the tenant's chain, from 1; set by ``append``."""
    prev_hash: str | None = None
    """``hash`` of record ``seq - 1`` (a fixed genesis value for seq 1); set by ``append``."""
    hash: str | None = None
    """SHA-256 over this record's canonical JSON without ``hash``; set by ``append``."""
