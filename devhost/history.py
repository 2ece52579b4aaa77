"""The Durable Functions wire format between host and SDK, as plain data.

The SDK's replay engine reads an orchestration's history (events numbered as
its ``HistoryEventType``) and answers with the actions the orchestrator has
yielded so far (numbered as its ``ActionType``). These helpers build the
events and read the answer; the engine decides what they mean.

Sequence numbers: the SDK gives every yielded task that needs the host's
help (an activity, a timer, a sub-orchestration, continue-as-new) the next
integer, in the order the actions appear, and matches results back by it
(``TaskScheduledId``, ``TimerId``). Waiting for an external event takes no
number; its result is matched by the event's name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

Event = dict[str, Any]

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


class EventType(IntEnum):
    """``azure.durable_functions.models.history.HistoryEventType``."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16


class ActionType(IntEnum):
    """``azure.durable_functions.models.actions.ActionType``."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


COMPOUND_ACTIONS = frozenset({ActionType.WHEN_ANY, ActionType.WHEN_ALL})
REPLAY_IGNORES = frozenset(
    {
        EventType.EXECUTION_COMPLETED,
        EventType.TASK_SCHEDULED,
        EventType.SUB_ORCHESTRATION_CREATED,
        EventType.TIMER_CREATED,
        EventType.ORCHESTRATOR_COMPLETED,
    }
)
"""Events the SDK's replay never looks at (1.7 has no reference to these types)."""
UNSUPPORTED_ACTIONS = frozenset(
    {ActionType.CALL_ENTITY, ActionType.CALL_HTTP, ActionType.SIGNAL_ENTITY}
)


def format_time(when: datetime) -> str:
    """The SDK's ``DATETIME_STRING_FORMAT``: UTC with microseconds and a Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Read a timestamp written by us or by the SDK (naive ones are UTC)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _event(kind: EventType, when: datetime, event_id: int = -1, **fields: Any) -> Event:
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_time(when),
        **fields,
    }


def orchestrator_started(when: datetime) -> Event:
    return _event(EventType.ORCHESTRATOR_STARTED, when)


def orchestrator_completed(when: datetime) -> Event:
    return _event(EventType.ORCHESTRATOR_COMPLETED, when)


def execution_started(
    when: datetime,
    *,
    name: str,
    input_text: str | None,
    version: str | None,
    instance_id: str,
    execution_id: str,
    parent_instance_id: str | None,
) -> Event:
    """SDK 1.7 reads ``Version`` from this event, so it is always present."""
    return _event(
        EventType.EXECUTION_STARTED,
        when,
        Name=name,
        Input=input_text,
        Version=version,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=None
        if parent_instance_id is None
        else {"OrchestrationInstance": {"InstanceId": parent_instance_id}},
    )


def execution_completed(when: datetime, *, status: str, result: Any) -> Event:
    return _event(EventType.EXECUTION_COMPLETED, when, OrchestrationStatus=status, Result=result)


def execution_terminated(when: datetime, *, reason: str | None) -> Event:
    return _event(EventType.EXECUTION_TERMINATED, when, Input=reason)


def task_scheduled(when: datetime, event_id: int, *, name: str, input_text: str | None) -> Event:
    return _event(EventType.TASK_SCHEDULED, when, event_id, Name=name, Input=input_text)


def task_completed(when: datetime, task_id: int, *, result: str | None) -> Event:
    return _event(EventType.TASK_COMPLETED, when, TaskScheduledId=task_id, Result=result)


def task_failed(when: datetime, task_id: int, *, reason: str, details: str | None) -> Event:
    return _event(
        EventType.TASK_FAILED, when, TaskScheduledId=task_id, Reason=reason, Details=details
    )


def timer_created(when: datetime, event_id: int, *, fire_at: datetime) -> Event:
    return _event(EventType.TIMER_CREATED, when, event_id, FireAt=format_time(fire_at))


def timer_fired(when: datetime, timer_id: int, *, fire_at: datetime) -> Event:
    return _event(EventType.TIMER_FIRED, when, TimerId=timer_id, FireAt=format_time(fire_at))


def event_raised(when: datetime, *, name: str, input_text: str | None) -> Event:
    """The SDK reads an external event's payload from ``Input`` (JSON text)."""
    return _event(EventType.EVENT_RAISED, when, Name=name, Input=input_text)


