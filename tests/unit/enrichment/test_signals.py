"""Signals: baselines, deviations and onsets computed through the metrics port."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.metrics.scenario_file import ScenarioFileMetrics
from shared.enrichment.signals import SignalCatalog, Window, compute_signals, names_regex
from shared.models.analysis import SignalReading
from shared.ports.metrics import QueryResult

NOW = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
START = NOW - timedelta(hours=6)


def series(metric: str, labels: str, values: list[float]) -> list[str]:
    base = int(START.timestamp())
    return [f"{metric}{{{labels}}} {v} {base + 60 * i}" for i, v in enumerate(values)]


def flat_then(
    level: float, after: float, minutes_before: int, *, wobble: float = 0.0
) -> list[float]:
    """361 samples: ``level`` (with a little alternating wobble), ``after`` from the event."""
    out = []
    for i in range(361):
        value = level + (wobble if i % 2 else -wobble)
        if i >= 360 - minutes_before:
            value = after
        out.append(value)
    return out


def source_of(lines: list[str]) -> ScenarioFileMetrics:
    return ScenarioFileMetrics.from_text("\n".join([*lines, "# EOF"]) + "\n")


def readings(
    source: ScenarioFileMetrics, services: list[str], hosts: list[str]
) -> dict[tuple[str, str], SignalReading]:
    found, _ = compute_signals(
        source, SignalCatalog(), services=services, hosts=hosts, window=Window(now=NOW)
    )
    return {(r.entity, r.signal): r for r in found}


def test_step_change_has_baseline_deviation_and_onset() -> None:
    source = source_of(
        series(
            "service:error_ratio:rate5m",
            'service="pay"',
            flat_then(0.002, 0.30, 14, wobble=0.0005),
        )
    )
    reading = readings(source, ["pay"], [])[("pay", "error_ratio")]
    assert reading.baseline == pytest.approx(0.002, abs=0.001)
    assert reading.current == pytest.approx(0.30)
    assert reading.deviation > 50
    assert reading.onset == NOW - timedelta(minutes=14)
    assert reading.prior == pytest.approx(0.002, abs=0.001)


def test_steady_signal_has_no_onset() -> None:
    source = source_of(
        series(
            "service:error_ratio:rate5m", 'service="pay"', flat_then(0.002, 0.002, 0, wobble=0.0004)
        )
    )
    reading = readings(source, ["pay"], [])[("pay", "error_ratio")]
    assert reading.onset is None
    assert abs(reading.deviation) < 3


def test_drift_does_not_drag_the_onset_back() -> None:
    # A slow daily climb, then a sharp jump 10 minutes ago: the onset is the jump.
    values = [100.0 + i * 0.5 + (1.0 if i % 2 else -1.0) for i in range(361)]
    for i in range(350, 361):
        values[i] = 700.0
    source = source_of(series("service:request_rate:rate5m", 'service="web"', values))
    reading = readings(source, ["web"], [])[("web", "request_rate")]
    assert reading.onset is not None
    assert NOW - reading.onset <= timedelta(minutes=11)
    assert reading.step_ratio is not None and reading.step_ratio < reading.ratio  # type: ignore[operator]


def test_ratio_signals_fold_pods_and_mountpoints() -> None:
    lines = [
        *series("container_memory_working_set_bytes", 'service="app",pod="app-1"', [4e8] * 361),
        *series("container_memory_working_set_bytes", 'service="app",pod="app-2"', [9.5e8] * 361),
        *series("container_spec_memory_limit_bytes", 'service="app",pod="app-1"', [1e9] * 361),
        *series("container_spec_memory_limit_bytes", 'service="app",pod="app-2"', [1e9] * 361),
        *series("node_filesystem_avail_bytes", 'instance="h1",mountpoint="/"', [5e10] * 361),
        *series("node_filesystem_avail_bytes", 'instance="h1",mountpoint="/data"', [1e9] * 361),
        *series("node_filesystem_size_bytes", 'instance="h1",mountpoint="/"', [1e11] * 361),
        *series("node_filesystem_size_bytes", 'instance="h1",mountpoint="/data"', [1e12] * 361),
    ]
    found = readings(source_of(lines), ["app"], ["h1"])
    memory = found[("app", "memory")]
    assert memory.current == pytest.approx(0.95)
    assert memory.detail == "pod=app-2"
    disk = found[("h1", "disk_free")]
    assert disk.current == pytest.approx(0.001)
    assert disk.detail == "mountpoint=/data"


def test_restarts_count_increase_across_replaced_pods() -> None:
    old = [1.0] * 200 + [float("nan")] * 161
    new = [float("nan")] * 200 + [0.0] * 150 + [1.0] * 5 + [3.0] * 6
    lines = [
        *[
            line
            for line in series(
                "kube_pod_container_status_restarts_total", 'service="app",pod="a"', old
            )
            if "nan" not in line
        ],
        *[
            line
            for line in series(
                "kube_pod_container_status_restarts_total", 'service="app",pod="b"', new
            )
            if "nan" not in line
        ],
    ]
    reading = readings(source_of(lines), ["app"], [])[("app", "restarts")]
    assert reading.current == pytest.approx(3.0)
    assert reading.baseline == pytest.approx(0.0)
    assert reading.onset is not None


def test_cert_expiry_becomes_days_left() -> None:
    expiry = NOW.timestamp() + 2 * 86400
    source = source_of(series("probe_ssl_earliest_cert_expiry", 'service="web"', [expiry] * 361))
    reading = readings(source, ["web"], [])[("web", "cert_expiry")]
    assert reading.current == pytest.approx(2.0, abs=0.01)


class FailingSource:
    def query_range(
        self, selector: str, start: datetime, end: datetime, step: timedelta
    ) -> QueryResult:
        if selector.startswith("up"):
            return QueryResult(error="unavailable: connection refused")
        return QueryResult(warnings=("partial response",))


def test_failed_and_partial_sources_are_reported_not_raised() -> None:
    found, statuses = compute_signals(
        FailingSource(), SignalCatalog(), services=["a"], hosts=["h"], window=Window(now=NOW)
    )
    assert found == []
    by_name = {s.name: s for s in statuses}
    assert not by_name["metrics:up"].ok
    assert "connection refused" in by_name["metrics:up"].reason
    assert not by_name["metrics:error_ratio"].ok
    assert by_name["metrics:error_ratio"].reason == "partial response"


def test_tenant_overrides_replace_selectors() -> None:
    catalog = SignalCatalog().with_overrides({"error_ratio": 'http_errors:ratio{app=~"{names}"}'})
    spec = catalog.get("error_ratio")
    assert spec is not None and spec.selector.startswith("http_errors:ratio")
    assert SignalCatalog().get("error_ratio") != spec  # the default is untouched
    with pytest.raises(KeyError):
        catalog.with_overrides({"nope": 'x{a=~"{names}"}'})
    with pytest.raises(ValueError):
        catalog.with_overrides({"error_ratio": "x"})


def test_names_regex_is_escaped_and_stable() -> None:
    assert names_regex(["b.c", "a"]) == "a|b\\\\.c"
