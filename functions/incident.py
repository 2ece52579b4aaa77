"""The incident orchestration: analyse, tell people, follow the incident.

    analyse: plan → task_all(collect: one branch per catalog signal) → assemble
             → task_all(detect, propose) → score (+ runbooks) → deliver
    then, until resolved: drain the incident's work (clicks and alert changes
    kept in the store, see ``shared.incidents.work``), apply each item once,
    re-analyse after alert changes settle, and wait for a wake, a settle timer
    or a quiet day.

The Durable extension appends an external event to history when it arrives,
and the SDK hands a parked event to every later wait of its name; so the only
event here is ``wake``, whose payload is a fresh token: a token seen twice
means the SDK is re-delivering a parked one, and the orchestration continues
as new (a fresh replay) after draining. A lost wake costs nothing: every
drain reads all pending work.

Activities retry transient failures with bounded exponential backoff; what
still fails degrades the result (the message says what is missing) instead of
failing the orchestration. Deterministic by construction: time from
``context.current_utc_datetime``, all I/O in activities, the losing timer
cancelled, names as constants.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable
from datetime import timedelta
from typing import Any, Required, TypedDict

import azure.durable_functions as df

from functions.remediation import propose_and_start
from shared.bootstrap import runtime
from shared.incidents import analysis, steps, work
from shared.ingestion.correlation import IncidentTouch

bp = df.Blueprint()
log = logging.getLogger("sre_copilot.incident")

ORCHESTRATOR = "incident_orchestrator"
PLAN = "plan_incident_context"
COLLECT = "collect_incident_signals"
ASSEMBLE = "assemble_incident_context"
DETECT = "detect_incident_candidates"
PROPOSE = "propose_incident_candidates"
SCORE = "score_incident_hypotheses"
DELIVER = "deliver_incident_message"
TAKE_WORK = "take_incident_work"
APPLY_ACTION = "apply_incident_action"
PROPOSE_REMEDIATION = "propose_remediation"
WAKE = work.WAKE_EVENT
IDLE_TIMEOUT = timedelta(hours=24)
ALERT_SETTLE = timedelta(seconds=10)
"""Alert changes within this of the first one are analysed together, once."""
REDELIVER_AFTER = timedelta(minutes=2)
"""A message that could not be delivered is tried again this much later."""
TURNS_BEFORE_CONTINUE = 50
"""Turns after which the orchestration continues as new, bounding its history."""
RETRY_ATTEMPTS = 4
FIRST_RETRY = timedelta(seconds=2)
MAX_RETRY = timedelta(seconds=30)
FANOUT_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=3)


class Step(TypedDict, total=False):
    """An activity's input: the incident, and what the step adds.

    A class, not ``dict[str, Any]``: the worker refuses to load a function
    whose parameter is annotated with a parameterised generic.
    """

    tenant_id: Required[str]
    incident_id: Required[str]
    signals: list[str]
    parts: list[dict[str, Any]] | None
    detected: list[dict[str, Any]]
    proposal: dict[str, Any] | None
    missing: list[str]
    item: dict[str, Any]
    events: list[dict[str, Any]]
    done: list[str]
    replies: list[dict[str, str]]


class GaveUp(Exception):
    """An activity still failed after its retries; the orchestration degrades instead."""


def instance_id(tenant_id: str, incident_id: str) -> str:
    """One orchestration per incident, named after it."""
    return f"{tenant_id}--{incident_id}"


async def wake(client: df.DurableOrchestrationClient, tenant_id: str, incident_id: str) -> str:
    """Wake an incident's orchestration, starting or restarting it when it is not running.

    Returns what was done: ``woken``, ``started`` or ``restarted``. A start
    that finds the instance already pending or running counts as started.
    """
    instance = instance_id(tenant_id, incident_id)
    try:
        await client.raise_event(instance, WAKE, work.wake_token())
        return "woken"
    except Exception as exc:  # the SDK raises a bare Exception naming the status
        text = str(exc)
        if "No instance" not in text and "is gone" not in text:
            raise
        outcome = "started" if "No instance" in text else "restarted"
    await _start(client, tenant_id, incident_id)
    return outcome


async def _start(client: df.DurableOrchestrationClient, tenant_id: str, incident_id: str) -> None:
    instance = instance_id(tenant_id, incident_id)
    try:
        await client.start_new(
            ORCHESTRATOR, instance, {"tenant_id": tenant_id, "incident_id": incident_id}
        )
    except Exception as exc:  # already pending or running: someone else started it
        if "already exists" not in str(exc).lower() and "pending" not in str(exc).lower():
            raise


async def signal_incidents(
    client: df.DurableOrchestrationClient, tenant_id: str, touches: Iterable[IncidentTouch]
) -> None:
    """Start the orchestration of a new incident, or wake a running one.

    The alerts are stored already, so a failure here is logged, not returned:
    the reconciliation timer restarts an incident left without a running
    orchestration.
    """
    telemetry = runtime().telemetry
    for touch in touches:
        if not touch.signal:
            continue  # a wake is pending (its drain reads this change too), or info only
        try:
            with telemetry.span(
                "orchestration start" if touch.created else "orchestration wake",
                tenant_id=tenant_id,
                incident_id=touch.incident_id,
            ):
                if touch.created:
                    await _start(client, tenant_id, touch.incident_id)
                else:
                    await wake(client, tenant_id, touch.incident_id)
        except Exception:  # logged: the incident is safe in the store
            log.exception("could not signal %s", instance_id(tenant_id, touch.incident_id))


def _call(
    context: df.DurableOrchestrationContext, name: str, payload: Step
) -> Generator[Any, Any, Any]:
    """Call an activity, retrying with bounded exponential backoff; ``GaveUp`` at the end."""
    delay = FIRST_RETRY
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            return (yield context.call_activity(name, payload))
        except Exception as exc:  # the SDK throws the activity's failure here
            if attempt == RETRY_ATTEMPTS:
                raise GaveUp(f"{name}: {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
            yield context.create_timer(context.current_utc_datetime + delay)
            delay = min(delay * 2, MAX_RETRY)
    raise AssertionError("unreachable")


def _analyse(
    context: df.DurableOrchestrationContext, ref: Step
) -> Generator[Any, Any, tuple[int, list[str]]]:
    """Run the analysis; returns the alert revision it read and what is missing from it."""
    missing: list[str] = []
    try:
        planned = yield from _call(context, PLAN, ref)
    except GaveUp as exc:
        return 0, [f"analysis not run: the incident could not be read ({exc})"]
    parts: list[dict[str, Any]] | None = None
    if planned["signals"]:
        branches = [
            context.call_activity_with_retry(COLLECT, FANOUT_RETRY, {**ref, "signals": [name]})
            for name in planned["signals"]
        ]
        try:
            parts = yield context.task_all(branches)
        except Exception:  # noqa: BLE001 - a reading that fails degrades the context
            parts = [
                {
                    "signals": [],
                    "sources": [
                        {"name": "metrics", "ok": False, "reason": "metrics could not be read"}
                    ],
                }
            ]
            missing.append("metrics: could not be read after retries")
    try:
        yield from _call(context, ASSEMBLE, {**ref, "parts": parts})
    except GaveUp as exc:
        return int(planned.get("revision", 0)), [*missing, f"analysis not run ({exc})"]
    try:
        detected, proposal = yield context.task_all(
            [
                context.call_activity_with_retry(DETECT, FANOUT_RETRY, ref),
                context.call_activity_with_retry(PROPOSE, FANOUT_RETRY, ref),
            ]
        )
    except Exception:  # noqa: BLE001 - one of them failed: take each on its own
        try:
            detected = yield from _call(context, DETECT, ref)
        except GaveUp as exc:
            detected = []
            missing.append(f"detectors failed ({exc})")
        try:
            proposal = yield from _call(context, PROPOSE, ref)
        except GaveUp:
            proposal = None
            missing.append("Claude's candidates unavailable")
    try:
        yield from _call(
            context,
            SCORE,
            {**ref, "detected": detected, "proposal": proposal, "missing": missing},
        )
    except GaveUp as exc:
        missing.append(f"scoring failed ({exc})")
    return int(planned.get("revision", 0)), missing


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)
def incident_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    given = dict(context.get_input())
    ref: Step = {"tenant_id": given["tenant_id"], "incident_id": given["incident_id"]}
    done = {"incident_id": ref["incident_id"], "status": "resolved"}
    analysed: int | None = given.get("analysed_revision")
    undelivered = bool(given.get("undelivered"))
    if analysed is None:
        analysed, missing = yield from _analyse(context, ref)
        state = yield from _deliver(context, {**ref, "missing": missing})
        if state == "resolved":
            return done
        undelivered = state == "failed"
        yield from _propose_remediation(context, ref)
    wake_wait = None  # kept open across turns: a new wait per turn would orphan the old one
    settle = None  # a pending re-analysis after alert changes (coalesces storms)
    retry = None  # a pending redelivery after a failed one
    seen: set[str] = set()
    for _ in range(TURNS_BEFORE_CONTINUE):
        try:
            taken = yield from _call(context, TAKE_WORK, ref)
        except GaveUp:
            taken = {"items": [], "revision": analysed, "status": "open"}
        if taken["status"] == "unknown":
            return {"incident_id": ref["incident_id"], "status": "gone"}
        if taken["items"]:
            state = yield from _apply(context, ref, taken["items"])
            if state == "resolved":
                return done
            undelivered = state == "failed"
        if taken["revision"] > analysed and settle is None:
            settle = context.create_timer(context.current_utc_datetime + ALERT_SETTLE)
        if undelivered and retry is None:
            retry = context.create_timer(context.current_utc_datetime + REDELIVER_AFTER)
        if wake_wait is None:
            wake_wait = context.wait_for_external_event(WAKE)
        idle = context.create_timer(context.current_utc_datetime + IDLE_TIMEOUT)
        pending = [wake_wait, idle, *(t for t in (settle, retry) if t is not None)]
        winner = yield context.task_any(pending)
        if winner == idle:
            break  # quiet for a day, still open: continue as new rather than orphan it
        idle.cancel()
        if winner == settle:
            settle = None
            analysed, missing = yield from _analyse(context, ref)
            event = {"kind": "alerts", "payload": {}, "id": f"alerts-r{analysed}"}
            state = yield from _deliver(context, {**ref, "events": [event], "missing": missing})
            if state != "resolved":
                yield from _propose_remediation(context, ref)
        elif winner == retry:
            retry = None
            state = yield from _deliver(context, ref)
        else:
            token = str(wake_wait.result)
            wake_wait = None
            if token in seen:
                break  # the SDK re-delivers a parked wake to every new wait: start afresh
            seen.add(token)
            continue
        if state == "resolved":
            return done
        undelivered = state == "failed"
    if settle is not None:
        settle.cancel()
    if retry is not None:
        retry.cancel()
    context.continue_as_new({**ref, "analysed_revision": analysed, "undelivered": undelivered})
    return {"incident_id": ref["incident_id"], "status": "continued"}


def _propose_remediation(context: df.DurableOrchestrationContext, ref: Step) -> Generator[Any, Any]:
    """After an analysis: the top hypothesis' runbook actions go to the tenant's policy.

    Proposals have stable ids, so a re-analysis proposes each action once;
    one that cannot be made is logged, never a reason to stop following the
    incident.
    """
    try:
        yield from _call(context, PROPOSE_REMEDIATION, ref)
    except GaveUp as exc:
        if not context.is_replaying:
            log.warning("remediation not proposed for %s: %s", ref["incident_id"], exc)


def _deliver(context: df.DurableOrchestrationContext, step: Step) -> Generator[Any, Any, str]:
    """Post or update the message; the incident's status, or ``failed``."""
    try:
        state = yield from _call(context, DELIVER, step)
    except GaveUp:
        return "failed"
    return str(state["status"])


