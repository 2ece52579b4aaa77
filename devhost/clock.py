"""Time for the development host.

Durable timers and timer triggers read time through a ``Clock`` so that tests
move time forward instead of sleeping. ``ManualClock.advance`` tells every host
that uses it before it returns, so the timers that came due are already queued
when the caller next asks the host whether it is idle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


class Clock(Protocol):
    """Where the host gets the time: always timezone-aware UTC."""

    def now(self) -> datetime: ...


@runtime_checkable
class ObservableClock(Clock, Protocol):
    """A clock that says when it jumps, so the host need not poll it."""

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after every jump; returns the unsubscribe function."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; the test double for durable timers."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward and let subscribed hosts fire whatever came due."""
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += delta
            now = self._now
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
        return now

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe
