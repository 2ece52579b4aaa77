"""Topology neighbourhood, recent changes, similar incidents and the assembled snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.enrichment.assemble import assemble_context, collect_signals, signal_names
from shared.enrichment.changes import recent_changes
from shared.enrichment.similar import find_similar
from shared.enrichment.topology import build_neighbourhood
from shared.errors import BadInput
from shared.models.analysis import ContextSnapshot, PastIncident
from shared.models.change import ChangeEvent, ChangeKind
from shared.models.tenant import Service, Topology
from shared.replay.bundle import load_bundle
from shared.replay.pipeline import context_request
from tests.fixtures.intelligence.builder import payments_release, write_bundle

TOPOLOGY = Topology(
    services=(
        Service(name="edge", depends_on=("api",), instances=("h1",)),
        Service(name="api", depends_on=("db", "dns"), instances=("h1", "h2")),
        Service(name="batch", depends_on=("db", "dns"), instances=("h3",)),
        Service(name="db", instances=("h4",)),
        Service(name="dns", instances=("h5",)),
        Service(name="island", instances=("h6",)),
    )
)


def test_neighbourhood_reaches_dependencies_callers_and_sharers() -> None:
    hood = build_neighbourhood(TOPOLOGY, focus_services=["api"], focus_hosts=[])
    assert hood.focus_services == ("api",)
    # api's dependencies, its caller, and the other callers of what it depends on
    assert set(hood.scope_services) == {"api", "db", "dns", "edge", "batch"}
    assert "island" not in hood.scope_services
    assert set(hood.scope_hosts) == {"h1", "h2", "h3", "h4", "h5"}
    assert hood.services["db"].callers == ("api", "batch")
    assert hood.hosts["h1"] == ("api", "edge")


def test_async_calls_reach_the_neighbourhood_and_must_be_dependencies() -> None:
    topology = Topology(
        services=(
            Service(name="web", depends_on=("api", "jobs"), async_calls=("jobs",)),
            Service(name="api"),
            Service(name="jobs"),
        )
    )
    hood = build_neighbourhood(topology, focus_services=["web"], focus_hosts=[])
    assert hood.services["web"].async_calls == ("jobs",)
    assert "jobs" in hood.scope_services  # still a dependency: in scope, read, a candidate
    with pytest.raises(
        ValueError, match=r"service 'web': async_calls 'jobs' not in its depends_on"
    ):
        Service(name="web", depends_on=("api",), async_calls=("jobs",))


def test_alerts_naming_unknown_services_widen_the_scope_to_everything() -> None:
    hood = build_neighbourhood(TOPOLOGY, focus_services=["Checkout Service"], focus_hosts=[])
    assert set(hood.scope_services) >= {s.name for s in TOPOLOGY.services}
    assert "h6" in hood.scope_hosts


def test_neighbourhood_from_a_host_alert_includes_what_runs_there() -> None:
    hood = build_neighbourhood(TOPOLOGY, focus_services=[], focus_hosts=["h6"])
    assert "island" in hood.scope_services and "h6" in hood.scope_hosts


def change(minutes_before: float, service: str = "api") -> ChangeEvent:
    return ChangeEvent(
        id=f"c{minutes_before}",
        tenant_id="t",
        kind=ChangeKind.DEPLOYMENT,
        service=service,
        at=datetime(2026, 3, 4, 14, 0, tzinfo=UTC) - timedelta(minutes=minutes_before),
    )


def test_changes_within_two_hours_before_the_first_alert() -> None:
    onset = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
    kept = recent_changes(
        [change(130), change(119), change(5), change(-3)],
        onset=onset,
        now=onset + timedelta(minutes=5),
    )
    assert [c.id for c in kept] == ["c119", "c5", "c-3"]
    assert [c.minutes_before_onset for c in kept] == [119.0, 5.0, -3.0]


def test_similar_incidents_rank_by_text_and_name() -> None:
    history = [
        PastIncident(
            id="A",
            title="checkout 5xx after release",
            service="checkout",
            category="bad_deployment",
            target="checkout",
            summary="card tokenisation broke",
        ),
        PastIncident(
            id="B",
            title="disk full on node-3",
            service="orders-db",
            category="disk_exhaustion",
            target="node-3",
            summary="WAL filled /data",
        ),
        PastIncident(
            id="C",
            title="orders-api slow",
            service="orders-api",
            category="cpu_saturation",
            target="orders-api",
            summary="regex",
        ),
    ]
    found = find_similar(history, "HighErrorRate checkout failing after release")
    assert found[0].id == "A"
    assert 0 < found[0].score <= 1
    names = find_similar(history, "orders-db node-3")
    assert names[0].id == "B"
    assert find_similar([], "anything") == []
    assert find_similar(history, "   ") == []


def test_assembled_context_from_a_bundle(tmp_path: Path) -> None:
    bundle = load_bundle(write_bundle(tmp_path, payments_release()))
    context = assemble_context(context_request(bundle), metrics=bundle.metrics())
    snapshot = ContextSnapshot.model_validate(context)
    assert snapshot.now == bundle.scenario.alert_time
    # The standing (20 h old) and the resolved alerts do not open the incident.
    recent = [a.name for a in snapshot.alerts if a.recent]
    assert recent == ["HighErrorRate"]
    assert snapshot.started_at == snapshot.now - timedelta(minutes=2)
    assert [c.service for c in snapshot.changes] == ["search", "payments"]
    assert snapshot.changes[1].minutes_before_onset == pytest.approx(18.0)
    assert {"web", "checkout", "payments"} <= set(snapshot.neighbourhood.scope_services)
    errors = {r.entity: r for r in snapshot.signals if r.signal == "error_ratio"}
    assert errors["payments"].onset == snapshot.now - timedelta(minutes=14)
    assert errors["search"].onset is None
    assert snapshot.precedents and snapshot.history_size == 2
    assert snapshot.similar_incidents[0].id == "INC-1"
    assert all(s.ok for s in snapshot.sources)
    # JSON round trip: what a Durable activity hands to the next one.
    assert ContextSnapshot.model_validate(context).model_dump(mode="json", by_alias=True) == context


def test_the_live_fan_out_assembles_the_same_context_as_one_read(tmp_path: Path) -> None:
    bundle = load_bundle(write_bundle(tmp_path, payments_release()))
    request = context_request(bundle)
    single = assemble_context(request, metrics=bundle.metrics())
    # Branches finish in any order; per-series readings must land where one read puts them.
    parts = [
        collect_signals(request, metrics=bundle.metrics(), names=[name])
        for name in reversed(signal_names(request))
    ]
    fanned = assemble_context(request, metrics=bundle.metrics(), collected=parts)
    assert any(r["signal"].startswith("series:") for r in single["signals"])
    assert fanned == single


def test_context_without_metrics_says_so(tmp_path: Path) -> None:
    bundle = load_bundle(write_bundle(tmp_path, payments_release()))
    snapshot = ContextSnapshot.model_validate(
        assemble_context(context_request(bundle), metrics=None)
    )
    assert snapshot.signals == ()
    assert [s.name for s in snapshot.sources if not s.ok] == ["metrics"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"tenant_id": ""}, "tenant_id"),
        ({"now": "yesterday"}, "field now"),
        ({"now": "2026-03-04T14:05:00"}, "field now"),
        (
            {"changes": [{"kind": "rollout", "service": "a", "at": "2026-03-04T14:00:00Z"}]},
            r"changes\[0\]: field kind",
        ),
        ({"signal_overrides": {"nope": "x"}}, "signal_overrides"),
    ],
)
def test_bad_requests_name_the_field(
    tmp_path: Path, patch: dict[str, object], message: str
) -> None:
    bundle = load_bundle(write_bundle(tmp_path, payments_release()))
    request = {**context_request(bundle), **patch}
    with pytest.raises(BadInput, match=message):
        assemble_context(request, metrics=None)
