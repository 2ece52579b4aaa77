"""Action records: one remediation proposal's life, kept in the tenant's partition.

A record is created when a proposal is made (``proposals``) and moves only
along this state machine, each step a conditional write under the document's
ETag, so a Slack click and the orchestration racing for the same record
cannot both win::

    proposed ─┬─> shadowed                                  (shadow mode: recorded only)
              ├─> executing ──> verified | rolled_back | failed          (low risk)
              ├─> announced ─┬─> vetoed                     (Stop in the window)
              │              └─> executing ...              (window passed)
              ├─> awaiting_approval ─┬─> approved ──> executing ...
              │                      ├─> rejected
              │                      └─> expired
              └─> failed                                    (refused, plan infeasible)

Every move to ``executing`` passes the re-check and the tenant's admission
(``shared.autonomy.admission``, one conditional write); refused there, a
proposed, announced or approved record goes to ``failed`` with the reasons.

``decided_by`` is the Slack user who approved, rejected or stopped it (else
None); ``history`` keeps every step with its time, who and why. Records live
in ``Container.WORK`` (work the remediation orchestration does) under
``doc_type = "remediation_action"``; the id is the proposal id (the tenant's
admission document shares the container as ``remediation_admission``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from shared.audit import record as audit_record
from shared.autonomy.engine import Execution
from shared.errors import Conflict
from shared.models.base import Model, TenantDocument, UtcDatetime, iso
from shared.ports.store import Container, DocumentStore, Filter, update_with_retry

DOC_TYPE = "remediation_action"
CONTAINER = Container.WORK


class ActionState(StrEnum):
    PROPOSED = "proposed"
    SHADOWED = "shadowed"
    ANNOUNCED = "announced"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    VETOED = "vetoed"
    EXPIRED = "expired"
    EXECUTING = "executing"
    VERIFIED = "verified"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return not NEXT.get(self)


S = ActionState
NEXT: dict[ActionState, frozenset[ActionState]] = {
    S.PROPOSED: frozenset({S.SHADOWED, S.EXECUTING, S.ANNOUNCED, S.AWAITING_APPROVAL, S.FAILED}),
    S.ANNOUNCED: frozenset({S.VETOED, S.EXECUTING, S.FAILED}),
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.FAILED}),
    S.APPROVED: frozenset({S.EXECUTING, S.FAILED}),
    S.EXECUTING: frozenset({S.VERIFIED, S.ROLLED_BACK, S.FAILED}),
}
"""Where each state may go; a state with no entry is final."""

Origin = Literal["analysis", "button"]


class Answer(Model):
    """A responder's click on the proposal: approve / reject (high), stop (medium)."""

    user: str
    verdict: Literal["approve", "reject", "stop"]
    at: UtcDatetime


class Step(Model):
    state: ActionState
    at: UtcDatetime
    by: str | None = None
    reason: str = ""


class ActionRecord(TenantDocument):
    """One proposed remediation action and what became of it."""

    doc_type: Literal["remediation_action"] = "remediation_action"
    incident_id: str
    action: str
    service: str
    target: str
    params: dict[str, Any] = {}
    tier: str | None = None
    mode: str | None = None
    state: ActionState = ActionState.PROPOSED
    origin: Origin = "analysis"
    requested_by: str | None = None
    runbook_id: str
    category: str
    hypothesis_target: str | None = None
    """The target of the hypothesis the proposal came from (with ``category``)."""
    confidence: float
    service_tier: int | None = None
    reasons: tuple[str, ...] = ()
    """The policy decision's reasons when proposed (and the re-check's, when it refused)."""
    decided_by: str | None = None
    decided_at: UtcDatetime | None = None
    proposed_at: UtcDatetime
    not_before: UtcDatetime | None = None
    expires_at: UtcDatetime | None = None
    approvers: tuple[str, ...] = ()
    answers: tuple[Answer, ...] = ()
    plan: dict[str, Any] | None = None
    attempt: int = 1
    out_of_service: int = 0
    executed_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    result: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    verification: dict[str, Any] | None = None
    undo_result: dict[str, Any] | None = None
    posted: dict[str, Any] | None = None
    """Where the proposal's Slack message is (channel, ts), to update it in place."""
    history: tuple[Step, ...] = ()
    updated_at: UtcDatetime

    @property
    def idempotency_key(self) -> str:
        """One execution: the proposal and its attempt."""
        return f"{self.id}:{self.attempt}"

    @property
    def why(self) -> str:
        """The latest step's reason (what ``actions list`` shows)."""
        return self.history[-1].reason if self.history else "; ".join(self.reasons)

    def execution(self) -> Execution:
        """What this record counts for in the policy's limits (it started at ``executed_at``)."""
        assert self.executed_at is not None, "only an executed record counts"
        return Execution(
            action=self.action,
            service=self.service,
            started_at=self.executed_at,
            out_of_service=self.out_of_service,
            running=self.state is ActionState.EXECUTING,
        )

    def row(self) -> dict[str, Any]:
        """``actions list``: the contract's id, incident_id, action, target, tier, state,
        decided_by, and more."""
        return {
            "id": self.id,
            "incident_id": self.incident_id,
            "action": self.action,
            "target": self.target,
            "tier": self.tier,
            "state": self.state.value,
            "decided_by": self.decided_by,
            "decided_at": iso(self.decided_at) if self.decided_at else None,
            "mode": self.mode,
            "service": self.service,
            "params": self.params,
            "origin": self.origin,
            "proposed_at": iso(self.proposed_at),
            "updated_at": iso(self.updated_at),
            "why": self.why,
        }


