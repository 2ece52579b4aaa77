"""The incident orchestration: analyse, tell people, follow the incident.

    plan → task_all(collect signals: one branch per catalog signal) → assemble
         → task_all(detectors, Claude) → score + runbooks → post
    then, until resolved: alert changes (coalesced for ALERT_SETTLE) re-analyse
    and update the message; after a quiet day or 50 events it continues as new,
    carrying any event it had received but not yet handled;
    feedback re-renders it; acknowledge / "resolved with #N" apply and update.

Deterministic by construction: time from ``context.current_utc_datetime``,
all I/O in activities, the losing timer cancelled, names as constants.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Iterable
from datetime import timedelta
from typing import Any, Required, TypedDict

import azure.durable_functions as df

from shared.bootstrap import runtime
from shared.incidents import analysis
from shared.incidents.lifecycle import apply_action
from shared.incidents.message import post_or_update
from shared.ingestion.correlation import IncidentTouch
from shared.notify.interactions import FEEDBACK_EVENT, INCIDENT_ACTION_EVENT

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
APPLY_ACTION = "apply_incident_action"
ALERTS_UPDATED = "alerts_updated"
SETTLED = "settled"
"""Not an event: the settle timer fired."""
IDLE_TIMEOUT = timedelta(hours=24)
ALERT_SETTLE = timedelta(seconds=10)
"""Alert changes within this of the first one are analysed together, once."""
EVENTS_BEFORE_CONTINUE = 50
"""Handled events after which the orchestration continues as new, bounding its history."""


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
    proposal: dict[str, Any]
    action: dict[str, Any]
    event: dict[str, Any]


def instance_id(tenant_id: str, incident_id: str) -> str:
    """One orchestration per incident, named after it."""
    return f"{tenant_id}--{incident_id}"


async def signal_incidents(
    client: df.DurableOrchestrationClient, tenant_id: str, touches: Iterable[IncidentTouch]
) -> None:
    """Start the orchestration of a new incident, or tell a running one its alerts changed.

    The alerts are stored already, so a failure here is logged, not returned:
    the orchestration reads the incident afresh whenever it runs.
    """
    for touch in touches:
        if not touch.created and not touch.signal:
            continue  # a signal in the last few seconds already covers this change
        instance = instance_id(tenant_id, touch.incident_id)
        ref = {"tenant_id": tenant_id, "incident_id": touch.incident_id}
        try:
            if touch.created:
                await client.start_new(ORCHESTRATOR, instance, ref)
                continue
            try:
                change = {"status": touch.status, "id": touch.event_id}
                await client.raise_event(instance, ALERTS_UPDATED, change)
            except Exception as exc:  # the SDK raises a bare Exception
                if "No instance" not in str(exc):
                    raise
                # Its creator has not started it yet, or never could: start it here.
                await client.start_new(ORCHESTRATOR, instance, ref)
        except Exception:  # logged: the incident is safe in the store
            log.exception("could not signal orchestration %s", instance)


def _analyse(
    context: df.DurableOrchestrationContext, ref: dict[str, Any]
) -> Generator[Any, Any, None]:
    planned = yield context.call_activity(PLAN, ref)
    parts = None
    if planned["signals"]:
        branches = [
            context.call_activity(COLLECT, {**ref, "signals": [name]})
            for name in planned["signals"]
        ]
        parts = yield context.task_all(branches)
    yield context.call_activity(ASSEMBLE, {**ref, "parts": parts})
    detected, proposal = yield context.task_all(
        [context.call_activity(DETECT, ref), context.call_activity(PROPOSE, ref)]
    )
    yield context.call_activity(SCORE, {**ref, "detected": detected, "proposal": proposal})


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)
def incident_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    ref = dict(context.get_input())
    continued = ref.pop("continued", False)
    # Events an earlier execution received but had not handled when it continued as new.
    backlog: list[tuple[str, Any]] = [(e["name"], e["payload"]) for e in ref.pop("backlog", [])]
    if not continued:
        yield from _analyse(context, ref)
        state = yield context.call_activity(DELIVER, ref)
        if state["status"] == "resolved":
            return {"incident_id": ref["incident_id"], "status": "resolved"}
    settle = None  # a pending re-analysis after alert changes (coalesces storms)
    if continued == "settling":  # the previous execution had alert changes to analyse
        settle = context.create_timer(context.current_utc_datetime + ALERT_SETTLE)
    # One wait per event name, kept until it fires: a wait left behind by a
    # lost race would swallow the next event of its name while the
    # orchestrator is busy in an activity (the SDK hands an event to the
    # newest open wait of that name).
    waits: dict[str, Any] = {}
    # The SDK parks an event that finds no open wait in one slot per name and
    # hands it to every later wait of that name: handle each payload once.
    seen: set[str] = set()
    for handled in range(EVENTS_BEFORE_CONTINUE):
        if backlog:
            fired, payload = backlog.pop(0)
        else:
            for name in (ALERTS_UPDATED, FEEDBACK_EVENT, INCIDENT_ACTION_EVENT):
                if name not in waits:
                    waits[name] = context.wait_for_external_event(name)
            idle = context.create_timer(context.current_utc_datetime + IDLE_TIMEOUT)
            pending = [*waits.values(), idle] + ([settle] if settle is not None else [])
            winner = yield context.task_any(pending)
            if winner == idle:
                break  # quiet for a day, still open: continue as new rather than orphan it
            idle.cancel()
            found = next((name for name, wait in waits.items() if wait == winner), None)
            fired = found if found is not None else SETTLED
            if found is not None:
                del waits[found]
            payload = winner.result
        if fired != SETTLED:
            key = json.dumps([fired, payload], sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
        if fired == ALERTS_UPDATED:
            if settle is None:
                settle = context.create_timer(context.current_utc_datetime + ALERT_SETTLE)
            continue
        if fired == SETTLED:  # the settle timer: analyse the alert changes once
            settle = None
            yield from _analyse(context, ref)
            kind, payload = "alerts", {}
        elif fired == INCIDENT_ACTION_EVENT:
            yield context.call_activity(APPLY_ACTION, {**ref, "action": payload})
            kind = "action"
        else:
            kind = "feedback"
        event = {
            "kind": kind,
            "payload": payload,
            "id": f"{context.current_utc_datetime.isoformat()}#{handled}",
        }
        state = yield context.call_activity(DELIVER, {**ref, "event": event})
        if state["status"] == "resolved":
            return {"incident_id": ref["incident_id"], "status": "resolved"}
    # Waits that already received their event hand it to the next execution.
    carried = [
        {"name": name, "payload": wait.result} for name, wait in waits.items() if wait.is_completed
    ]
    carried += [{"name": name, "payload": payload} for name, payload in backlog]
    continued = "settling" if settle is not None else True
    context.continue_as_new({**ref, "continued": continued, "backlog": carried})
    return {"incident_id": ref["incident_id"], "status": "continued"}


@bp.activity_trigger(input_name="ref", activity=PLAN)
def plan_incident_context(ref: Step) -> dict[str, Any]:
    return analysis.plan(runtime(), ref["tenant_id"], ref["incident_id"])


@bp.activity_trigger(input_name="branch", activity=COLLECT)
def collect_incident_signals(branch: Step) -> dict[str, Any]:
    return analysis.collect(
        runtime(), branch["tenant_id"], branch["incident_id"], branch["signals"]
    )


@bp.activity_trigger(input_name="step", activity=ASSEMBLE)
def assemble_incident_context(step: Step) -> dict[str, Any]:
    return analysis.assemble(runtime(), step["tenant_id"], step["incident_id"], step["parts"])


@bp.activity_trigger(input_name="ref", activity=DETECT)
def detect_incident_candidates(ref: Step) -> list[dict[str, Any]]:
    return analysis.detect(runtime(), ref["tenant_id"], ref["incident_id"])


@bp.activity_trigger(input_name="ref", activity=PROPOSE)
def propose_incident_candidates(ref: Step) -> dict[str, Any]:
    return analysis.propose(runtime(), ref["tenant_id"], ref["incident_id"])


@bp.activity_trigger(input_name="step", activity=SCORE)
def score_incident_hypotheses(step: Step) -> dict[str, Any]:
    return analysis.score(
        runtime(), step["tenant_id"], step["incident_id"], step["detected"], step["proposal"]
    )


@bp.activity_trigger(input_name="step", activity=APPLY_ACTION)
def apply_incident_action(step: Step) -> str:
    return apply_action(runtime(), step["tenant_id"], step["incident_id"], step["action"])


@bp.activity_trigger(input_name="ref", activity=DELIVER)
def deliver_incident_message(ref: Step) -> dict[str, Any]:
    return post_or_update(runtime(), ref["tenant_id"], ref["incident_id"], ref.get("event"))
