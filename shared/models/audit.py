"""Audit records: who did what, when, to what, and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.models.base import TenantDocument


class AuditRecord(TenantDocument):
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] = {}
