"""One formatter for every number and time a message shows."""

from __future__ import annotations

import pytest

from shared import formatting


@pytest.mark.parametrize(
    ("metric", "unit"),
    [
        ("service:error_ratio:rate5m", "ratio"),
        ("service:latency_p99_seconds:5m", "s"),
        ("pod_client_latency_seconds", "s"),
        ("container_memory_working_set_bytes", "bytes"),
        ("node_cpu_utilization_ratio", "ratio"),
        ("http_requests_total", ""),
        ("service:request_rate:rate5m", ""),
    ],
)
def test_units_come_from_prometheus_naming_conventions(metric: str, unit: str) -> None:
    assert formatting.unit_of(metric) == unit


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(0.5, "30 s"), (6, "6 min"), (23.4, "23 min"), (150, "2.5 h"), (4 * 24 * 60, "4 days")],
)
def test_gaps_in_minutes_pick_their_unit(minutes: float, text: str) -> None:
    assert formatting.minutes(minutes) == text


def test_a_change_reads_the_same_at_both_ends() -> None:
    assert formatting.change(0.287, 1.58, "s") == "287 ms → 1.58 s"
    assert formatting.change(0.002, 0.38, "ratio") == "0.2% → 38%"
    assert formatting.change(1390.0, 8140.0, "") == "1,390 → 8,140"
