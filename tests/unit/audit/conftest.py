"""The embedded store the audit tests append to (a fresh file per test), and the
learning-loop runtime (``rt``: a tenant, a sample bundle) the writers' test reuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.store.sqlite import SqliteStore
from tests.unit.feedback.test_learning_loop import rt as rt


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()