def _apply(
    context: df.DurableOrchestrationContext, ref: Step, items: list[dict[str, Any]]
) -> Generator[Any, Any, str]:
    """Apply a drained batch of responders' work and tell the channel in one delivery.

    Each action is applied by its own activity (keyed by its item, so once);
    the batch then costs one message update, a thread line and a reply per
    item, and marks the items done. An action that cannot be applied stays
    pending for the next drain.
    """
    applied: list[dict[str, Any]] = []
    for item in items:
        if item["kind"] == "action":
            try:
                yield from _call(context, APPLY_ACTION, {**ref, "item": item})
            except GaveUp:
                continue
        applied.append(item)
    if not applied:
        return "failed"
    step: Step = {
        **ref,
        "events": [{"kind": i["kind"], "payload": i["payload"], "id": i["id"]} for i in applied],
        "done": [i["id"] for i in applied],
        "replies": [i["reply"] for i in applied if i.get("reply")],
    }
    return (yield from _deliver(context, step))


@bp.activity_trigger(input_name="ref", activity=PLAN)
def plan_incident_context(ref: Step) -> dict[str, Any]:
    rt = runtime()
    with rt.telemetry.activity(PLAN, ref):
        return analysis.plan(rt, ref["tenant_id"], ref["incident_id"])


