"""Admission: the last check before a remediation runs and its claim are one write.

``may_execute`` judges a proposal against the executions running now. Two
orchestrations that begin at the same instant would each read that state
before the other wrote its move to ``executing``, and both would pass a
concurrency, fleet-share or healthy-floor limit. So each tenant has one
admission document (``Container.WORK``, id ``remediation-admission``) that
holds its claims: the executions admitted, running or started within the
hour. ``admit`` reads it, judges the proposal against the executions built
from it, and writes its claim under the document's ETag (created if absent);
a concurrent admission makes that write fail, and it reads and judges again.
The check and the claim are one step per tenant: the tenant's own limits span
all its services, so its admissions take turns; tenants never wait for each
other. (Optimistic concurrency control, Kung & Robinson 1981: read, validate,
write only if nothing changed in between.)

Claims end with their executions (``release``): one that ran is kept as
finished for the per-hour limit, one that never ran is removed. None can leak:
every admission reconciles the running claims with their action records. An
executed record in a final state has finished; a claim whose record never
started executing and whose lease has passed was left by a ``begin`` that
died, and is dropped (a retried ``begin`` is admitted afresh). A record still
``executing`` keeps its claim: the action may well be running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from shared.autonomy import actions
from shared.autonomy.actions import ActionRecord, ActionState
from shared.autonomy.engine import HOUR, Decision, Execution
from shared.errors import Conflict, PreconditionFailed
from shared.models.base import Model, UtcDatetime
from shared.ports.store import Container, DocumentStore, update_with_retry

ADMISSION_ID = "remediation-admission"
DOC_TYPE = "remediation_admission"
CONTAINER = Container.WORK
LEASE = timedelta(minutes=10)
"""How long a claim stands before its record shows it executing. ``begin`` writes
the claim and moves the record right after (two store writes); a claim older
than this whose record never moved was left by a ``begin`` that died."""
ATTEMPTS = 64
"""Conflicting admissions retried before giving up (the activity then retries)."""

Judge = Callable[[tuple[Execution, ...]], Decision]
"""``may_execute`` on the state read now, with these executions."""


class Claim(Model):
    """An admitted execution: what it counts for in the limits."""

    proposal_id: str
    action: str
    service: str
    started_at: UtcDatetime
    out_of_service: int = 0
    lease_until: UtcDatetime
    finished_at: UtcDatetime | None = None

    @property
    def running(self) -> bool:
        return self.finished_at is None

    def execution(self) -> Execution:
        return Execution(
            action=self.action,
            service=self.service,
            started_at=self.started_at,
            out_of_service=self.out_of_service,
            running=self.running,
        )


class Admission(Model):
    """The outcome of ``admit``: the decision (``executes`` when the claim is held)."""

    decision: Decision
    attempts: int
    running: int
    """Other executions running in the tenant when it was decided."""

    @property
    def admitted(self) -> bool:
        return self.decision.executes


def claims(store: DocumentStore, tenant_id: str) -> tuple[Claim, ...]:
    """The tenant's claims as stored (not reconciled)."""
    doc = store.get(CONTAINER, tenant_id, ADMISSION_ID)
    return _claims(doc)


def _claims(doc: dict[str, Any] | None) -> tuple[Claim, ...]:
    return tuple(Claim.model_validate(c) for c in (doc or {}).get("claims", []))


def _doc(tenant_id: str, kept: Iterable[Claim]) -> dict[str, Any]:
    return {
        "id": ADMISSION_ID,
        "tenantId": tenant_id,
        "doc_type": DOC_TYPE,
        "claims": [c.model_dump(mode="json") for c in kept],
    }


