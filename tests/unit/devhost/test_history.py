"""The wire format: our event and action numbers, and a real SDK replay over our history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.durable_functions.models.actions.ActionType import ActionType as SdkActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

from devhost import history as h
from devhost.catalog import catalog_of, load_function_app
from devhost.history import ActionType, EventType
from devhost.invoke import Invoker
from devhost.worker import bridge

APP_PATH = Path(__file__).parents[2] / "fixtures" / "devhost_app" / "function_app.py"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_numbers_match_the_sdk() -> None:
    for ours in EventType:
        assert (
            HistoryEventType[ours.name.replace("SUB_ORCHESTRATION_", "SUB_ORCHESTRATION_INSTANCE_")]
            == ours
        )
    for action in ActionType:
        assert SdkActionType[action.name] == action


def test_times_round_trip_in_the_sdk_format() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert h.format_time(when) == "2024-01-02T03:04:05.678000Z"
    assert h.parse_time(h.format_time(when)) == when
    assert h.parse_time("2024-01-02T03:04:05") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def replay(
    past: list[h.Event], new: list[h.Event], input_value: Any = None
) -> h.OrchestratorOutcome:
    """Run the fixture's approval orchestrator through the SDK's own replay engine."""
    orchestrator = catalog_of(load_function_app(APP_PATH)).orchestrators["approval_orchestrator"]
    payload = h.context_json(
        past,
        new,
        instance_id="i-1",
        input_text=json.dumps(input_value),
        parent_instance_id=None,
    )
    state = Invoker(lambda hub: "{}").call_blocking(orchestrator, bridge.typed_string(payload))
    return h.read_outcome(bridge.text_of(state) or "")


def started(when: datetime) -> list[h.Event]:
    return [
        h.orchestrator_started(when),
        h.execution_started(
            when,
            name="approval_orchestrator",
            input_text='{"id": "i-1"}',
            version=None,
            instance_id="i-1",
            execution_id="e-1",
            parent_instance_id=None,
        ),
    ]


def test_first_episode_schedules_the_activity() -> None:
    outcome = replay([], started(T0), {"id": "i-1"})
    assert not outcome.done
    assert [(leaf.action_type, leaf.name) for leaf in outcome.leaves] == [
        (ActionType.CALL_ACTIVITY, "prepare")
    ]
    assert json.loads(outcome.leaves[0].action["input"]) == {"id": "i-1"}


def test_activity_result_leads_to_the_race_of_timer_and_event() -> None:
    past = [*started(T0), h.task_scheduled(T0, 0, name="prepare", input_text="{}")]
    later = T0 + timedelta(seconds=1)
    new = [h.orchestrator_started(later), h.task_completed(later, 0, result='{"prepared": true}')]
    outcome = replay(past, new)
    assert not outcome.done
    assert outcome.custom_status == "waiting"
    kinds = [(leaf.action_type, leaf.name) for leaf in outcome.leaves]
    assert kinds == [
        (ActionType.CALL_ACTIVITY, "prepare"),
        (ActionType.WAIT_FOR_EXTERNAL_EVENT, "approval"),
        (ActionType.CREATE_TIMER, None),
    ]
    # the event takes no sequence number, so the timer is task 1
    assert [leaf.takes_sequence_number for leaf in outcome.leaves] == [True, False, True]
    assert h.parse_time(outcome.leaves[2].action["fireAt"]) == later + timedelta(minutes=5)


def waiting_history() -> list[h.Event]:
    later = T0 + timedelta(seconds=1)
    return [
        *started(T0),
        h.task_scheduled(T0, 0, name="prepare", input_text="{}"),
        h.orchestrator_completed(T0),
        h.orchestrator_started(later),
        h.task_completed(later, 0, result="{}"),
        h.timer_created(later, 1, fire_at=later + timedelta(minutes=5)),
        h.orchestrator_completed(later),
    ]


def test_the_event_wins_and_the_timer_is_cancelled() -> None:
    when = T0 + timedelta(minutes=1)
    new = [
        h.orchestrator_started(when),
        h.event_raised(when, name="approval", input_text='{"by": "x"}'),
    ]
    outcome = replay(waiting_history(), new)
    assert outcome.done and outcome.output == "approved"
    timer = outcome.leaves[2]
    assert timer.action_type == ActionType.CREATE_TIMER and timer.action["isCanceled"] is True


def test_the_timer_wins_when_it_fires() -> None:
    when = T0 + timedelta(minutes=6)
    fire_at = T0 + timedelta(seconds=1, minutes=5)
    new = [h.orchestrator_started(when), h.timer_fired(when, 1, fire_at=fire_at)]
    outcome = replay(waiting_history(), new)
    assert outcome.done and outcome.output == "timeout"


def test_flatten_walks_compound_actions_depth_first() -> None:
    actions = [
        [
            {"actionType": 0, "functionName": "a", "input": "1"},
            {
                "actionType": 12,
                "compoundActions": [
                    {"actionType": 5, "fireAt": "2024-01-01T00:00:00.000000Z", "isCanceled": False},
                    {
                        "actionType": 11,
                        "compoundActions": [{"actionType": 6, "externalEventName": "e"}],
                    },
                ],
            },
            {"actionType": 4, "input": "2"},
        ]
    ]
    leaves = h.flatten_actions(actions)
    assert [(leaf.action_type, leaf.name) for leaf in leaves] == [
        (0, "a"),
        (5, None),
        (6, "e"),
        (4, None),
    ]


def test_failure_keeps_the_message_and_the_custom_status() -> None:
    state = {
        "isDone": False,
        "actions": [[{"actionType": 0, "functionName": "a"}]],
        "customStatus": "s",
    }
    exc = Exception(f"boom{h.OUT_OF_PROC_MARKER}{json.dumps(state)}")
    outcome = h.read_failure(exc)
    assert outcome.done and outcome.error == "boom" and outcome.custom_status == "s"
    assert [leaf.name for leaf in outcome.leaves] == ["a"]
    plain = h.read_failure(ValueError())
    assert plain.error == "ValueError" and plain.leaves == []


def test_context_marks_past_events_as_played() -> None:
    past = [h.orchestrator_started(T0)]
    new = [h.orchestrator_started(T0)]
    payload = json.loads(
        h.context_json(past, new, instance_id="x", input_text=None, parent_instance_id=None)
    )
    assert [e["IsPlayed"] for e in payload["history"]] == [True, False]
    assert payload["upperSchemaVersion"] == 1 and payload["isReplaying"] is True
    assert past[0]["IsPlayed"] is False  # the stored event is untouched


@pytest.mark.parametrize("status", ["Completed", "Failed"])
def test_execution_completed_event(status: str) -> None:
    event = h.execution_completed(T0, status=status, result="1")
    assert (
        event["EventType"] == EventType.EXECUTION_COMPLETED
        and event["OrchestrationStatus"] == status
    )
