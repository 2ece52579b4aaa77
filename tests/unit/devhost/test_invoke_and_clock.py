"""Calling user functions, and the clocks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from devhost.catalog import Invocable
from devhost.clock import ManualClock, ObservableClock, SystemClock
from devhost.invoke import InvocationContext, Invoker
from devhost.server import host_loop


def invocable(func: object, *, client: str | None = None, context: bool = False) -> Invocable:
    return Invocable(
        name="fn",
        func=func,  # type: ignore[arg-type]
        trigger_param="payload",
        client_param=client,
        client_task_hub=None,
        wants_context=context,
    )


def test_arguments_carry_the_trigger_the_client_binding_and_the_context() -> None:
    hubs: list[str | None] = []

    def binding(hub: str | None) -> str:
        hubs.append(hub)
        return '{"taskHubName": "H"}'

    def fn(payload: int, client: str, context: InvocationContext) -> None:
        pass

    kwargs = Invoker(binding).arguments(invocable(fn, client="client", context=True), 5)
    assert kwargs["payload"] == 5 and kwargs["client"] == '{"taskHubName": "H"}'
    assert kwargs["context"].function_name == "fn" and kwargs["context"].invocation_id
    assert hubs == [None]


async def doubled(payload: int) -> tuple[int, str]:
    return payload * 2, threading.current_thread().name


def test_coroutine_functions_run_on_the_host_loop_when_attached() -> None:
    invoker = Invoker(lambda hub: "{}")
    assert invoker.call_blocking(invocable(doubled), 2)[0] == 4  # no loop: a private one
    invoker.attach_loop(host_loop())
    value, thread = invoker.call_blocking(invocable(doubled), 3)
    assert (value, thread) == (6, "devhost-loop")


def test_manual_clock_moves_only_forward_and_tells_subscribers() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    clock = ManualClock(start)
    assert isinstance(clock, ObservableClock)
    seen: list[datetime] = []
    unsubscribe = clock.subscribe(lambda: seen.append(clock.now()))
    assert clock.advance(timedelta(minutes=5)) == start + timedelta(minutes=5)
    unsubscribe()
    clock.advance(timedelta(minutes=1))
    assert seen == [start + timedelta(minutes=5)]
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        ManualClock(datetime(2024, 1, 1))


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert not isinstance(SystemClock(), ObservableClock)
