"""The orchestration engine with the SDK's replay engine, on an in-memory store."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.archive import InstanceArchive
from devhost.catalog import catalog_of
from devhost.clock import ManualClock
from devhost.history import EventType
from devhost.instances import StartRejected
from devhost.invoke import Invoker
from devhost.orchestrations import OrchestrationEngine
from devhost.planning import next_batch
from shared.ports.store import Container, Filter
from tests.fixtures.devhost_app.memory_store import MemoryStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)
app = df.DFApp()
ATTEMPTS: Counter[str] = Counter()
SWITCH = {"flipped": False}
Flow = Generator[Any, Any, Any]


@app.orchestration_trigger(context_name="context", orchestration="flaky_flow")
def flaky_flow(context: df.DurableOrchestrationContext) -> Flow:
    key = context.get_input()
    try:
        yield context.call_activity("explode", "x")
        caught = None
    except Exception as exc:  # noqa: BLE001 - the test checks what the orchestrator sees
        caught = str(exc)
    result = yield context.call_activity_with_retry("flaky", df.RetryOptions(1000, 3), key)
    context.set_custom_status({"stage": "done"})
    return {"caught": caught, "result": result}


@app.activity_trigger(input_name="key", activity="flaky")
def flaky(key: str) -> int:
    ATTEMPTS[key] += 1
    if key == "never" or ATTEMPTS[key] < 3:
        raise RuntimeError(f"attempt {ATTEMPTS[key]}")
    return ATTEMPTS[key]


@app.activity_trigger(input_name="value", activity="explode")
def explode(value: str) -> None:
    raise ValueError(f"cannot handle {value}")


@app.orchestration_trigger(context_name="context", orchestration="parent_flow")
def parent_flow(context: df.DurableOrchestrationContext) -> Flow:
    count = context.get_input()
    results = yield context.task_all(
        [context.call_sub_orchestrator("child_flow", i) for i in range(count)]
    )
    return sum(results)


@app.orchestration_trigger(context_name="context", orchestration="child_flow")
def child_flow(context: df.DurableOrchestrationContext) -> Flow:
    doubled = yield context.call_activity("double", context.get_input())
    return doubled


@app.activity_trigger(input_name="value", activity="double")
async def double(value: int) -> int:
    return value * 2


@app.orchestration_trigger(context_name="context", orchestration="counter_flow")
def counter_flow(context: df.DurableOrchestrationContext) -> Flow:
    count = context.get_input()
    if count >= 3:
        return count
    yield context.call_activity("double", count)
    context.continue_as_new(count + 1)
    return None


@app.orchestration_trigger(context_name="context", orchestration="two_events")
def two_events(context: df.DurableOrchestrationContext) -> Flow:
    first = yield context.wait_for_external_event("a")
    second = yield context.wait_for_external_event("b")
    return [first, second]


@app.orchestration_trigger(context_name="context", orchestration="failing_flow")
def failing_flow(context: df.DurableOrchestrationContext) -> Flow:
    yield context.call_activity("double", 1)
    raise ValueError("orchestrator gave up")


@app.orchestration_trigger(context_name="context", orchestration="fickle_flow")
def fickle_flow(context: df.DurableOrchestrationContext) -> Flow:
    yield context.call_activity("double" if not SWITCH["flipped"] else "explode", 1)
    yield context.wait_for_external_event("go")
    return "done"


@app.orchestration_trigger(context_name="context", orchestration="missing_activity_flow")
def missing_activity_flow(context: df.DurableOrchestrationContext) -> Flow:
    try:
        yield context.call_activity("no_such_activity", 1)
    except Exception as exc:  # noqa: BLE001 - the test checks what the orchestrator sees
        return str(exc)
    return "unreachable"


@app.orchestration_trigger(context_name="context", orchestration="tally_flow")
def tally_flow(context: df.DurableOrchestrationContext) -> Flow:
    total = 0
    for _ in range(context.get_input()):
        total += yield context.wait_for_external_event("tick")
    return total


GATES: defaultdict[str, threading.Event] = defaultdict(threading.Event)


@app.activity_trigger(input_name="name", activity="gated")
def gated(name: str) -> str:
    assert GATES[name].wait(10)
    if name.startswith("fail"):
        raise RuntimeError(name)
    return name


@app.orchestration_trigger(context_name="context", orchestration="race_with_retry")
def race_with_retry(context: df.DurableOrchestrationContext) -> Flow:
    retried = context.call_activity_with_retry("gated", df.RetryOptions(1000, 2), "fail-a")
    plain = context.call_activity("gated", "b")
    yield context.task_any([plain, retried])
    after = yield context.call_activity("double", 5)
    try:
        yield retried
        outcome = "ok"
    except Exception as exc:  # noqa: BLE001 - the test checks what the orchestrator sees
        outcome = str(exc)
    return {"after": after, "retried": outcome}


@app.orchestration_trigger(context_name="context", orchestration="blocking_flow")
def blocking_flow(context: df.DurableOrchestrationContext) -> Flow:
    GATES["episode-started"].set()
    assert GATES["episode"].wait(10)
    yield context.call_activity("double", 0)
    return "unblocked"


CATALOG = catalog_of(app)


def make_engine(store: MemoryStore, clock: ManualClock, workers: int = 4) -> OrchestrationEngine:
    engine = OrchestrationEngine(
        CATALOG, store, clock, Invoker(lambda hub: "{}"), task_hub="Test", workers=workers
    )
    engine.recover()
    return engine


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def engine(store: MemoryStore, clock: ManualClock) -> Iterator[OrchestrationEngine]:
    ATTEMPTS.clear()
    SWITCH["flipped"] = False
    engine = make_engine(store, clock)
    yield engine
    engine.shutdown()


def stored_history(store: MemoryStore, instance_id: str) -> list[dict[str, Any]]:
    """The history as a new host would read it back from the store."""
    archive = InstanceArchive(store, "_taskhub:Test")
    state = archive.state(instance_id)
    assert state is not None
    history: list[dict[str, Any]] = archive.load(state)[0]["history"]
    return history


def settle(engine: OrchestrationEngine) -> None:
    assert engine.wait_for_idle(10), "the engine did not drain"


def advance(engine: OrchestrationEngine, clock: ManualClock, delta: timedelta) -> None:
    clock.advance(delta)
    engine.fire_due_timers(clock.now())
    settle(engine)


def status_of(engine: OrchestrationEngine, instance_id: str) -> dict[str, Any]:
    status = engine.status(instance_id)
    assert status is not None
    return status


def test_activity_failure_is_catchable_and_retry_reaches_success(
    engine: OrchestrationEngine, clock: ManualClock, store: MemoryStore
) -> None:
    iid = engine.start("flaky_flow", "f-1", json.dumps("k"))
    settle(engine)
    assert status_of(engine, iid)["runtimeStatus"] == "Running"  # waiting for the retry timer
    advance(engine, clock, timedelta(seconds=1))
    assert ATTEMPTS["k"] == 2
    advance(engine, clock, timedelta(seconds=1))
    status = status_of(engine, iid)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["result"] == 3
    # The worker's message names the exception type, as Azure's TaskFailed reason does.
    assert status["output"]["caught"].startswith("ValueError: cannot handle x")
    assert status["customStatus"] == {"stage": "done"}
    kinds = Counter(e["EventType"] for e in stored_history(store, iid))
    assert kinds[EventType.TASK_SCHEDULED] == 4  # explode, then flaky three times
    assert kinds[EventType.TASK_FAILED] == 3 and kinds[EventType.TIMER_FIRED] == 2


def test_retry_gives_up_after_the_last_attempt(
    engine: OrchestrationEngine, clock: ManualClock
) -> None:
    iid = engine.start("flaky_flow", None, json.dumps("never"))
    settle(engine)
    for _ in range(3):
        advance(engine, clock, timedelta(seconds=1))
    status = status_of(engine, iid)
    assert ATTEMPTS["never"] == 3
    assert status["runtimeStatus"] == "Failed"
    assert "attempt 3" in status["output"]


def test_sub_orchestrations_fan_out_and_in(engine: OrchestrationEngine) -> None:
    iid = engine.start("parent_flow", "p", "3")
    settle(engine)
    assert status_of(engine, iid)["output"] == 6
    for child in range(3):
        child_status = status_of(engine, f"p:{child:04x}")
        assert child_status["runtimeStatus"] == "Completed"
        assert child_status["output"] == child * 2


def test_continue_as_new_starts_a_fresh_execution(
    engine: OrchestrationEngine, store: MemoryStore
) -> None:
    iid = engine.start("counter_flow", "c", "0")
    settle(engine)
    status = status_of(engine, iid)
    assert (status["runtimeStatus"], status["output"], status["input"]) == ("Completed", 3, 3)
    history = stored_history(store, iid)
    assert not any(e["EventType"] == EventType.TASK_SCHEDULED for e in history)
    assert [e["EventType"] for e in history][-1] == EventType.EXECUTION_COMPLETED
    # nothing of the earlier executions' history is left in the store
    state = store.get(Container.ORCHESTRATIONS, "_taskhub:Test", iid)
    assert state is not None
    chunks = store.query(
        Container.ORCHESTRATIONS, "_taskhub:Test", [Filter("kind", "=", "history")]
    )
    assert all(chunk["executionId"] == state["executionId"] for chunk in chunks)


def test_events_raised_before_the_wait_are_kept_until_awaited(
    engine: OrchestrationEngine,
) -> None:
    iid = engine.start("two_events", "e", None)
    settle(engine)
    assert engine.raise_event(iid, "b", json.dumps("B")) == "accepted"
    settle(engine)
    assert status_of(engine, iid)["runtimeStatus"] == "Running"
    assert engine.raise_event(iid, "a", json.dumps({"value": "A"})) == "accepted"
    settle(engine)
    status = status_of(engine, iid)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == [{"value": "A"}, "B"]
    assert engine.raise_event(iid, "a", None) == "gone"
    assert engine.raise_event("nobody", "a", None) == "missing"


def test_terminate_then_purge(engine: OrchestrationEngine) -> None:
    iid = engine.start("two_events", "t", None)
    settle(engine)
    assert engine.purge(iid) == "active"
    assert engine.terminate(iid, "no longer needed") == "accepted"
    status = status_of(engine, iid)
    assert (status["runtimeStatus"], status["output"]) == ("Terminated", "no longer needed")
    assert engine.terminate(iid, "again") == "gone"
    assert engine.raise_event(iid, "a", None) == "gone"
    assert engine.terminate("nobody", None) == "missing"
    assert [s["instanceId"] for s in engine.statuses(runtime_statuses=["Terminated"])] == [iid]
    assert engine.purge(iid) == "deleted"
    assert engine.status(iid) is None
    assert engine.purge(iid) == "missing"


def test_start_refuses_unknown_orchestrators_and_running_ids(engine: OrchestrationEngine) -> None:
    with pytest.raises(StartRejected) as unknown:
        engine.start("no_such_flow", None, None)
    assert unknown.value.status == 400
    engine.start("two_events", "dup", None)
    with pytest.raises(StartRejected) as running:
        engine.start("two_events", "dup", None)
    assert running.value.status == 409
    engine.terminate("dup", None)
    engine.start("two_events", "dup", None)  # a finished instance is replaced
    settle(engine)
    assert status_of(engine, "dup")["runtimeStatus"] == "Running"


def test_orchestrator_exception_fails_the_instance(engine: OrchestrationEngine) -> None:
    iid = engine.start("failing_flow", None, None)
    settle(engine)
    status = status_of(engine, iid)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == "orchestrator gave up"


def test_missing_activity_reaches_the_orchestrator_as_a_failure(
    engine: OrchestrationEngine,
) -> None:
    iid = engine.start("missing_activity_flow", None, None)
    settle(engine)
    assert "no_such_activity" in status_of(engine, iid)["output"]


def test_a_replay_that_yields_something_else_fails_as_non_deterministic(
    engine: OrchestrationEngine,
) -> None:
    iid = engine.start("fickle_flow", None, None)
    settle(engine)
    SWITCH["flipped"] = True
    engine.raise_event(iid, "go", None)
    settle(engine)
    status = status_of(engine, iid)
    assert status["runtimeStatus"] == "Failed"
    assert "Non-deterministic" in status["output"]


def test_a_new_engine_on_the_same_store_resumes_waiting_instances(
    store: MemoryStore, clock: ManualClock
) -> None:
    first = make_engine(store, clock)
    iid = first.start("two_events", "r", None)
    assert first.wait_for_idle(10)
    assert first.raise_event(iid, "b", json.dumps(2)) == "accepted"  # kept, not yet awaited
    first.shutdown()

    second = make_engine(store, clock)
    try:
        assert second.raise_event(iid, "a", json.dumps(1)) == "accepted"
        assert second.wait_for_idle(10)
        status = second.status(iid)
        assert status is not None and status["output"] == [1, 2]
    finally:
        second.shutdown()


def test_a_long_history_spills_into_chunks_and_resumes_after_restart(
    store: MemoryStore, clock: ManualClock
) -> None:
    first = make_engine(store, clock)
    iid = first.start("tally_flow", "long", "40")
    assert first.wait_for_idle(10)
    for _ in range(20):
        assert first.raise_event(iid, "tick", "1") == "accepted"
        assert first.wait_for_idle(10)
    first.shutdown()
    chunks = store.query(
        Container.ORCHESTRATIONS, "_taskhub:Test", [Filter("kind", "=", "history")]
    )
    assert chunks, "a history this long is kept in chunks"

    second = make_engine(store, clock)
    try:
        for _ in range(20):
            assert second.raise_event(iid, "tick", "2") == "accepted"
        assert second.wait_for_idle(10)
        status = second.status(iid)
        assert status is not None and (status["runtimeStatus"], status["output"]) == (
            "Completed",
            60,
        )
        ticks = [e for e in stored_history(store, iid) if e["EventType"] == EventType.EVENT_RAISED]
        assert len(ticks) == 40
    finally:
        second.shutdown()


def test_work_queued_when_the_engine_stopped_runs_after_restart(
    store: MemoryStore, clock: ManualClock
) -> None:
    first = make_engine(store, clock)
    first.shutdown()
    iid = first.start("parent_flow", "late", "2")  # persisted, not run: the engine has stopped
    second = make_engine(store, clock)
    try:
        assert second.wait_for_idle(10)
        status = second.status(iid)
        assert status is not None and status["output"] == 2
    finally:
        second.shutdown()


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_retry_work_is_numbered_as_the_sdk_numbers_it_when_results_pile_up(
    store: MemoryStore, clock: ManualClock
) -> None:  # white-box: reads the engine's in-memory inbox
    """A plain result and a retried failure in one inbox: the SDK numbers the
    orchestrator's next activity before the retry timer, so the engine must
    not show it both at once."""
    GATES.clear()
    engine = make_engine(store, clock, workers=1)

    def doc(iid: str) -> dict[str, Any]:
        # in memory: results are written with the episode that consumes them
        inst = engine._instances[iid]
        with inst.lock:
            return dict(inst.doc)

    try:
        x = engine.start("race_with_retry", "x", None)
        wait_until(lambda: len(doc(x)["activities"]) == 2)
        engine.start("blocking_flow", "y", None)  # holds the only episode worker
        assert GATES["episode-started"].wait(10)
        GATES["b"].set()
        wait_until(lambda: len(doc(x)["inbox"]) == 1)
        GATES["fail-a"].set()
        wait_until(lambda: len(doc(x)["inbox"]) == 2)
        GATES["episode"].set()
        settle(engine)
        advance(engine, clock, timedelta(seconds=1))
        advance(engine, clock, timedelta(seconds=1))
        status = status_of(engine, x)
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"]["after"] == 10
        assert status["output"]["retried"].startswith("RuntimeError: fail-a")
    finally:
        for gate in ("b", "fail-a", "episode"):
            GATES[gate].set()
        engine.shutdown()


def test_next_batch_stops_before_retry_work_that_follows_a_plain_result() -> None:
    retries = {"1": {"attempt": 1, "maxAttempts": 2}, "7": {"attempt": 2, "maxAttempts": 2}}
    plain = {"EventType": EventType.TASK_COMPLETED, "TaskScheduledId": 0}
    failed = {"EventType": EventType.TASK_FAILED, "TaskScheduledId": 1}
    last_timer = {"EventType": EventType.TIMER_FIRED, "TimerId": 7}  # no new attempt: plain
    raised = {"EventType": EventType.EVENT_RAISED, "Name": "x"}
    assert next_batch([plain, failed, raised], retries) == [plain]
    assert next_batch([failed, plain, raised], retries) == [failed, plain, raised]
    assert next_batch([failed, failed, plain], retries) == [failed, failed, plain]
    assert next_batch([last_timer, failed], retries) == [last_timer]