def create(store: DocumentStore, record: ActionRecord) -> bool:
    """Store a new record; False when one with its id exists (the same proposal again)."""
    try:
        store.create(CONTAINER, record.tenant_id, record.to_doc())
    except Conflict:
        return False
    return True


def load(store: DocumentStore, tenant_id: str, proposal_id: str) -> ActionRecord | None:
    doc = store.get(CONTAINER, tenant_id, proposal_id)
    if doc is None or doc.get("doc_type") != DOC_TYPE:
        return None
    return ActionRecord.from_doc(doc)


def list_records(
    store: DocumentStore, tenant_id: str, *, incident_id: str | None = None
) -> list[ActionRecord]:
    """The tenant's action records, oldest proposal first."""
    filters = [Filter("doc_type", "=", DOC_TYPE)]
    if incident_id is not None:
        filters.append(Filter("incident_id", "=", incident_id))
    docs = store.query(CONTAINER, tenant_id, filters, order_by="proposed_at")
    return [ActionRecord.from_doc(d) for d in docs]


def executed_since(store: DocumentStore, tenant_id: str, since: datetime) -> list[ActionRecord]:
    """Records that started executing after ``since``, and every one still executing."""
    recent = store.query(
        CONTAINER,
        tenant_id,
        [Filter("doc_type", "=", DOC_TYPE), Filter("executed_at", ">=", iso(since))],
    )
    running = store.query(
        CONTAINER,
        tenant_id,
        [Filter("doc_type", "=", DOC_TYPE), Filter("state", "=", ActionState.EXECUTING.value)],
    )
    found = {d["id"]: d for d in (*recent, *running)}
    return [ActionRecord.from_doc(d) for d in found.values()]


def transition(
    store: DocumentStore,
    tenant_id: str,
    proposal_id: str,
    to: ActionState,
    *,
    now: datetime,
    reason: str,
    by: str | None = None,
    allowed_from: frozenset[ActionState] | None = None,
    changes: Mapping[str, Any] | None = None,
) -> tuple[ActionRecord | None, bool]:
    """Move a record to ``to`` if its current state allows it; (record now, moved?).

    ``allowed_from`` narrows the states it may leave (a Stop only from
    ``announced``). ``changes`` are more fields written in the same write.
    """
    target = ActionState(to)

    def step(doc: dict[str, Any]) -> dict[str, Any] | None:
        current = ActionState(doc["state"])
        if target not in NEXT.get(current, frozenset()):
            return None
        if allowed_from is not None and current not in allowed_from:
            return None
        entry = Step(state=target, at=now, by=by, reason=reason).model_dump(mode="json")
        return {
            **doc,
            **(changes or {}),
            "state": target.value,
            "history": [*doc.get("history", []), entry],
            "updated_at": iso(now),
        }

    before = store.get(CONTAINER, tenant_id, proposal_id)
    if before is None:
        return None, False
    stored = update_with_retry(store, CONTAINER, tenant_id, proposal_id, step, current=before)
    if stored is None:
        return None, False
    record = ActionRecord.from_doc(stored)
    moved = record.state is target and len(record.history) > len(before.get("history", []))
    return record, moved


def amend(
    store: DocumentStore, tenant_id: str, proposal_id: str, changes: Mapping[str, Any]
) -> ActionRecord | None:
    """Write fields that do not change the state (the posted message, the plan)."""

    def write(doc: dict[str, Any]) -> dict[str, Any] | None:
        if all(doc.get(k) == v for k, v in changes.items()):
            return None
        return {**doc, **changes}

    stored = update_with_retry(store, CONTAINER, tenant_id, proposal_id, write)
    return None if stored is None else ActionRecord.from_doc(stored)


def audit(
    store: DocumentStore,
    record: ActionRecord,
    what: str,
    *,
    now: datetime,
    actor: str = "sre-copilot",
    detail: Mapping[str, Any] | None = None,
    key: str | None = None,
) -> None:
    """Append ``remediation.<what>`` about this record to the tenant's hash chain.

    ``key`` (default: proposal and what) makes a retried activity append once.
    """
    audit_record(
        store,
        record.tenant_id,
        at=now,
        actor=actor,
        action=f"remediation.{what}",
        subject=f"action:{record.id}",
        detail={
            "incident_id": record.incident_id,
            "action": record.action,
            "target": record.target,
            "tier": record.tier,
            "state": record.state.value,
            **(detail or {}),
        },
        key=key or f"{record.id}:{what}",
    )
