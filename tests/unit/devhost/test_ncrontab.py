"""NCRONTAB schedules: parsing and the next occurrence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devhost.ncrontab import CronSchedule, IntervalSchedule, parse_schedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cron(expression: str) -> CronSchedule:
    schedule = parse_schedule(expression)
    assert isinstance(schedule, CronSchedule)
    return schedule


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 */5 * * * *", "2024-01-01T00:00:00", "2024-01-01T00:05:00"),
        ("0 */5 * * * *", "2024-01-01T00:04:59", "2024-01-01T00:05:00"),
        ("*/15 * * * * *", "2024-01-01T00:00:14", "2024-01-01T00:00:15"),
        ("30 0 9 * * 1-5", "2024-01-05T09:00:30", "2024-01-08T09:00:30"),  # Friday -> Monday
        ("0 0 9 * * Mon", "2024-01-01T09:00:00", "2024-01-08T09:00:00"),
        ("0 0 0 1 * *", "2024-01-15T12:00:00", "2024-02-01T00:00:00"),
        ("0 0 12 29 Feb *", "2024-03-01T00:00:00", "2028-02-29T12:00:00"),
        ("0 0 0 * * 7", "2024-01-01T00:00:00", "2024-01-07T00:00:00"),  # 7 is Sunday
        ("5,10 0 0 * * *", "2024-01-01T00:00:05", "2024-01-01T00:00:10"),
        ("0 0 */6 * * *", "2024-01-01T19:00:00", "2024-01-02T00:00:00"),
        ("0 10-20/5 * * * *", "2024-01-01T00:16:00", "2024-01-01T00:20:00"),
        ("0 50/5 * * * *", "2024-01-01T00:56:00", "2024-01-01T01:50:00"),
        ("0 0 0 31 * *", "2024-04-01T00:00:00", "2024-05-31T00:00:00"),
        ("0 0 0 1 1 *", "2024-12-31T23:59:59", "2025-01-01T00:00:00"),
    ],
)
def test_next_occurrence(expression: str, after: str, expected: str) -> None:
    assert parse_schedule(expression).next_after(at(after)) == at(expected)


def test_next_is_strictly_later_and_ignores_microseconds() -> None:
    schedule = cron("* * * * * *")
    start = at("2024-01-01T00:00:00") + timedelta(microseconds=500)
    assert schedule.next_after(start) == at("2024-01-01T00:00:01")


def test_day_of_month_and_day_of_week_must_both_match() -> None:
    # NCrontab ANDs the two fields: the 13th only when it is a Friday.
    schedule = cron("0 0 0 13 * Fri")
    assert schedule.next_after(at("2024-01-01T00:00:00")) == at("2024-09-13T00:00:00")
    assert schedule.matches(at("2024-09-13T00:00:00"))
    assert not schedule.matches(at("2024-10-13T00:00:00"))


def test_timespan_is_an_interval() -> None:
    schedule = parse_schedule("00:05:00")
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.next_after(at("2024-01-01T00:00:07")) == at("2024-01-01T00:05:07")
    assert parse_schedule("1.00:00:00").next_after(at("2024-01-01T00:00:00")) == at(
        "2024-01-02T00:00:00"
    )


@pytest.mark.parametrize(
    "expression",
    [
        "* * * * *",  # five fields
        "60 * * * * *",
        "* * 24 * * *",
        "* * * 0 * *",
        "* * * * 13 *",
        "* * * * * 8",
        "*/0 * * * * *",
        "10-5 * * * * *",
        "a * * * * *",
        "1,,2 * * * * *",
        "%MY_SCHEDULE%",
        "00:00:00",
    ],
)
def test_bad_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(expression)


def test_unsatisfiable_schedule_says_so() -> None:
    with pytest.raises(ValueError, match="never fires"):
        cron("0 0 0 30 Feb *").next_after(at("2024-01-01T00:00:00"))
