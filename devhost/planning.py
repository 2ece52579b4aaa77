"""Planning one episode: what the replay yielded becomes history, work and timers.

Pure functions over a ``Plan``: the engine applies a plan to the instance only
if its episode commits. Sequence numbers are handed out exactly as the SDK
expects (see ``history``). The one subtle case is ``call_activity_with_retry``:
the SDK numbers the retry timer and the rescheduled attempt when it *replays*
the failure, so an inbox batch never puts such an event after one that lets
the orchestrator run on (``next_batch``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from devhost import history as h
from devhost.history import ActionType, EventType


@dataclass(slots=True)
class Plan:
    """What one episode adds, applied to the document only if the episode commits."""

    next_id: int
    events: list[h.Event] = field(default_factory=list)
    leaves: list[dict[str, Any]] = field(default_factory=list)
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    timers: dict[str, dict[str, Any]] = field(default_factory=dict)
    children: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    continue_input: str | None = None
    continues: bool = False
    error: str | None = None

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def retry_step(
    iid: str, event: h.Event, plan: Plan, retries: dict[str, Any], now: datetime
) -> None:
    """Host half of ``*_with_retry``: a failure starts a timer, the timer a new attempt."""
    kind = event["EventType"]
    if kind in (EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_COMPLETED):
        retries.pop(str(event["TaskScheduledId"]), None)
    elif kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED):
        entry = retries.pop(str(event["TaskScheduledId"]), None)
        if entry is not None:
            timer_id = plan.take_id()
            fire_at = now + timedelta(milliseconds=entry["intervalMs"])
            plan.events.append(h.timer_created(now, timer_id, fire_at=fire_at))
            plan.timers[str(timer_id)] = {"fireAt": h.format_time(fire_at)}
            retries[str(timer_id)] = entry
    elif kind == EventType.TIMER_FIRED:
        entry = retries.pop(str(event["TimerId"]), None)
        if entry is not None and entry["attempt"] < entry["maxAttempts"]:
            task_id = plan.take_id()
            entry["attempt"] += 1
            retries[str(task_id)] = entry
            plan_work(iid, task_id, entry["work"], plan, now)


def plan_work(iid: str, task_id: int, work: dict[str, Any], plan: Plan, now: datetime) -> None:
    if work["kind"] == "activity":
        plan.events.append(
            h.task_scheduled(now, task_id, name=work["name"], input_text=work["input"])
        )
        plan.activities[str(task_id)] = {"name": work["name"], "input": work["input"]}
        return
    child_id = work.get("instanceId") or f"{iid}:{task_id:04x}"
    plan.events.append(
        h.sub_orchestration_created(
            now, task_id, name=work["name"], instance_id=child_id, input_text=work["input"]
        )
    )
    plan.children[child_id] = {
        "taskId": task_id,
        "name": work["name"],
        "input": work["input"],
        "version": work.get("version"),
    }


def plan_leaves(
    iid: str,
    outcome: h.OrchestratorOutcome,
    known: list[dict[str, Any]],
    plan: Plan,
    retries: dict[str, Any],
    now: datetime,
) -> None:
    """Check the replay yielded what it did before, then plan the new actions."""
    leaves = outcome.leaves
    for old, new in zip(known, leaves, strict=False):
        if (old["type"], old["name"]) != (new.action_type, new.name):
            plan.error = (
                "Non-deterministic orchestrator: it yielded "
                f"{ActionType(new.action_type).name} {new.name!r} where it had yielded "
                f"{ActionType(old['type']).name} {old['name']!r}."
            )
            return
    if len(leaves) < len(known):
        plan.error = "Non-deterministic orchestrator: it yielded fewer actions than before."
        return
    for leaf in leaves[len(known) :]:
        kind = leaf.action_type
        if kind in h.UNSUPPORTED_ACTIONS:
            plan.error = f"{ActionType(kind).name} is not supported by the local host."
            return
        entry: dict[str, Any] = {"type": kind, "name": leaf.name, "id": None}
        task_id = plan.take_id() if leaf.takes_sequence_number else None
        entry["id"] = task_id
        plan.leaves.append(entry)
        if task_id is None:
            continue
        action = leaf.action
        if kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
            work = {"kind": "activity", "name": leaf.name, "input": action.get("input")}
        elif kind in (
            ActionType.CALL_SUB_ORCHESTRATOR,
            ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
        ):
            work = {
                "kind": "orchestration",
                "name": leaf.name,
                "input": action.get("input"),
                "instanceId": action.get("instanceId"),
                "version": action.get("version"),
            }
        elif kind == ActionType.CREATE_TIMER:
            fire_at = h.parse_time(action["fireAt"])
            plan.events.append(h.timer_created(now, task_id, fire_at=fire_at))
            plan.timers[str(task_id)] = {"fireAt": h.format_time(fire_at)}
            continue
        elif kind == ActionType.CONTINUE_AS_NEW:
            plan.continues = True
            plan.continue_input = action.get("input")
            continue
        else:
            plan.error = f"Unknown action type {kind}."
            return
        plan_work(iid, task_id, work, plan, now)
        options = action.get("retryOptions")
        if options:
            retries[str(task_id)] = {
                "attempt": 1,
                "maxAttempts": int(options.get("maxNumberOfAttempts", 1)),
                "intervalMs": int(options.get("firstRetryIntervalInMilliseconds", 1000)),
                "work": work,
            }
    all_leaves = known + plan.leaves
    for index, leaf in enumerate(leaves):
        if leaf.action_type == ActionType.CREATE_TIMER and leaf.action.get("isCanceled"):
            timer_id = all_leaves[index]["id"]
            if timer_id is not None:
                plan.cancelled.add(str(timer_id))


def verdict(outcome: h.OrchestratorOutcome, plan: Plan) -> tuple[str, Any]:
    error = outcome.error or plan.error
    if error is not None:
        return "Failed", error
    if outcome.done and not plan.continues:
        return "Completed", outcome.output
    return "Running", None


def allocates(event: h.Event, retries: dict[str, Any]) -> bool:
    """Whether replaying this event makes the SDK number a retry timer or attempt."""
    kind = event["EventType"]
    if kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED):
        return str(event["TaskScheduledId"]) in retries
    if kind == EventType.TIMER_FIRED:
        entry = retries.get(str(event["TimerId"]))
        return entry is not None and entry["attempt"] < entry["maxAttempts"]
    return False


def next_batch(inbox: list[h.Event], retries: dict[str, Any]) -> list[h.Event]:
    """The inbox prefix one episode may see.

    Events that make the SDK number retry work must come before any event that
    lets the orchestrator run on (and so number new actions), because the host
    numbers the retry work before the new actions.
    """
    batch: list[h.Event] = []
    resumed = False
    for event in inbox:
        if allocates(event, retries):
            if resumed:
                break
        else:
            resumed = True
        batch.append(event)
    return batch
