"""The remediation orchestration: one instance per proposed action.

    open → low: execute
         → medium: task_any(announce timer, answer event); Stop wins: done
         → high: task_any(expiry timer, answer event); Approve: execute,
                 Reject: done, timer: expire (an approval that landed first counts)
    execute: begin (baseline; may_execute re-checks everything and claims
             the tenant's limits in the same conditional write, so runs of
             concurrent incidents are admitted in turn) → execute
             (idempotency key = proposal id + attempt) → settle timer → verify
             → undo when worse → finish (claim released, outcome in the
             incident's thread)
    shadow mode and refusals end at open; a begin or execute that keeps
    failing past its retries ends in finish as failed, with the reason.

The answer is not carried by the event: the Slack edge moves the action
record (``shared.autonomy.answers``) and raises ``remediation_answer`` only
when that changed it, so the event merely wakes this orchestration, which
reads the record. One wait per instance: the SDK's re-delivery of a parked
event to later waits of its name (azure-functions-durable-python #507)
cannot apply an answer twice. The losing timer is cancelled; time comes from
``context.current_utc_datetime``; activities retry with bounded backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any, Required, TypedDict

import azure.durable_functions as df

from shared.autonomy import remediation
from shared.autonomy.proposals import Proposed, propose
from shared.bootstrap import runtime

bp = df.Blueprint()
log = logging.getLogger("sre_copilot.remediation")

ORCHESTRATOR = "remediation_orchestrator"
OPEN = "open_remediation"
SETTLE = "settle_remediation"
EXPIRE = "expire_remediation"
BEGIN = "begin_remediation"
EXECUTE = "execute_remediation"
VERIFY = "verify_remediation"
UNDO = "undo_remediation"
FINISH = "finish_remediation"
ANSWER_EVENT = "remediation_answer"
VERIFY_AFTER = timedelta(minutes=2)
"""Settle time between running an action and judging it with metrics."""
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=4)


class Step(TypedDict, total=False):
    """An activity's input (a class: the worker refuses ``dict[str, Any]`` parameters)."""

    tenant_id: Required[str]
    proposal_id: str
    incident_id: str
    state: str
    reason: str


def instance_id(tenant_id: str, proposal_id: str) -> str:
    return f"remediation--{tenant_id}--{proposal_id}"


async def start(client: df.DurableOrchestrationClient, proposed: Proposed) -> None:
    """Start one orchestration per new proposal (one already started is left as it is)."""
    for record in proposed.started:
        try:
            await client.start_new(
                ORCHESTRATOR,
                instance_id(record.tenant_id, record.id),
                {"tenant_id": record.tenant_id, "proposal_id": record.id},
            )
        except Exception as exc:  # the SDK raises a bare Exception naming the status
            text = str(exc).lower()
            if "already exists" not in text and "pending" not in text:
                raise


async def propose_and_start(
    client: df.DurableOrchestrationClient,
    tenant_id: str,
    incident_id: str,
    *,
    requested_by: str | None = None,
) -> Proposed:
    """The "Propose fix" path: propose now, start an orchestration per proposal."""
    proposed = await asyncio.to_thread(
        propose,
        runtime(),
        tenant_id,
        incident_id,
        origin="button" if requested_by else "analysis",
        requested_by=requested_by,
    )
    await start(client, proposed)
    return proposed


async def answered(client: df.DurableOrchestrationClient, tenant_id: str, proposal_id: str) -> None:
    """Wake the proposal's orchestration after an answer changed its record."""
    await client.raise_event(instance_id(tenant_id, proposal_id), ANSWER_EVENT, proposal_id)


def _call(
    context: df.DurableOrchestrationContext, name: str, step: Step
) -> Generator[Any, Any, dict[str, Any]]:
    result: dict[str, Any] = yield context.call_activity_with_retry(name, RETRY, step)
    return result


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)
def remediation_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    given = dict(context.get_input())
    ref: Step = {"tenant_id": given["tenant_id"], "proposal_id": given["proposal_id"]}
    opened = yield from _call(context, OPEN, ref)
    if opened["next"] in ("announce", "approval"):
        deadline = datetime.fromisoformat(str(opened["deadline"]).replace("Z", "+00:00"))
        timer = context.create_timer(max(deadline, context.current_utc_datetime))
        event = context.wait_for_external_event(ANSWER_EVENT)
        winner = yield context.task_any([timer, event])
        if winner == event:
            timer.cancel()
            settled = yield from _call(context, SETTLE, ref)
            if settled.get("waiting"):  # woken without an answer: the deadline still holds
                yield context.create_timer(max(deadline, context.current_utc_datetime))
                winner = timer
            elif not settled.get("go"):
                return {"proposal_id": ref["proposal_id"], "ran": False}
        if winner == timer and opened["next"] == "approval":
            settled = yield from _call(context, EXPIRE, ref)
            if not settled.get("go"):
                return {"proposal_id": ref["proposal_id"], "ran": False}
    elif opened["next"] != "execute":
        return {"proposal_id": ref["proposal_id"], "ran": False}
    return (yield from _run(context, ref))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else repr(exc)


