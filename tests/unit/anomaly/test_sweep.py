"""The anomaly sweep: deviating signals filed with open incidents or in the daily digest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from shared.adapters.metrics.scenario_file import ScenarioFileMetrics
from shared.adapters.store.sqlite import SqliteStore
from shared.anomaly.sweep import digest_for, evidence_for, sweep
from shared.models.incident import Incident, IncidentStatus
from shared.models.tenant import Service, Tenant, Topology
from shared.ports.metrics import QueryResult
from shared.ports.store import Container

NOW = datetime(2026, 4, 14, 12, 0, tzinfo=UTC)
ERRORS = "service:error_ratio:rate5m"


def _series(service: str, *, jump_at_min: int | None, seed: int) -> list[str]:
    """48 h of a daily error ratio with a little noise; a jump ``jump_at_min``
    minutes before NOW when given."""
    rng = np.random.default_rng(seed)
    start = int((NOW - timedelta(hours=48)).timestamp())
    t = np.arange(start, int(NOW.timestamp()) + 1, 60)
    values = 0.01 + 0.002 * np.sin(2 * np.pi * (t - start) / 86400) + rng.normal(0, 1e-4, t.size)
    if jump_at_min is not None:
        values[t >= NOW.timestamp() - 60 * jump_at_min] += 0.05
    label = f'{ERRORS}{{service="{service}"}}'
    return [f"{label} {v:.6f} {ts}" for ts, v in zip(t, values, strict=True)]


def _metrics_text() -> str:
    """Three services: checkout and search jump 20 and 40 minutes before NOW, pricing not."""
    lines = [f"# TYPE {ERRORS} gauge"]
    lines += _series("checkout", jump_at_min=20, seed=1)
    lines += _series("search", jump_at_min=40, seed=2)
    lines += _series("pricing", jump_at_min=None, seed=3)
    return "\n".join([*lines, "# EOF", ""])


def _metrics() -> ScenarioFileMetrics:
    return ScenarioFileMetrics.from_text(_metrics_text())


def _tenant(name: str) -> Tenant:
    services = tuple(Service(name=s) for s in ("checkout", "search", "pricing"))
    return Tenant(id=name, tenant_id=name, name=name, topology=Topology(services=services))


def _open_incident(store: SqliteStore, tenant: str, service: str) -> str:
    incident = Incident(
        id="inc-1",
        tenant_id=tenant,
        title=f"{service} errors",
        status=IncidentStatus.OPEN,
        services=(service,),
        first_seen=NOW - timedelta(minutes=15),
        last_seen=NOW,
        created_at=NOW - timedelta(minutes=15),
        updated_at=NOW,
    )
    store.create(Container.INCIDENTS, tenant, incident.to_doc())
    return incident.id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def metrics() -> ScenarioFileMetrics:
    return _metrics()


def test_a_jump_joins_its_incident_the_other_the_digest_and_noise_neither(
    store: SqliteStore, metrics: ScenarioFileMetrics
) -> None:
    incident_id = _open_incident(store, "acme", "checkout")
    result = sweep(_tenant("acme"), metrics, store, NOW)
    assert result.errors == ()
    assert [(a.incident_id, [f.entity for f in a.findings]) for a in result.attached] == [
        (incident_id, ["checkout"])
    ]
    assert [f.entity for f in result.digest] == ["search"]
    found = result.attached[0].findings[0]
    assert found.signal == "error_ratio" and found.score >= 0.67
    assert NOW - timedelta(minutes=21) <= found.at <= NOW
    assert found.value > 5 * found.baseline
    stored = evidence_for(store, "acme", incident_id)
    assert [f.entity for f in stored.findings] == ["checkout"]
    digest = digest_for(store, "acme", result.digest_day)
    assert digest is not None and [f.entity for f in digest.findings] == ["search"]


def test_a_repeated_sweep_files_nothing_twice(
    store: SqliteStore, metrics: ScenarioFileMetrics
) -> None:
    incident_id = _open_incident(store, "acme", "checkout")
    for minutes in (0, 5, 15):
        sweep(_tenant("acme"), metrics, store, NOW - timedelta(minutes=minutes) + timedelta(0))
    sweep(_tenant("acme"), metrics, store, NOW)
    assert len(evidence_for(store, "acme", incident_id).findings) == 1
    day = NOW.date().isoformat()
    digest = digest_for(store, "acme", day)
    assert digest is not None and len(digest.findings) == 1


def test_tenants_stay_apart_and_without_an_incident_everything_is_digested(
    store: SqliteStore, metrics: ScenarioFileMetrics
) -> None:
    _open_incident(store, "acme", "checkout")
    result = sweep(_tenant("other"), metrics, store, NOW)
    assert result.attached == ()
    assert sorted(f.entity for f in result.digest) == ["checkout", "search"]
    assert evidence_for(store, "other", "inc-1").findings == ()
    assert evidence_for(store, "acme", "inc-1").findings == ()
    assert digest_for(store, "acme", result.digest_day) is None


def test_a_resolved_incident_takes_no_evidence_and_a_failing_source_is_an_error(
    store: SqliteStore, metrics: ScenarioFileMetrics
) -> None:
    _open_incident(store, "acme", "checkout")
    doc = store.get(Container.INCIDENTS, "acme", "inc-1")
    assert doc is not None
    store.upsert(Container.INCIDENTS, "acme", {**doc, "status": "resolved"})
    result = sweep(_tenant("acme"), metrics, store, NOW)
    assert result.attached == () and len(result.digest) == 2

    class Down:
        def query_range(self, *_args: object) -> QueryResult:
            return QueryResult(error="connection refused")

    down = sweep(_tenant("acme"), Down(), store, NOW)
    assert down.signals == 0 and down.attached == () and down.digest == ()
    assert any("connection refused" in e for e in down.errors)


def test_a_short_history_is_not_scored(store: SqliteStore, metrics: ScenarioFileMetrics) -> None:
    # Six hours before the recent hour (ten are needed): every value would be new to the detector.
    result = sweep(_tenant("acme"), metrics, store, NOW - timedelta(hours=41))
    assert result.attached == () and result.digest == ()
