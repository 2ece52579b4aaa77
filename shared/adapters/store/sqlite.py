"""The embedded document store: one SQLite file, one table per container.

Built for the local host's load (hundreds of requests a second from many
threads): connections are pooled, one per concurrent caller; the file is in WAL
mode so readers never wait for the writer; and every write is a single
statement, so the write lock is held for microseconds and compare-and-swap
needs no explicit transaction. Filters mean what they mean in Cosmos DB: a
comparison only matches values of the same JSON type.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.adapters.store.rules import (
    Prepared,
    field_name,
    filter_value,
    prepare,
    require_id,
    require_limit,
    require_tenant,
)
from shared.errors import Conflict, PreconditionFailed, StoreUnavailable
from shared.ports.store import Container, Document, Filter

_BUSY_TIMEOUT_SECONDS = 5.0
"""How long a writer waits for the lock before the call fails as unavailable."""

_IDLE_CONNECTIONS = 32
"""Connections kept open between calls; more are opened under bursts, then closed."""

_PURGE_INTERVAL_SECONDS = 60.0
_PURGE_BATCH = 500
"""Expired rows deleted per purge, so that a purge is as short as any other write."""

_JSON_TYPES: dict[type, tuple[str, ...]] = {
    str: ("text",),
    int: ("integer", "real"),
    float: ("integer", "real"),
}
"""SQLite ``json_type`` names per Python type: Cosmos DB never matches across types."""

_LIVE = "(expires_at IS NULL OR expires_at > ?)"

_INDEXED: dict[Container, tuple[str, ...]] = {
    Container.INCIDENT_ALERTS: ("incidentId", "status"),
}
"""Fields queried together on a container: one expression index over them (Cosmos DB
indexes every field), so reading one incident's alerts never scans the tenant's."""


class SqliteStore:
    """``DocumentStore`` over one SQLite file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        # Writers queue here, where a waiter wakes the moment the lock frees;
        # left to SQLite's busy handler they would sleep for milliseconds.
        self._write_lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        # A store dropped without close() (a runtime nobody closed) must not leave
        # its pooled connections to the garbage collector: close them with it.
        weakref.finalize(self, _close_all, self._idle)
        self._ready = False
        self._closed = False
        self._next_purge: dict[Container, float] = {}

    def get(self, container: Container, tenant_id: str, doc_id: str) -> Document | None:
        require_tenant(tenant_id)
        require_id(doc_id)
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT body, etag FROM {_table(container)} "
                f"WHERE tenant_id = ? AND id = ? AND {_LIVE}",
                (tenant_id, doc_id, time.time()),
            ).fetchone()
        return None if row is None else _document(row)

    def create(self, container: Container, tenant_id: str, doc: Document) -> Document:
        prepared = prepare(tenant_id, doc)
        now = time.time()
        etag = _new_etag()
        table = _table(container)
        # One statement: insert, or take over a row that has expired but not
        # yet been purged; a live row makes it change nothing.
        with self._write_lock, self._connection() as conn:
            written = conn.execute(
                f"INSERT INTO {table} (tenant_id, id, body, etag, expires_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) DO UPDATE SET "
                "body = excluded.body, etag = excluded.etag, expires_at = excluded.expires_at "
                f"WHERE {table}.expires_at IS NOT NULL AND {table}.expires_at <= ? "
                "RETURNING etag",
                (*_row(tenant_id, prepared, etag, now), now),
            ).fetchall()
        if not written:
            raise Conflict(f"{container}/{prepared.doc['id']} exists already")
        self._purge_if_due(container, now)
        return {**prepared.doc, "_etag": etag}

    def upsert(self, container: Container, tenant_id: str, doc: Document) -> Document:
        prepared = prepare(tenant_id, doc)
        now = time.time()
        etag = _new_etag()
        with self._write_lock, self._connection() as conn:
            conn.execute(
                f"INSERT INTO {_table(container)} (tenant_id, id, body, etag, expires_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) DO UPDATE SET "
                "body = excluded.body, etag = excluded.etag, expires_at = excluded.expires_at",
                _row(tenant_id, prepared, etag, now),
            )
        self._purge_if_due(container, now)
        return {**prepared.doc, "_etag": etag}

    def replace(
        self, container: Container, tenant_id: str, doc: Document, *, etag: str
    ) -> Document:
        prepared = prepare(tenant_id, doc)
        now = time.time()
        new_etag = _new_etag()
        expires_at = None if prepared.ttl is None else now + prepared.ttl
        # The conditional UPDATE is the compare-and-swap: SQLite runs each
        # statement atomically under the write lock.
        with self._write_lock, self._connection() as conn:
            swapped = conn.execute(
                f"UPDATE {_table(container)} SET body = ?, etag = ?, expires_at = ? "
                f"WHERE tenant_id = ? AND id = ? AND etag = ? AND {_LIVE}",
                (prepared.text, new_etag, expires_at, tenant_id, prepared.doc["id"], etag, now),
            ).rowcount
        if not swapped:
            raise PreconditionFailed(f"{container}/{prepared.doc['id']} changed or is gone")
        return {**prepared.doc, "_etag": new_etag}

    def delete(self, container: Container, tenant_id: str, doc_id: str) -> bool:
        require_tenant(tenant_id)
        require_id(doc_id)
        now = time.time()
        with self._write_lock, self._connection() as conn:
            removed = conn.execute(
                f"DELETE FROM {_table(container)} WHERE tenant_id = ? AND id = ? "
                "RETURNING expires_at",
                (tenant_id, doc_id),
            ).fetchall()
        # An expired row was already invisible: removing it removes nothing.
        return any(expires_at is None or expires_at > now for (expires_at,) in removed)

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
        require_tenant(tenant_id)
        require_limit(limit)
        sql = [f"SELECT body, etag FROM {_table(container)} WHERE tenant_id = ? AND {_LIVE}"]
        params: list[Any] = [tenant_id, time.time()]
        for where in filters:
            clause, values = _condition(where)
            sql.append(f"AND {clause}")
            params.extend(values)
        if order_by is not None:
            direction = "DESC" if descending else "ASC"
            sql.append(f"ORDER BY {_extract(field_name(order_by))} {direction}, id {direction}")
        if limit is not None:
            sql.append("LIMIT ?")
            params.append(limit)
        with self._connection() as conn:
            rows = conn.execute(" ".join(sql), params).fetchall()
        return [_document(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
        for conn in idle:
            conn.close()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A pooled connection; SQLite's operational errors become ``StoreUnavailable``."""
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            conn = self._idle.pop() if self._idle else None
        try:
            if conn is None:
                conn = self._connect()
            yield conn
        except sqlite3.OperationalError as exc:
            # "database is locked", "disk I/O error", "unable to open database":
            # conditions of the file, not of the call; the caller may retry.
            raise StoreUnavailable(f"sqlite store {self._path}: {exc}") from exc
        finally:
            if conn is not None:
                self._release(conn)

    def _release(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.rollback()
        with self._lock:
            if not self._closed and len(self._idle) < _IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: each statement commits on its own (no implicit
        # BEGIN held open between statements). check_same_thread=False: the pool
        # hands a connection to one thread at a time, and close() may run on
        # another thread.
        conn = sqlite3.connect(
            self._path,
            timeout=_BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_SECONDS * 1000)}")
            conn.execute("PRAGMA synchronous = NORMAL")
            if not self._ready:
                with self._lock:
                    if not self._ready:
                        _create_schema(conn)
                        self._ready = True
        except BaseException:
            conn.close()
            raise
        return conn

    def _purge_if_due(self, container: Container, now: float) -> None:
        """Delete a batch of expired rows at most once a minute per container.

        Expired rows are already invisible; purging only keeps the file small.
        """
        with self._lock:
            if now < self._next_purge.get(container, 0.0):
                return
            self._next_purge[container] = now + _PURGE_INTERVAL_SECONDS
        table = _table(container)
        # The caller's write has succeeded: a busy file must not turn it into a failure.
        with contextlib.suppress(StoreUnavailable), self._write_lock, self._connection() as conn:
            conn.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
                "WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)",
                (now, _PURGE_BATCH),
            )


def _create_schema(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    for container in Container:
        table = _table(container)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ("
            "tenant_id TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, "
            "etag TEXT NOT NULL, expires_at REAL, PRIMARY KEY (tenant_id, id))"
        )
        conn.execute(
            f'CREATE INDEX IF NOT EXISTS "{container.value}_expires_at" '
            f"ON {table} (expires_at) WHERE expires_at IS NOT NULL"
        )
        fields = _INDEXED.get(container)
        if fields:
            columns = ", ".join(_extract(name) for name in fields)
            conn.execute(
                f'CREATE INDEX IF NOT EXISTS "{container.value}_{"_".join(fields)}" '
                f"ON {table} (tenant_id, {columns})"
            )


def _table(container: Container) -> str:
    # Container is a closed enum of plain names, so quoting it is enough.
    return f'"{Container(container).value}"'


def _extract(field: str) -> str:
    """``json_extract`` of a checked field name, spelled literally so that SQLite can
    match it to an expression index (a bound path parameter never matches one)."""
    return f"json_extract(body, '$.{field_name(field)}')"


def _type_of(field: str) -> str:
    return f"json_type(body, '$.{field_name(field)}')"


def _new_etag() -> str:
    return uuid.uuid4().hex


def _row(
    tenant_id: str, prepared: Prepared, etag: str, now: float
) -> tuple[str, str, str, str, float | None]:
    expires_at = None if prepared.ttl is None else now + prepared.ttl
    return (tenant_id, prepared.doc["id"], prepared.text, etag, expires_at)


def _document(row: tuple[str, str]) -> Document:
    body, etag = row
    doc: Document = json.loads(body)
    doc["_etag"] = etag
    return doc


def _condition(where: Filter) -> tuple[str, list[Any]]:
    """SQL for one filter, typed as in Cosmos DB: values of another JSON type never match.

    ``= None`` / ``!= None`` test for null / for a present non-null value, and
    ``!= True`` means ``= False``.
    """
    value = filter_value(where)
    kind, extract = _type_of(where.field), _extract(where.field)
    if where.op == "contains":
        member, values = _member(value)
        return (
            f"{kind} = 'array' AND EXISTS "
            f"(SELECT 1 FROM json_each(body, '$.{where.field}') WHERE {member})",
            values,
        )
    if value is None:
        return f"{kind} {where.op} 'null'", []
    if isinstance(value, bool):
        return f"{kind} = ?", [_bool_type(value == (where.op == "="))]
    kinds = _JSON_TYPES[type(value)]
    return (
        f"{kind} IN ({_marks(kinds)}) AND {extract} {where.op} ?",
        [*kinds, value],
    )


def _member(value: str | float | bool | None) -> tuple[str, list[Any]]:
    """A ``json_each`` row equal to ``value``, of the same JSON type."""
    if value is None:
        return "type = 'null'", []
    if isinstance(value, bool):
        return "type = ?", [_bool_type(value)]
    kinds = _JSON_TYPES[type(value)]
    return f"type IN ({_marks(kinds)}) AND value = ?", [*kinds, value]


def _bool_type(value: bool) -> str:
    return "true" if value else "false"


def _marks(items: Sequence[object]) -> str:
    return ", ".join("?" for _ in items)


def _close_all(connections: list[sqlite3.Connection]) -> None:
    while connections:
        connections.pop().close()
