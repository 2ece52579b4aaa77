"""The state of durable instances on the local host: statuses, documents, in-memory copies.

An instance is one document (``Container.ORCHESTRATIONS``, laid out by
``archive``): its history, an inbox of results and raised events the
orchestrator has not seen yet, and the work in flight. ``Instance`` is its
in-memory copy with the lock its episodes and deliveries take.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from devhost import history as h
from devhost.archive import STATE_KIND, Saved
from shared.ports.store import Document

ACTIVE = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})
TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})

Outcome = Literal["accepted", "gone", "missing"]
PurgeOutcome = Literal["deleted", "missing", "active"]


class StartRejected(Exception):
    """Starting an instance failed; ``status`` is the answer the real host gives."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class WorkTracker:
    """Counts work in flight so a caller can wait until the host is drained."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = 0

    def begin(self) -> None:
        with self._cond:
            self._busy += 1

    def end(self) -> None:
        with self._cond:
            self._busy -= 1
            if self._busy <= 0:
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._busy <= 0, timeout)


@dataclass(slots=True)
class Instance:
    """An active instance in memory: the whole document (history included)."""

    doc: Document
    saved: Saved = field(default_factory=Saved)
    lock: threading.Lock = field(default_factory=threading.Lock)
    dirty: bool = False
    """Holds results not yet written; the next episode (or shutdown) writes them."""

    @classmethod
    def of(cls, doc: Document, saved: Saved) -> Instance:
        # Documents written before events went straight to the inbox may hold some apart.
        doc["inbox"].extend(doc.pop("buffered", None) or [])
        return cls(doc, saved)


def new_instance(
    iid: str,
    *,
    partition: str,
    name: str,
    input_text: str | None,
    version: str | None,
    execution_id: str,
    parent: dict[str, Any] | None,
    now: datetime,
) -> Document:
    """The document of a new, pending instance."""
    return {
        "id": iid,
        "kind": STATE_KIND,
        "tenantId": partition,
        "instanceId": iid,
        "name": name,
        "version": version,
        "executionId": execution_id,
        "input": input_text,
        "runtimeStatus": "Pending",
        "active": True,
        "output": None,
        "customStatus": None,
        "createdTime": now_text(now),
        "lastUpdatedTime": now_text(now),
        "parent": parent,
        **_empty_execution(),
    }


def _empty_execution() -> Document:
    """What an execution starts with: no history, nothing received, nothing in flight."""
    return {
        "history": [],
        "inbox": [],
        "nextEventId": 0,
        "leaves": [],
        "retries": {},
        "activities": {},
        "timers": {},
        "children": {},
        "chunks": 0,
    }


def next_execution(doc: Document, *, execution_id: str, input_text: str | None) -> None:
    """Reset ``doc`` for the execution a continue-as-new starts.

    Events the old execution's episodes took into history go with it, as in
    Durable Functions; only events raised while its last episode ran, which
    it never saw, are delivered to the new execution.
    """
    arrived = [e for e in doc["inbox"] if e["EventType"] == h.EventType.EVENT_RAISED]
    doc.update(
        {
            "executionId": execution_id,
            "input": input_text,
            "runtimeStatus": "Running",
            "output": None,
            **_empty_execution(),
            "inbox": arrived,
        }
    )
    doc.pop("buffered", None)


def now_text(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def json_value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def status_payload(
    doc: Document, *, show_history: bool = False, show_input: bool = True
) -> dict[str, Any]:
    """The status JSON the Durable extension returns for an instance."""
    payload: dict[str, Any] = {
        "name": doc["name"],
        "instanceId": doc["instanceId"],
        "runtimeStatus": doc["runtimeStatus"],
        "input": json_value(doc.get("input")) if show_input else None,
        "customStatus": doc.get("customStatus"),
        "output": doc.get("output"),
        "createdTime": doc["createdTime"],
        "lastUpdatedTime": doc["lastUpdatedTime"],
    }
    if show_history:
        payload["historyEvents"] = list(doc.get("history", []))
    return payload


def selected(
    doc: Document,
    created_from: datetime | None,
    created_to: datetime | None,
    statuses: set[str],
    prefix: str | None,
) -> bool:
    created = h.parse_time(doc["createdTime"])
    if created_from is not None and created < created_from:
        return False
    if created_to is not None and created > created_to:
        return False
    if statuses and doc["runtimeStatus"] not in statuses:
        return False
    return prefix is None or str(doc["id"]).startswith(prefix)