def sub_orchestration_created(
    when: datetime, event_id: int, *, name: str, instance_id: str, input_text: str | None
) -> Event:
    return _event(
        EventType.SUB_ORCHESTRATION_CREATED,
        when,
        event_id,
        Name=name,
        InstanceId=instance_id,
        Input=input_text,
    )


def sub_orchestration_completed(when: datetime, task_id: int, *, result: str | None) -> Event:
    return _event(
        EventType.SUB_ORCHESTRATION_COMPLETED, when, TaskScheduledId=task_id, Result=result
    )


def sub_orchestration_failed(
    when: datetime, task_id: int, *, reason: str, details: str | None
) -> Event:
    return _event(
        EventType.SUB_ORCHESTRATION_FAILED,
        when,
        TaskScheduledId=task_id,
        Reason=reason,
        Details=details,
    )


def context_json(
    past: Sequence[Event],
    new: Sequence[Event],
    *,
    instance_id: str,
    input_text: str | None,
    parent_instance_id: str | None,
) -> str:
    """The orchestration trigger's payload: past events marked as played.

    ``upperSchemaVersion`` 1 asks the SDK for its V2 action shape: one flat
    list with ``WhenAny``/``WhenAll`` as compound actions. Events the replay
    ignores are left out: the SDK parses every timestamp with dateutil (about
    0.1 ms each), and they are half of a typical history.
    """
    history = [
        {**event, "IsPlayed": True} for event in past if event["EventType"] not in REPLAY_IGNORES
    ]
    history.extend(event for event in new if event["EventType"] not in REPLAY_IGNORES)
    return json.dumps(
        {
            "history": history,
            "input": input_text,
            "instanceId": instance_id,
            "isReplaying": bool(past),
            "parentInstanceId": parent_instance_id,
            "upperSchemaVersion": 1,
        }
    )


@dataclass(frozen=True, slots=True)
class Leaf:
    """One non-compound action, in the order the orchestrator yielded it."""

    action_type: int
    name: str | None
    action: dict[str, Any]

    @property
    def takes_sequence_number(self) -> bool:
        return self.action_type != ActionType.WAIT_FOR_EXTERNAL_EVENT


def flatten_actions(actions: Iterable[Any]) -> list[Leaf]:
    """Depth-first leaves of the SDK's action lists (V1 lists of lists or V2 compounds)."""
    leaves: list[Leaf] = []

    def visit(item: Any) -> None:
        if isinstance(item, list):
            for child in item:
                visit(child)
            return
        if not isinstance(item, dict):
            raise ValueError(f"unexpected action {item!r}")
        kind = int(item["actionType"])
        if kind in COMPOUND_ACTIONS:
            for child in item.get("compoundActions", []):
                visit(child)
            return
        name = (
            item.get("externalEventName")
            if kind == ActionType.WAIT_FOR_EXTERNAL_EVENT
            else (item.get("functionName"))
        )
        leaves.append(Leaf(kind, name, item))

    visit(list(actions))
    return leaves


@dataclass(frozen=True, slots=True)
class OrchestratorOutcome:
    """What one replay says: the actions so far and, when done, the result."""

    done: bool
    leaves: list[Leaf]
    output: Any
    error: str | None
    custom_status: Any


def read_outcome(state_text: str) -> OrchestratorOutcome:
    """Read the JSON the orchestrator's ``handle`` returned."""
    state = json.loads(state_text)
    return OrchestratorOutcome(
        done=bool(state.get("isDone")),
        leaves=flatten_actions(state.get("actions", [])),
        output=state.get("output"),
        error=state.get("error"),
        custom_status=state.get("customStatus"),
    )


def read_failure(exc: BaseException) -> OrchestratorOutcome:
    """Read an orchestrator's unhandled exception.

    The SDK raises ``Exception("<message>\\n\\n$OutOfProcData$:<state json>")``
    so the host still learns the actions and custom status.
    """
    text = str(exc)
    message, marker, state_text = text.partition(OUT_OF_PROC_MARKER)
    if marker:
        try:
            state = read_outcome(state_text)
        except (ValueError, KeyError, TypeError):
            state = None
        if state is not None:
            return OrchestratorOutcome(
                done=True,
                leaves=state.leaves,
                output=None,
                error=state.error or message,
                custom_status=state.custom_status,
            )
    return OrchestratorOutcome(
        done=True, leaves=[], output=None, error=message or type(exc).__name__, custom_status=None
    )