def reconcile(
    found: Sequence[Claim],
    lookup: Callable[[str], ActionRecord | None],
    now: datetime,
) -> tuple[Claim, ...]:
    """The claims that still count: running ones checked against their records,
    finished ones kept for the hour after they started."""
    kept: list[Claim] = []
    for claim in found:
        if not claim.running:
            if claim.started_at > now - HOUR:
                kept.append(claim)
            continue
        record = lookup(claim.proposal_id)
        if record is None:
            continue
        if record.state is ActionState.EXECUTING:
            kept.append(claim)
        elif record.state.terminal:
            if record.executed_at is not None and claim.started_at > now - HOUR:
                ended = record.finished_at or record.updated_at
                kept.append(claim.model_copy(update={"finished_at": ended}))
        elif claim.lease_until > now:
            kept.append(claim)  # admitted, its record about to move to executing
    return tuple(kept)


def executions(
    kept: Sequence[Claim], records: Iterable[ActionRecord], exclude: str
) -> tuple[Execution, ...]:
    """The engine's executions: the claims, and records that started without one
    (before admission existed); ``exclude`` is the proposal being judged."""
    claimed = {c.proposal_id for c in kept}
    from_claims = [c.execution() for c in kept if c.proposal_id != exclude]
    from_records = [
        r.execution()
        for r in records
        if r.executed_at is not None and r.id != exclude and r.id not in claimed
    ]
    return (*from_claims, *from_records)


def admit(
    store: DocumentStore,
    record: ActionRecord,
    out_of_service: int,
    judge: Judge,
    now: datetime,
) -> Admission:
    """Judge ``record`` against the tenant's claims and claim it in the same write.

    Refused: nothing is claimed (a claim it held from an earlier attempt is
    removed). Admitted: its claim is written (or its lease renewed). Raises
    ``PreconditionFailed`` after ``ATTEMPTS`` conflicting writes: transient,
    the activity retries.
    """
    tenant_id = record.tenant_id
    recent = actions.executed_since(store, tenant_id, now - HOUR)

    def lookup(proposal_id: str) -> ActionRecord | None:
        return actions.load(store, tenant_id, proposal_id)

    for attempt in range(1, ATTEMPTS + 1):
        doc = store.get(CONTAINER, tenant_id, ADMISSION_ID)
        stored = _claims(doc)
        kept = reconcile(stored, lookup, now)
        seen = executions(kept, recent, record.id)
        decision = judge(seen)
        others = [c for c in kept if c.proposal_id != record.id]
        if decision.executes:
            claim = Claim(
                proposal_id=record.id,
                action=record.action,
                service=record.service,
                started_at=now,
                out_of_service=out_of_service,
                lease_until=now + LEASE,
            )
            final: tuple[Claim, ...] = (*others, claim)
        else:
            final = tuple(others)
        running = sum(1 for e in seen if e.running)
        result = Admission(decision=decision, attempts=attempt, running=running)
        if not decision.executes and final == stored:
            # Refused, nothing to give back or tidy: a refusal needs no write (a stale
            # read can only refuse too much). An admission is always a checked write.
            return result
        try:
            if doc is None:
                store.create(CONTAINER, tenant_id, _doc(tenant_id, final))
            else:
                store.replace(CONTAINER, tenant_id, _doc(tenant_id, final), etag=doc["_etag"])
        except (Conflict, PreconditionFailed):
            continue  # another admission wrote first: judge again on what it wrote
        return result
    raise PreconditionFailed(f"remediation admission of {tenant_id}: too many concurrent writes")


def release(
    store: DocumentStore, tenant_id: str, proposal_id: str, now: datetime, *, ran: bool
) -> bool:
    """End a claim: finished at ``now`` when the action ran, removed when it never did.

    Safe to run again; False when there was no running claim to end.
    """
    ended = False

    def end(doc: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal ended
        found = _claims(doc)
        mine = [c for c in found if c.proposal_id == proposal_id and c.running]
        ended = bool(mine)
        if not mine:
            return None
        rest = [c for c in found if c.proposal_id != proposal_id]
        if ran:
            rest.append(mine[0].model_copy(update={"finished_at": now}))
        return {**doc, "claims": [c.model_dump(mode="json") for c in rest]}

    update_with_retry(store, CONTAINER, tenant_id, ADMISSION_ID, end)
    return ended