@bp.activity_trigger(input_name="branch", activity=COLLECT)
def collect_incident_signals(branch: Step) -> dict[str, Any]:
    rt = runtime()
    with rt.telemetry.activity(COLLECT, branch):
        return analysis.collect(rt, branch["tenant_id"], branch["incident_id"], branch["signals"])


@bp.activity_trigger(input_name="step", activity=ASSEMBLE)
def assemble_incident_context(step: Step) -> dict[str, Any]:
    rt = runtime()
    with rt.telemetry.activity(ASSEMBLE, step):
        return analysis.assemble(rt, step["tenant_id"], step["incident_id"], step["parts"])


@bp.activity_trigger(input_name="ref", activity=DETECT)
def detect_incident_candidates(ref: Step) -> list[dict[str, Any]]:
    rt = runtime()
    with rt.telemetry.activity(DETECT, ref):
        return analysis.detect(rt, ref["tenant_id"], ref["incident_id"])


@bp.activity_trigger(input_name="ref", activity=PROPOSE)
def propose_incident_candidates(ref: Step) -> dict[str, Any]:
    rt = runtime()
    with rt.telemetry.activity(PROPOSE, ref):
        return analysis.propose(rt, ref["tenant_id"], ref["incident_id"])


@bp.activity_trigger(input_name="step", activity=SCORE)
def score_incident_hypotheses(step: Step) -> dict[str, Any]:
    rt = runtime()
    with rt.telemetry.activity(SCORE, step):
        return analysis.score(
            rt,
            step["tenant_id"],
            step["incident_id"],
            step["detected"],
            step["proposal"],
            step.get("missing", []),
        )