def _run(context: df.DurableOrchestrationContext, ref: Step) -> Generator[Any, Any, dict[str, Any]]:
    try:
        began = yield from _call(context, BEGIN, ref)
    except Exception as exc:  # noqa: BLE001 - retries exhausted: it never started, say why
        reason = f"could not begin: {_first_line(exc)}"
        yield from _call(context, FINISH, {**ref, "state": "failed", "reason": reason})
        return {"proposal_id": ref["proposal_id"], "ran": False}
    if not began.get("go"):
        return {"proposal_id": ref["proposal_id"], "ran": False}
    try:
        done = yield from _call(context, EXECUTE, ref)
    except Exception as exc:  # noqa: BLE001 - retries exhausted: the record says failed
        reason = f"the executor failed: {_first_line(exc)}"
        yield from _call(context, FINISH, {**ref, "state": "failed", "reason": reason})
        return {"proposal_id": ref["proposal_id"], "ran": False}
    if done["status"] != "succeeded":
        reason = f"the executor failed: {done.get('detail', '')}"
        yield from _call(context, FINISH, {**ref, "state": "failed", "reason": reason})
        return {"proposal_id": ref["proposal_id"], "ran": False}
    yield context.create_timer(context.current_utc_datetime + VERIFY_AFTER)
    verdict = yield from _call(context, VERIFY, ref)
    reasons = "; ".join(verdict.get("reasons", []))
    if verdict.get("worse"):
        undone = yield from _call(context, UNDO, ref)
        state = "rolled_back" if undone["status"] == "succeeded" else "failed"
        reason = f"worse after it ran ({reasons}); undo: {undone.get('detail', '')}"
    else:
        state, reason = "verified", reasons
    yield from _call(context, FINISH, {**ref, "state": state, "reason": reason})
    return {"proposal_id": ref["proposal_id"], "ran": True, "state": state}


def _activity(
    name: str, step: Step, act: Callable[..., dict[str, Any]], *args: str, settles: bool = False
) -> dict[str, Any]:
    """Run one step of ``shared.autonomy.remediation`` for the step's proposal, traced.

    ``settles``: the step may end the proposal, so its outcome is counted then.
    """
    rt = runtime()
    with rt.telemetry.activity(name, step):
        result = act(rt, step["tenant_id"], step["proposal_id"], *args)
    if settles:
        rt.telemetry.action_settled(rt.store, step["tenant_id"], step["proposal_id"])
    return result


@bp.activity_trigger(input_name="step", activity=OPEN)
def open_remediation(step: Step) -> dict[str, Any]:
    return _activity(OPEN, step, remediation.open_, settles=True)


@bp.activity_trigger(input_name="step", activity=SETTLE)
def settle_remediation(step: Step) -> dict[str, Any]:
    return _activity(SETTLE, step, remediation.settle, settles=True)


@bp.activity_trigger(input_name="step", activity=EXPIRE)
def expire_remediation(step: Step) -> dict[str, Any]:
    return _activity(EXPIRE, step, remediation.expire, settles=True)


@bp.activity_trigger(input_name="step", activity=BEGIN)
def begin_remediation(step: Step) -> dict[str, Any]:
    return _activity(BEGIN, step, remediation.begin)


@bp.activity_trigger(input_name="step", activity=EXECUTE)
def execute_remediation(step: Step) -> dict[str, Any]:
    return _activity(EXECUTE, step, remediation.execute)


@bp.activity_trigger(input_name="step", activity=VERIFY)
def verify_remediation(step: Step) -> dict[str, Any]:
    return _activity(VERIFY, step, remediation.verify)


@bp.activity_trigger(input_name="step", activity=UNDO)
def undo_remediation(step: Step) -> dict[str, Any]:
    return _activity(UNDO, step, remediation.undo)


@bp.activity_trigger(input_name="step", activity=FINISH)
def finish_remediation(step: Step) -> dict[str, Any]:
    return _activity(FINISH, step, remediation.finish, step["state"], step["reason"], settles=True)
