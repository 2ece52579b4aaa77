"""Which seven days a weekly report covers, and when it is due, in the tenant's time zone.

A report covers whole local days: the seven before the local day of the
moment it is made for, so the report made on Monday 09:00 covers Monday to
Sunday of the week before, and making it again any time that Monday gives the
same week. Days are counted on the wall clock: the week a clock change falls
in is 167 or 169 hours long, and its boundaries are local midnights.

It is due from Monday 09:00 local until the end of that Monday, once per week
(the "sent" mark is kept in the store by ``deliver``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.errors import BadInput

DUE_WEEKDAY = 0
"""Monday (``datetime.weekday``)."""
DUE_AT = time(9, 0)
DAYS = 7


@dataclass(frozen=True, slots=True)
class Week:
    """Seven local days: ``[start, end)`` as aware UTC datetimes, and their zone."""

    zone: str
    first_day: date
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        """The local date the week starts on: what the "sent" mark is keyed on."""
        return self.first_day.isoformat()

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=DAYS - 1)

    @property
    def label(self) -> str:
        return f"{self.first_day:%a %d %b} to {self.last_day:%a %d %b %Y} ({self.zone})"

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    def previous(self) -> Week:
        return week_starting(self.first_day - timedelta(days=DAYS), ZoneInfo(self.zone))


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def week_starting(first_day: date, zone: ZoneInfo) -> Week:
    return Week(
        zone=zone.key,
        first_day=first_day,
        start=_midnight(first_day, zone),
        end=_midnight(first_day + timedelta(days=DAYS), zone),
    )


def week_before(at: datetime, zone: ZoneInfo) -> Week:
    """The seven local days before the local day of ``at`` (an aware datetime)."""
    today = at.astimezone(zone).date()
    return week_starting(today - timedelta(days=DAYS), zone)


def is_due(now: datetime, zone: ZoneInfo) -> bool:
    """Monday, 09:00 or later, local time."""
    local = now.astimezone(zone)
    return local.weekday() == DUE_WEEKDAY and local.time() >= DUE_AT


def parse_at(text: str, zone: ZoneInfo) -> datetime:
    """``--at``: ISO 8601; a time without an offset is read in the tenant's zone."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(
            f"--at: {text[:64]!r} is not an ISO 8601 time (e.g. 2026-03-09T09:00:00+01:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)