@bp.activity_trigger(input_name="ref", activity=TAKE_WORK)
def take_incident_work(ref: Step) -> dict[str, Any]:
    rt = runtime()
    with rt.telemetry.activity(TAKE_WORK, ref):
        return steps.take(rt, ref["tenant_id"], ref["incident_id"])


@bp.activity_trigger(input_name="step", activity=APPLY_ACTION)
def apply_incident_action(step: Step) -> str:
    rt = runtime()
    with rt.telemetry.activity(APPLY_ACTION, step):
        return steps.apply(rt, step["tenant_id"], step["incident_id"], step["item"])


@bp.activity_trigger(input_name="ref", activity=PROPOSE_REMEDIATION)
@bp.durable_client_input(client_name="client")
async def propose_remediation(ref: Step, client: df.DurableOrchestrationClient) -> dict[str, Any]:
    """Propose the top hypothesis' runbook actions and start their orchestrations."""
    with runtime().telemetry.activity(PROPOSE_REMEDIATION, ref):
        proposed = await propose_and_start(client, ref["tenant_id"], ref["incident_id"])
    return {"started": [r.id for r in proposed.started], "skipped": list(proposed.skipped)}


@bp.activity_trigger(input_name="step", activity=DELIVER)
def deliver_incident_message(step: Step) -> dict[str, Any]:
    rt = runtime()
    with rt.telemetry.activity(DELIVER, step):
        return steps.deliver(
            rt,
            step["tenant_id"],
            step["incident_id"],
            events=step.get("events", []),
            done=step.get("done", []),
            replies=step.get("replies", []),
            missing=step.get("missing", []),
        )
