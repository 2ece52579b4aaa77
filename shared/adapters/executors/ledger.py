"""The executors' ledger: one record per idempotency key, so an action runs once.

A record lives in the tenant's partition of ``Container.DEDUP`` (beside the
other "seen this already" documents) under ``exec:<key>`` for an execution and
``undo:<key>`` for its undo. It may be written in two steps:

- ``begin`` creates it with the *intent* before anything changes: what the
  adapter is about to do in absolute terms ("replicas 5", "the template of
  ReplicaSet checkout-7d9f"). A racing attempt that loses the create adopts
  the stored intent, so both apply the same one.
- ``finish`` adds the result. A retried call finds it and returns it with
  ``repeated=True``; a call that finds only the intent (the first attempt
  died between acting and recording) applies that same absolute intent again,
  which changes nothing a second time.

``record`` does both at once for an adapter that has no intent to keep (the
dry run). A key reused for another action or target is a caller's bug:
``BadInput``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.clock import Clock
from shared.errors import BadInput, Conflict
from shared.models.base import doc_id, iso
from shared.ports.executor import ActionRequest, ExecutionResult
from shared.ports.store import Container, Document, DocumentStore

CONTAINER = Container.DEDUP
KIND = "executor.record"


class Phase(StrEnum):
    EXECUTE = "exec"
    UNDO = "undo"


@dataclass(frozen=True, slots=True)
class Entry:
    """A key's record: the intent written before acting, and the result once known."""

    intent: dict[str, Any]
    result: ExecutionResult | None


def record_id(request: ActionRequest, phase: Phase) -> str:
    return doc_id(f"{phase.value}:", request.idempotency_key)


class Ledger:
    """Reads and writes the records of one store; shared by both adapters."""

    def __init__(self, store: DocumentStore, clock: Clock, *, executor: str) -> None:
        self._store = store
        self._clock = clock
        self._executor = executor

    def lookup(self, request: ActionRequest, phase: Phase) -> Entry | None:
        """The key's record, or None when this key never ran."""
        doc = self._store.get(CONTAINER, request.tenant_id, record_id(request, phase))
        return None if doc is None else self._entry(request, doc)

    def begin(self, request: ActionRequest, phase: Phase, intent: dict[str, Any]) -> Entry:
        """Write the intent before acting; the stored record when another attempt wrote first."""
        try:
            self._store.create(CONTAINER, request.tenant_id, self._doc(request, phase, intent))
        except Conflict:
            entry = self.lookup(request, phase)
            if entry is not None:
                return entry
        return Entry(intent=intent, result=None)

    def finish(
        self, request: ActionRequest, phase: Phase, intent: dict[str, Any], result: ExecutionResult
    ) -> ExecutionResult:
        """Store the result (the record must be complete before the caller returns it)."""
        doc = self._doc(request, phase, intent)
        doc["result"] = result.model_dump(mode="json")
        self._store.upsert(CONTAINER, request.tenant_id, doc)
        return result

    def record(
        self, request: ActionRequest, phase: Phase, result: ExecutionResult
    ) -> ExecutionResult:
        """Intent and result at once; a racing attempt's stored result wins (``repeated``)."""
        doc = self._doc(request, phase, {})
        doc["result"] = result.model_dump(mode="json")
        try:
            self._store.create(CONTAINER, request.tenant_id, doc)
        except Conflict:
            entry = self.lookup(request, phase)
            if entry is not None and entry.result is not None:
                return entry.result
            self._store.upsert(CONTAINER, request.tenant_id, doc)
        return result

    def _doc(self, request: ActionRequest, phase: Phase, intent: dict[str, Any]) -> Document:
        return {
            "id": record_id(request, phase),
            "kind": KIND,
            "phase": phase.value,
            "executor": self._executor,
            "idempotencyKey": request.idempotency_key,
            "incidentId": request.incident_id,
            "action": request.action,
            "target": request.target,
            "params": request.params,
            "intent": intent,
            "recordedAt": iso(self._clock.now()),
        }

    @staticmethod
    def _entry(request: ActionRequest, doc: Document) -> Entry:
        if (doc.get("action"), doc.get("target")) != (request.action, request.target):
            raise BadInput(
                f"idempotency key {request.idempotency_key!r} was used for "
                f"{doc.get('action')} on {doc.get('target')}, not {request.action} on "
                f"{request.target}"
            )
        raw = doc.get("result")
        result = None
        if raw is not None:
            result = ExecutionResult.model_validate(raw).model_copy(update={"repeated": True})
        return Entry(intent=dict(doc.get("intent") or {}), result=result)
