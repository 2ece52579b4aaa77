"""The stored analysis: one typed model, one module that knows where it lives."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.adapters.store.sqlite import SqliteStore
from shared.incidents import stored_analysis
from shared.models.analysis import IncidentAnalysis
from shared.ports.store import Container

REPO = Path(__file__).parents[3]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def test_an_analysis_reads_back_as_it_was_saved(store: SqliteStore) -> None:
    saved = IncidentAnalysis(
        incident_id="INC-260101-ABCDEF",
        hypotheses=({"category": "deployment", "target": "checkout", "rank": 1},),
        runbooks=({"id": "rb-1"},),
        model_version="conf-1.0+w:default",
        at=datetime(2026, 1, 1, 12, tzinfo=UTC),
    )
    stored_analysis.save(store, "acme", saved)
    assert stored_analysis.load(store, "acme", "INC-260101-ABCDEF") == saved
    assert stored_analysis.load(store, "globex", "INC-260101-ABCDEF") is None
    assert stored_analysis.load(store, "acme", "INC-260101-000000") is None


def test_a_document_that_is_not_an_analysis_reads_as_none(store: SqliteStore) -> None:
    store.upsert(
        Container.CACHE,
        "acme",
        {"id": stored_analysis.analysis_id("INC-1"), "hypotheses": "not a list"},
    )
    assert stored_analysis.load(store, "acme", "INC-1") is None


def test_only_the_repository_spells_the_key() -> None:
    spelled = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "shared").rglob("*.py")
        if '"analysis:' in path.read_text(encoding="utf-8")
        or 'f"analysis:{' in path.read_text(encoding="utf-8")
    ]
    assert spelled == ["shared/incidents/stored_analysis.py"]
