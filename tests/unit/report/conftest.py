"""A fixture tenant in a SQLite store, with its embedded metrics file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.metrics.scenario_file import ScenarioFileMetrics
from shared.adapters.store.sqlite import SqliteStore
from shared.models.tenant import Tenant
from shared.report.gather import Sources
from tests.unit.report import fixture


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def metrics_file(tmp_path: Path) -> Path:
    path = tmp_path / "metrics.om"
    path.write_text(fixture.metrics_text(), encoding="utf-8")
    return path


@pytest.fixture
def tenant(store: SqliteStore, metrics_file: Path) -> Tenant:
    made = fixture.tenant(metrics_file)
    fixture.fill_store(store, made)
    return made


@pytest.fixture
def sources(store: SqliteStore, metrics_file: Path) -> Sources:
    return Sources(store, ScenarioFileMetrics.from_path(metrics_file))
