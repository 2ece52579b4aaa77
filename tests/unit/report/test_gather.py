"""The report's content on the fixture tenant, and partial results when a source is absent."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from shared.adapters.store.sqlite import SqliteStore
from shared.errors import BadInput, StoreUnavailable
from shared.models.incident import Incident, IncidentStatus
from shared.models.tenant import Tenant, Topology
from shared.ports.metrics import QueryResult
from shared.ports.store import Container
from shared.report.deliver import sources_for
from shared.report.gather import NO_ADVICE, NO_METRICS, Sources, weekly_report
from tests.unit.report import fixture
from tests.unit.report.fixture import AT, HOSTILE, HOSTILE_SERVICE, WEEK_START


def test_trends_week_over_week_per_service(tenant: Tenant, sources: Sources) -> None:
    report = weekly_report(tenant, AT, sources)
    assert report.week.key == "2026-03-02"
    checkout, payments = report.traffic.services  # busiest first
    assert checkout.service == "checkout" and payments.service == HOSTILE_SERVICE
    assert checkout.requests.change == pytest.approx(0.30, abs=0.01)
    assert checkout.requests.this_week == pytest.approx(130 * 7 * 86400, rel=0.01)
    assert checkout.latency_p99.this_week == pytest.approx(0.3)
    assert checkout.notes == ("traffic up 30%", "p99 latency up 50%")
    assert payments.error_ratio.this_week == pytest.approx(0.01)
    assert payments.error_ratio.last_week == pytest.approx(0.001)
    assert payments.notes[0].startswith("errors 10.0x last week")
    assert checkout.coverage == pytest.approx(1.0)
    assert report.traffic.missing == ()
    assert {(c.service, c.signal) for c in report.traffic.curves} >= {
        ("checkout", "request_rate"),
        (HOSTILE_SERVICE, "latency_p99"),
    }
    assert len(report.traffic.curves[0].this_week) == 168


def test_capacity_forecasts_and_headroom(tenant: Tenant, sources: Sources) -> None:
    report = weekly_report(tenant, AT, sources)
    data, var = report.capacity.filesystems  # the one that fills first
    assert data.where == "/data on db-1" and data.status == "filling"
    assert data.hours_left == pytest.approx(10, abs=0.5)
    assert data.used_share == pytest.approx(0.95)
    assert data.free_week_ago == pytest.approx(0.5 * fixture.SIZE)
    assert var.status == "not_filling" and var.used_share == pytest.approx(0.5)


def test_noisiest_alerts_incidents_and_acceptance(tenant: Tenant, sources: Sources) -> None:
    report = weekly_report(tenant, AT, sources)
    alerts = report.alerts
    assert (alerts.total, alerts.distinct) == (9, 3)  # last week's OldNews is not counted
    top, disk, hostile = alerts.noisiest
    assert (top.name, top.count, top.median_duration_s) == ("HighLatency", 6, 300.0)
    assert (disk.name, disk.count, disk.median_duration_s) == ("DiskFilling", 2, 1200.0)
    assert (hostile.name, hostile.still_firing, hostile.median_duration_s) == (HOSTILE, 1, None)
    assert alerts.missing == (NO_ADVICE,)
    incidents = report.incidents
    assert (incidents.opened.this_week, incidents.opened.last_week) == (3, 1)
    assert (incidents.resolved, incidents.still_open) == (2, 1)
    assert incidents.median_resolve_s.this_week == 3600.0  # 30 and 90 minutes
    assert incidents.median_acknowledge_s == 240.0
    assert incidents.longest[0].title == HOSTILE  # still open: the longest so far
    feedback = report.feedback
    assert (feedback.accepted, feedback.rejected) == (3, 1)
    assert feedback.acceptance.this_week == 0.75 and feedback.acceptance.last_week == 0.5
    assert feedback.by_category["deployment"] == {"accepted": 2, "rejected": 0}


def test_noise_advice_is_shown_as_the_proposed_fix(tenant: Tenant, sources: Sources) -> None:
    advised = Sources(sources.store, sources.metrics, advice={"HighLatency": "for: 10m"})
    report = weekly_report(tenant, AT, advised)
    assert report.alerts.noisiest[0].proposed_fix == "for: 10m"
    assert report.alerts.missing == ()


def test_without_metrics_the_store_sections_stand_and_say_what_is_missing(
    store: SqliteStore,
) -> None:
    tenant = fixture.tenant(None)
    fixture.fill_store(store, tenant)
    report = weekly_report(tenant, AT, Sources(store, None))
    assert report.traffic.services == () and report.traffic.missing == (NO_METRICS,)
    assert report.capacity.filesystems == () and report.capacity.missing == (NO_METRICS,)
    assert report.alerts.total == 9 and report.incidents.resolved == 2
    assert set(report.missing) == {"traffic", "capacity", "alerts"}
    doc = report.to_json()
    assert doc["missing"]["traffic"] == [NO_METRICS]


class Failing:
    """A metrics source that is down, as the port reports it: a value, not an exception."""

    def query_range(
        self, selector: str, start: datetime, end: datetime, step: timedelta
    ) -> QueryResult:
        return QueryResult(error="unavailable: connection refused")


class Rt:
    def __init__(self, store: SqliteStore, error: str) -> None:
        self.store = store
        self.error = error

    def metrics_for(self, tenant: Tenant) -> None:
        raise BadInput(self.error)

    def chat_for(self, tenant: Tenant) -> None:
        raise AssertionError("not used")


def test_a_source_that_fails_or_cannot_be_opened_is_a_reason(
    tenant: Tenant, store: SqliteStore
) -> None:
    report = weekly_report(tenant, AT, Sources(store, Failing()))
    assert report.traffic.missing == (
        "request_rate: unavailable: connection refused",
        "error_ratio: unavailable: connection refused",
        "latency_p99: unavailable: connection refused",
    )
    assert report.capacity.missing == ("free bytes: unavailable: connection refused",)
    opened = sources_for(Rt(store, "/gone/metrics.om: file not found"), tenant)  # type: ignore[arg-type]
    partial = weekly_report(tenant, AT, opened)
    assert partial.traffic.missing == (
        "metrics source unavailable: /gone/metrics.om: file not found",
    )


def test_a_store_that_does_not_answer_leaves_its_sections_partial(
    tenant: Tenant, sources: Sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object, **kwargs: object) -> list[object]:
        raise StoreUnavailable("store throttled (429)")

    monkeypatch.setattr(sources.store, "query", down)
    report = weekly_report(tenant, AT, sources)
    assert report.traffic.services  # metrics still read
    assert report.alerts.missing == ("incident alerts: store throttled (429)",)
    assert report.incidents.missing == ("incidents: store throttled (429)",)
    assert report.feedback.missing == ("feedback: store throttled (429)",)


def test_a_tenant_without_topology_reads_every_service_of_the_metrics(
    store: SqliteStore, metrics_file: Path, sources: Sources
) -> None:
    bare = fixture.tenant(metrics_file).model_copy(update={"topology": Topology()})
    report = weekly_report(bare, AT, sources)
    assert {t.service for t in report.traffic.services} == {"checkout", HOSTILE_SERVICE}


def test_the_progress_hook_is_told_each_section(tenant: Tenant, sources: Sources) -> None:
    seen: list[tuple[str, int, int]] = []
    weekly_report(tenant, AT, sources, on_step=lambda *step: seen.append(step))
    assert [s[0] for s in seen] == ["traffic", "capacity", "alerts", "incidents", "feedback", ""]
    assert seen[-1] == ("", 5, 5)


def test_an_incident_merged_before_anyone_saw_it_is_not_counted_twice(
    tenant: Tenant, sources: Sources
) -> None:
    before = weekly_report(tenant, AT, sources).incidents
    absorbed = Incident(
        id="INC-260399-MERGED",
        tenant_id="acme",
        title="merged away",
        status=IncidentStatus.RESOLVED,
        first_seen=WEEK_START + timedelta(days=2),
        last_seen=WEEK_START + timedelta(days=2),
        created_at=WEEK_START + timedelta(days=2),
        updated_at=WEEK_START + timedelta(days=2),
        resolved_at=WEEK_START + timedelta(days=2),
        merged_into="INC-260301-AAAAA1",
    )
    sources.store.create(Container.INCIDENTS, "acme", absorbed.to_doc())
    after = weekly_report(tenant, AT, sources).incidents
    assert after.opened.this_week == before.opened.this_week
    assert after.resolved == before.resolved
