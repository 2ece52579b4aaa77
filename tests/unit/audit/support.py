"""Helpers for the audit tests: a record to append, and tampering behind the store's back."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.models.audit import AuditRecord

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def record(n: int, *, tenant: str = "acme", actor: str = "slack:U1") -> AuditRecord:
    return AuditRecord(
        id=f"audit-draft-{n}",
        tenant_id=tenant,
        at=T0 + timedelta(seconds=n),
        actor=actor,
        action="feedback.likely",
        subject=f"incident:INC-{n}",
        detail={"rank": 1, "confidence": 0.5, "weight": 1.0, "n": n},
    )


def sql(path: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the SQLite file directly, as someone with the file would."""
    with closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(statement, params).fetchall()


def body(path: Path, tenant: str, doc_id: str) -> str:
    [(text,)] = sql(path, "SELECT body FROM audit WHERE tenant_id = ? AND id = ?", tenant, doc_id)
    return str(text)


def set_body(path: Path, tenant: str, doc_id: str, text: str) -> None:
    sql(path, "UPDATE audit SET body = ? WHERE tenant_id = ? AND id = ?", text, tenant, doc_id)
