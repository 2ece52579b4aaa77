"""Time as a port, so tests and replays can fix it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from shared.errors import BadInput


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware UTC datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stays where it is put (replays, tests)."""

    def __init__(self, moment: datetime) -> None:
        self._moment = moment.astimezone(UTC)

    def now(self) -> datetime:
        return self._moment

    def set(self, moment: datetime) -> None:
        self._moment = moment.astimezone(UTC)


def parse_at(text: str) -> datetime:
    """A command's ``--at``: an ISO time, UTC when it has no offset."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"--at {text!r} is not an ISO time (2026-11-30T12:00:00Z)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
