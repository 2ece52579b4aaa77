"""Which week a report covers and when it is due, in the tenant's zone, across clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from shared.errors import BadInput
from shared.models.tenant import Tenant
from shared.report.week import is_due, parse_at, week_before

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
PARIS = ZoneInfo("Europe/Paris")
UTC_ZONE = ZoneInfo("UTC")


def test_the_week_is_the_seven_local_days_before_the_day_of_the_report() -> None:
    at = datetime(2026, 3, 9, 9, 0, tzinfo=PARIS)
    week = week_before(at, PARIS)
    assert (week.first_day, week.last_day) == (date(2026, 3, 2), date(2026, 3, 8))
    assert week.start == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert week.end == datetime(2026, 3, 8, 23, 0, tzinfo=UTC)
    assert week.key == "2026-03-02"
    late = week_before(datetime(2026, 3, 9, 23, 59, tzinfo=PARIS), PARIS)
    assert late == week  # any time that Monday: the same week
    assert week.previous().first_day == date(2026, 2, 23)
    assert week.previous().end == week.start


def test_a_week_with_a_clock_change_has_local_midnights_for_bounds() -> None:
    """New York springs forward on Sunday 8 March 2026: that week is 167 hours long."""
    week = week_before(datetime(2026, 3, 9, 13, 0, tzinfo=UTC), NEW_YORK)
    assert week.first_day == date(2026, 3, 2)
    assert week.start == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # EST midnight
    assert week.end == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)  # EDT midnight
    assert week.hours == 167
    autumn = week_before(datetime(2026, 11, 2, 15, 0, tzinfo=UTC), NEW_YORK)
    assert autumn.hours == 169


@pytest.mark.parametrize(
    ("utc", "zone", "due"),
    [
        # the Monday after New York sprang forward: 09:00 EDT is 13:00 UTC, not 14:00
        (datetime(2026, 3, 9, 12, 59, tzinfo=UTC), NEW_YORK, False),
        (datetime(2026, 3, 9, 13, 0, tzinfo=UTC), NEW_YORK, True),
        # the Monday before it: 09:00 EST is 14:00 UTC
        (datetime(2026, 3, 2, 13, 45, tzinfo=UTC), NEW_YORK, False),
        (datetime(2026, 3, 2, 14, 0, tzinfo=UTC), NEW_YORK, True),
        # London springs forward on Sunday 29 March: Monday 09:00 BST is 08:00 UTC
        (datetime(2026, 3, 30, 7, 45, tzinfo=UTC), LONDON, False),
        (datetime(2026, 3, 30, 8, 0, tzinfo=UTC), LONDON, True),
        # Monday in UTC is already Tuesday in Auckland, and Sunday evening in Hawaii
        (datetime(2026, 3, 9, 20, 0, tzinfo=UTC), ZoneInfo("Pacific/Auckland"), False),
        (datetime(2026, 3, 8, 20, 0, tzinfo=UTC), ZoneInfo("Pacific/Auckland"), True),
        (datetime(2026, 3, 9, 18, 0, tzinfo=UTC), ZoneInfo("Pacific/Honolulu"), False),
        (datetime(2026, 3, 9, 19, 0, tzinfo=UTC), ZoneInfo("Pacific/Honolulu"), True),
        # a quarter-hour zone: Kathmandu is UTC+05:45
        (datetime(2026, 3, 9, 3, 0, tzinfo=UTC), ZoneInfo("Asia/Kathmandu"), False),
        (datetime(2026, 3, 9, 3, 15, tzinfo=UTC), ZoneInfo("Asia/Kathmandu"), True),
        # Tuesday is too late: the next report is next Monday's
        (datetime(2026, 3, 10, 9, 0, tzinfo=UTC), UTC_ZONE, False),
        (datetime(2026, 3, 9, 9, 0, tzinfo=UTC), UTC_ZONE, True),
    ],
)
def test_monday_nine_oclock_is_local(utc: datetime, zone: ZoneInfo, due: bool) -> None:
    assert is_due(utc, zone) is due


def test_at_is_iso_and_read_in_the_tenant_zone_without_an_offset() -> None:
    assert parse_at("2026-03-09T09:00", NEW_YORK) == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    assert parse_at("2026-03-09T09:00:00Z", NEW_YORK) == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    with pytest.raises(BadInput, match="not an ISO 8601 time"):
        parse_at("next monday", NEW_YORK)


def test_a_tenant_zone_is_an_iana_name_and_utc_by_default() -> None:
    assert Tenant(id="a", tenant_id="a", name="A").timezone == "UTC"
    assert Tenant(id="a", tenant_id="a", name="A", timezone="Asia/Kolkata").zone.key == (
        "Asia/Kolkata"
    )
    for bad in ("Mars/Olympus", "../../etc/passwd", "", "+01:00"):
        with pytest.raises(ValidationError, match="time zone"):
            Tenant(id="a", tenant_id="a", name="A", timezone=bad)
    assert (
        timedelta(0)
        == datetime(2026, 1, 1, tzinfo=Tenant(id="a", tenant_id="a", name="A").zone).utcoffset()
    )
