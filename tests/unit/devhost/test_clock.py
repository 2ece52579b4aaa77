"""Calling user functions, and the clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devhost.catalog import Invocable
from devhost.clock import ManualClock, ObservableClock, SystemClock


def invocable(func: object, *, client: str | None = None, context: bool = False) -> Invocable:
    return Invocable(
        name="fn",
        func=func,  # type: ignore[arg-type]
        trigger_param="payload",
        client_param=client,
        client_task_hub=None,
        wants_context=context,
    )


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
