"""The scenario-file metrics adapter: OpenMetrics parsing and Prometheus range semantics."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.adapters.metrics.scenario_file import ScenarioFileMetrics, parse_selector
from shared.errors import BadInput
from tests.fixtures.intelligence.builder import payments_release, write_bundle

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
S0 = int(T0.timestamp())

TEXT = f"""# TYPE up gauge
up{{instance="a",job="node"}} 1 {S0}
up{{instance="a",job="node"}} 1 {S0 + 60}
up{{instance="a",job="node"}} 0 {S0 + 120}
up{{instance="b",job="node"}} 1 {S0}
up{{instance="b",job="other"}} 1 {S0 + 60}
# TYPE service:error_ratio:rate5m gauge
service:error_ratio:rate5m{{service="my \\"svc\\""}} 0.5 {S0 + 60}
# EOF
"""


@pytest.fixture
def source() -> ScenarioFileMetrics:
    return ScenarioFileMetrics.from_text(TEXT)


def test_selects_by_label_matchers(source: ScenarioFileMetrics) -> None:
    step = timedelta(seconds=60)
    end = T0 + timedelta(minutes=2)
    by_instance = source.query_range('up{instance="a"}', T0, end, step)
    assert [s.labels["instance"] for s in by_instance.series] == ["a"]
    assert by_instance.series[0].samples == ((S0, 1.0), (S0 + 60, 1.0), (S0 + 120, 0.0))
    assert len(source.query_range('up{job!="node"}', T0, end, step).series) == 1
    assert len(source.query_range('up{instance=~"a|b"}', T0, end, step).series) == 3
    assert len(source.query_range('up{instance!~"a"}', T0, end, step).series) == 2
    assert len(source.query_range('{__name__="up"}', T0, end, step).series) == 3
    escaped = source.query_range(
        'service:error_ratio:rate5m{service="my \\"svc\\""}', T0, end, step
    )
    assert escaped.series and escaped.series[0].labels["service"] == 'my "svc"'


def test_steps_take_latest_sample_within_lookback(source: ScenarioFileMetrics) -> None:
    # Off-grid steps see the previous sample; past 5 minutes the series goes stale.
    result = source.query_range(
        'up{instance="a"}',
        T0 + timedelta(seconds=30),
        T0 + timedelta(minutes=9),
        timedelta(minutes=2),
    )
    times = [t - S0 for t, _ in result.series[0].samples]
    assert times == [30, 150, 270, 390]
    assert [v for _, v in result.series[0].samples] == [1.0, 0.0, 0.0, 0.0]


def test_bad_selector_is_a_value_not_an_exception(source: ScenarioFileMetrics) -> None:
    result = source.query_range("rate(up[5m])", T0, T0 + timedelta(minutes=1), timedelta(minutes=1))
    assert result.error is not None and "bad_data" in result.error
    assert not result.ok and result.partial
    assert source.query_range("up", T0, T0, timedelta(seconds=0)).error is not None


@pytest.mark.parametrize("selector", ["", '{job=""}', '{job!="node"}', "up{job=node}", "up{job="])
def test_parse_selector_rejects(selector: str) -> None:
    with pytest.raises(ValueError):
        parse_selector(selector)


def test_selector_without_a_name_reads_every_metric(source: ScenarioFileMetrics) -> None:
    """``{job="node"}`` is valid PromQL (a non-empty matcher): every name, as Prometheus."""
    assert parse_selector('{job="node"}').name == ""
    result = source.query_range('{job="node"}', T0, T0 + timedelta(minutes=1), timedelta(minutes=1))
    named = source.query_range(
        'up{job="node"}', T0, T0 + timedelta(minutes=1), timedelta(minutes=1)
    )
    assert result.ok and len(result.series) >= len(named.series) > 0


def test_bad_line_names_file_and_line() -> None:
    with pytest.raises(BadInput, match=r"metrics.om: line 3"):
        ScenarioFileMetrics.from_text(f"# TYPE up gauge\nup 1 {S0}\nup one {S0}\n")


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"metrics.om: cannot read"):
        ScenarioFileMetrics.from_path(tmp_path / "metrics.om")


def test_parses_a_full_bundle_fast(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, payments_release())
    text = (bundle / "metrics.om").read_text()
    text = text * 2  # about 45k lines: the size of a kit bundle
    started = time.perf_counter()
    source = ScenarioFileMetrics.from_text(text)
    elapsed = time.perf_counter() - started
    assert "service:error_ratio:rate5m" in source.metric_names
    assert elapsed < 0.5, f"parse took {elapsed:.3f}s"
    span = source.time_span()
    assert span is not None and span[1] - span[0] == 360 * 60
