"""Audit records: who did what, when, to what, and why."""

from __future__ import annotations

from typing import Any

from shared.models.base import TenantDocument, UtcDatetime


class AuditRecord(TenantDocument):
    at: UtcDatetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] = {}
