"""The sweep: one post per prediction, one follow-up when it worsens a lot or passes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from shared.adapters.store.sqlite import SqliteStore
from shared.ports.metrics import QueryResult, Series
from shared.predict.sweep import FREE, Action, sweep
from tests.unit.predict.synthetic import NOW

SIZE = 1e12
LABELS = {"__name__": "node_filesystem_avail_bytes", "instance": "db-1", "mountpoint": "/data"}


class FakeMetrics:
    """Answers the sweep's two queries with whatever free-space curve the test sets."""

    def __init__(self) -> None:
        self.hours_left: float | None = None
        self.error: str | None = None

    def query_range(
        self, selector: str, start: datetime, end: datetime, step: timedelta
    ) -> QueryResult:
        if self.error:
            return QueryResult(error=self.error)
        t = np.arange(start.timestamp(), end.timestamp() + 1, step.total_seconds())
        if selector != FREE:
            return QueryResult(series=(Series(LABELS, tuple((x, SIZE) for x in t)),))
        level = 0.3 * SIZE
        rate = 0.0 if self.hours_left is None else level / (self.hours_left * 3600)
        free = level - rate * (t - end.timestamp())
        return QueryResult(series=(Series(LABELS, tuple(zip(t, free, strict=True))),))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def test_a_risk_is_posted_once_then_worse_once_then_cleared_once(store: SqliteStore) -> None:
    metrics = FakeMetrics()
    metrics.hours_left = 8.0
    first = sweep("acme", metrics, store, NOW)
    assert [p.action for p in first.posts] == [Action.NEW]
    assert first.posts[0].text.startswith("/data on db-1 will be full in about 8")
    later = NOW + timedelta(minutes=15)
    metrics.hours_left = 7.8
    assert sweep("acme", metrics, store, later).posts == ()  # same prediction: silence
    metrics.hours_left = 2.0
    worse = sweep("acme", metrics, store, later + timedelta(minutes=15))
    assert [p.action for p in worse.posts] == [Action.WORSE]
    assert "worse than" in worse.posts[0].text
    metrics.hours_left = 1.0
    assert sweep("acme", metrics, store, later + timedelta(minutes=30)).posts == ()
    metrics.hours_left = None
    cleared = sweep("acme", metrics, store, later + timedelta(minutes=45))
    assert [p.action for p in cleared.posts] == [Action.CLEAR]
    assert sweep("acme", metrics, store, later + timedelta(hours=1)).posts == ()
    metrics.hours_left = 6.0  # a new risk after the clear is news again
    again = sweep("acme", metrics, store, later + timedelta(hours=2))
    assert [p.action for p in again.posts] == [Action.NEW]


def test_beyond_the_horizon_nothing_is_posted_and_tenants_are_apart(store: SqliteStore) -> None:
    metrics = FakeMetrics()
    metrics.hours_left = 30.0
    result = sweep("acme", metrics, store, NOW)
    assert result.posts == () and len(result.predictions) == 1
    metrics.hours_left = 5.0
    assert [p.action for p in sweep("acme", metrics, store, NOW).posts] == [Action.NEW]
    assert [p.action for p in sweep("other", metrics, store, NOW).posts] == [Action.NEW]
    longer = sweep("third", metrics, store, NOW, horizon_h=3.0)
    assert longer.posts == ()


def test_a_source_that_fails_is_an_error_value(store: SqliteStore) -> None:
    metrics = FakeMetrics()
    metrics.error = "unavailable: connection refused"
    result = sweep("acme", metrics, store, NOW)
    assert result.posts == () and result.errors == ("free bytes: unavailable: connection refused",)
