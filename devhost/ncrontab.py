"""Timer-trigger schedules as Azure Functions reads them.

An NCRONTAB expression has six fields, ``second minute hour day month
day-of-week``, each ``*``, a number, a range ``a-b``, a step ``*/n``,
``a-b/n`` or ``a/n``, or a comma list of those; months and days of the week
may be named (``Jan``, ``Mon``). Day-of-week 0 (or 7) is Sunday. Like NCrontab,
a time must match both the day-of-month and the day-of-week field. Times are
UTC (the Functions default). A ``hh:mm:ss`` TimeSpan schedules a fixed interval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")
# Five years covers every satisfiable combination (29 February on a Monday included).
_SEARCH_LIMIT = timedelta(days=366 * 5)


class Schedule(Protocol):
    """When a timer trigger runs next."""

    expression: str

    def next_after(self, after: datetime) -> datetime:
        """The first occurrence strictly after ``after`` (aware UTC)."""
        ...


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = (
    _Field("second", 0, 59),
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day-of-week", 0, 7, _DAYS, 0),
)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed six-field NCRONTAB expression."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    def matches(self, when: datetime) -> bool:
        return (
            when.second in self.seconds
            and when.minute in self.minutes
            and when.hour in self.hours
            and self._day_matches(when)
        )

    def _day_matches(self, when: datetime) -> bool:
        return (
            when.month in self.months
            and when.day in self.days
            and (when.weekday() + 1) % 7 in self.weekdays
        )

    def next_after(self, after: datetime) -> datetime:
        t = after.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        limit = t + _SEARCH_LIMIT
        while t < limit:
            if not self._day_matches(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
                continue
            hour = _first_at_least(self.hours, t.hour)
            if hour is None:
                t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
                continue
            if hour != t.hour:
                t = t.replace(hour=hour, minute=0, second=0)
            minute = _first_at_least(self.minutes, t.minute)
            if minute is None:
                t = (t + timedelta(hours=1)).replace(minute=0, second=0)
                continue
            if minute != t.minute:
                t = t.replace(minute=minute, second=0)
            second = _first_at_least(self.seconds, t.second)
            if second is None:
                t = (t + timedelta(minutes=1)).replace(second=0)
                continue
            return t.replace(second=second)
        raise ValueError(f"schedule {self.expression!r} never fires")


@dataclass(frozen=True, slots=True)
class IntervalSchedule:
    """A TimeSpan schedule (``hh:mm:ss``): every interval after the last run."""

    expression: str
    interval: timedelta

    def next_after(self, after: datetime) -> datetime:
        return after.astimezone(UTC) + self.interval


def parse_schedule(expression: str) -> CronSchedule | IntervalSchedule:
    """Parse a timer trigger's ``schedule``; raises ValueError with the reason."""
    text = expression.strip()
    if text.startswith("%") and text.endswith("%"):
        raise ValueError(f"schedule {expression!r} names an app setting; pass the expression")
    span = _TIMESPAN.match(text)
    if span:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in span.groups())
        interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if interval <= timedelta(0):
            raise ValueError(f"schedule {expression!r}: the interval must be positive")
        return IntervalSchedule(expression, interval)
    parts = text.split()
    if len(parts) != 6:
        raise ValueError(
            f"schedule {expression!r}: NCRONTAB needs six fields "
            "(second minute hour day month day-of-week)"
        )
    values = [
        _parse_field(part, spec, expression) for part, spec in zip(parts, _FIELDS, strict=True)
    ]
    weekdays = frozenset(0 if d == 7 else d for d in values[5])
    return CronSchedule(
        expression=expression,
        seconds=tuple(sorted(values[0])),
        minutes=tuple(sorted(values[1])),
        hours=tuple(sorted(values[2])),
        days=frozenset(values[3]),
        months=frozenset(values[4]),
        weekdays=weekdays,
    )


def _parse_field(text: str, spec: _Field, expression: str) -> set[int]:
    result: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"schedule {expression!r}: empty list item in the {spec.name} field")
        result |= _parse_item(item, spec, expression)
    return result


def _parse_item(item: str, spec: _Field, expression: str) -> set[int]:
    def bad(why: str) -> ValueError:
        return ValueError(f"schedule {expression!r}: {spec.name} field {item!r}: {why}")

    base, _, step_text = item.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) == 0:
            raise bad("the step must be a positive number")
        step = int(step_text)
    if base == "*":
        low, high = spec.low, spec.high
        if spec.name == "day-of-week":
            high = 6  # 7 is only an alias of Sunday
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _value(first, spec, bad), _value(last, spec, bad)
        if low > high:
            raise bad("the range runs backwards")
    else:
        low = _value(base, spec, bad)
        high = spec.high if step_text else low
    return set(range(low, high + 1, step))


def _value(text: str, spec: _Field, bad: _Complaint) -> int:
    upper = text.upper()
    if upper in spec.names:
        return spec.names.index(upper) + spec.name_base
    if not text.isdigit():
        raise bad("not a number")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise bad(f"out of range {spec.low}-{spec.high}")
    return value


class _Complaint(Protocol):
    def __call__(self, why: str) -> ValueError: ...


def _first_at_least(values: tuple[int, ...], floor: int) -> int | None:
    for value in values:
        if value >= floor:
            return value
    return None
