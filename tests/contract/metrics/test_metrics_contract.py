"""The metrics port: a real Prometheus must answer exactly what the scenario file answers.

One Prometheus per module, backfilled (``promtool``) with every bundle under
test at once: the bundles cover disjoint days, so each bundle's windows only
see its own samples. Failure cases check that every way a query can fail
comes back as a value with a reason, and quickly.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from shared.adapters.metrics.prometheus import HttpSession, PrometheusSource
from shared.adapters.metrics.scenario_file import ScenarioFileMetrics
from shared.enrichment.signals import SignalCatalog, Window, compute_signals
from shared.ports.metrics import QueryResult, Series
from tests.fixtures.prometheus import free_port, prometheus_backfilled

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "samples" / "bundles" / "sample-checkout-deploy"
KIT_S04 = REPO.parent / "shared" / "scenarios" / "public" / "incidents" / "s-04"


@dataclass(frozen=True)
class Bundle:
    name: str
    folder: Path

    @property
    def metrics_om(self) -> Path:
        return self.folder / "metrics.om"

    def scenario(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads((self.folder / "scenario.json").read_text())
        return loaded


SAMPLE_BUNDLE = Bundle("sample-checkout-deploy", SAMPLE)
KIT_BUNDLE = Bundle("kit-s-04", KIT_S04)
BUNDLES = [
    pytest.param(SAMPLE_BUNDLE, id=SAMPLE_BUNDLE.name),
    pytest.param(KIT_BUNDLE, id=KIT_BUNDLE.name, marks=pytest.mark.kit),
]


def merged_openmetrics(paths: list[Path], out: Path) -> None:
    """Concatenate OpenMetrics files family by family (one ``# TYPE`` each, one ``# EOF``)."""
    families: dict[str, tuple[list[str], list[str]]] = {}
    for path in paths:
        family: tuple[list[str], list[str]] | None = None
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line or line == "# EOF":
                continue
            if line.startswith("# "):
                family = families.setdefault(line.split(" ", 3)[2], ([], []))
                if line not in family[0]:
                    family[0].append(line)
            elif family is None:
                raise ValueError(f"{path}: sample before any # TYPE line")
            else:
                family[1].append(line)
    text = "".join("\n".join(meta + samples) + "\n" for meta, samples in families.values())
    out.write_text(text + "# EOF\n", encoding="utf-8")


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("prometheus")
    # earliest bundle first: each series' samples then stay in time order
    sources = [b.metrics_om for b in (KIT_BUNDLE, SAMPLE_BUNDLE) if b.folder.is_dir()]
    merged = workdir / "bundles.om"
    merged_openmetrics(sources, merged)
    with prometheus_backfilled(merged, workdir) as base:
        yield base


@pytest.fixture
def prometheus(prometheus_url: str) -> Iterator[PrometheusSource]:
    source = PrometheusSource(prometheus_url, timeout_seconds=10)
    yield source
    source.close()


@pytest.fixture(params=BUNDLES)
def bundle(request: pytest.FixtureRequest) -> Bundle:
    chosen: Bundle = request.param
    if not chosen.folder.is_dir():
        pytest.skip(f"{chosen.folder} absent: the scenario kit lives in ../shared/scenarios")
    return chosen


_FILES: dict[Path, ScenarioFileMetrics] = {}


def scenario_file(bundle: Bundle) -> ScenarioFileMetrics:
    if bundle.metrics_om not in _FILES:
        _FILES[bundle.metrics_om] = ScenarioFileMetrics.from_path(bundle.metrics_om)
    return _FILES[bundle.metrics_om]


def label_values(source: ScenarioFileMetrics, metric: str, label: str, span: Span) -> list[str]:
    result = source.query_range(metric, span.start, span.end, span.step)
    return sorted({s.labels[label] for s in result.series})


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime
    step: timedelta


def data_span(bundle: Bundle) -> tuple[datetime, datetime]:
    found = scenario_file(bundle).time_span()
    assert found is not None
    return datetime.fromtimestamp(found[0], UTC), datetime.fromtimestamp(found[1], UTC)


GRIDS: dict[str, Callable[[datetime, datetime], Span]] = {
    # the grid production uses: whole minutes, the samples' own timestamps
    "aligned-60s": lambda lo, hi: Span(lo, hi, timedelta(seconds=60)),
    # off the sample grid and past the data's end: no sample is ever exactly 5 min old
    "offset-120s": lambda lo, hi: Span(
        lo + timedelta(seconds=30), hi + timedelta(minutes=10), timedelta(seconds=120)
    ),
}


def selectors(bundle: Bundle) -> list[str]:
    """One selector per matcher kind, built from the bundle's own label values."""
    lo, hi = data_span(bundle)
    whole = Span(lo, hi, timedelta(hours=1))
    file = scenario_file(bundle)
    services = label_values(file, "service:error_ratio:rate5m", "service", whole)
    hosts = label_values(file, "up", "instance", whole)
    assert len(services) >= 2 and len(hosts) >= 2, "bundle too small to exercise matchers"
    return [
        "service:error_ratio:rate5m",
        f'service:request_rate:rate5m{{service="{services[0]}"}}',
        f'up{{instance!="{hosts[0]}",job="node"}}',
        f'service:latency_p99_seconds:5m{{service=~"{services[0]}|{services[-1][:3]}.*"}}',
        f'service:cpu_utilization:ratio{{service!~"{services[0]}"}}',
        f'{{__name__="up",instance="{hosts[-1]}"}}',
    ]


def by_labels(result: QueryResult) -> dict[frozenset[tuple[str, str]], Series]:
    out = {frozenset(s.labels.items()): s for s in result.series}
    assert len(out) == len(result.series), "two series with one label set"
    return out


def assert_same(actual: QueryResult, expected: QueryResult) -> None:
    assert actual.error is None, actual.error
    assert expected.error is None, expected.error
    assert actual.warnings == ()
    got, want = by_labels(actual), by_labels(expected)
    assert set(got) == set(want)
    for labels, series in want.items():
        other = got[labels]
        assert [t for t, _ in other.samples] == [t for t, _ in series.samples], dict(labels)
        assert [v for _, v in other.samples] == pytest.approx(
            [v for _, v in series.samples], rel=1e-12, abs=0.0
        ), dict(labels)


@pytest.mark.prometheus
@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_same_series_as_scenario_file(
    prometheus: PrometheusSource, bundle: Bundle, grid: str
) -> None:
    span = GRIDS[grid](*data_span(bundle))
    file = scenario_file(bundle)
    for selector in selectors(bundle):
        expected = file.query_range(selector, span.start, span.end, span.step)
        assert expected.series, f"{selector} selects nothing: the comparison would be empty"
        actual = prometheus.query_range(selector, span.start, span.end, span.step)
        assert_same(actual, expected)


@pytest.mark.prometheus
def test_series_end_on_the_sample_grid(prometheus: PrometheusSource) -> None:
    _, hi = data_span(SAMPLE_BUNDLE)
    span = Span(hi - timedelta(minutes=10), hi + timedelta(minutes=10), timedelta(seconds=60))
    expected = scenario_file(SAMPLE_BUNDLE).query_range("up", span.start, span.end, span.step)
    actual = prometheus.query_range("up", span.start, span.end, span.step)
    assert_same(actual, expected)


SIGNAL_CASES = [
    pytest.param(SAMPLE_BUNDLE, id=SAMPLE_BUNDLE.name),
    # s-04 replaces pods mid-window: their last samples are where the lookbacks differ
    pytest.param(
        KIT_BUNDLE,
        id=KIT_BUNDLE.name,
        marks=[pytest.mark.kit],
    ),
]


@pytest.mark.prometheus
@pytest.mark.parametrize("case", SIGNAL_CASES)
def test_same_signals_as_scenario_file(prometheus: PrometheusSource, case: Bundle) -> None:
    if not case.folder.is_dir():
        pytest.skip(f"{case.folder} absent: the scenario kit lives in ../shared/scenarios")
    scenario = case.scenario()
    topology = scenario["topology"]
    assert isinstance(topology, dict)
    services = [s["name"] for s in topology["services"]]
    hosts = sorted({h for s in topology["services"] for h in s.get("instances", [])})
    alert_time = str(scenario["alert_time"]).replace("Z", "+00:00")
    window = Window(now=datetime.fromisoformat(alert_time))
    expected, expected_status = compute_signals(
        scenario_file(case), SignalCatalog(), services=services, hosts=hosts, window=window
    )
    actual, actual_status = compute_signals(
        prometheus, SignalCatalog(), services=services, hosts=hosts, window=window
    )
    assert all(status.ok for status in actual_status), actual_status
    assert actual_status == expected_status
    assert any(r.onset is not None for r in expected), "no onset: the comparison is too weak"
    assert [(r.signal, r.entity) for r in actual] == [(r.signal, r.entity) for r in expected]
    for got, want in zip(actual, expected, strict=True):
        assert got.model_dump() == want.model_dump(), (want.signal, want.entity)


# --- failures are values -------------------------------------------------------------

NOW = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)
HOUR = (NOW - timedelta(hours=1), NOW, timedelta(seconds=60))


@pytest.mark.prometheus
def test_bad_query_carries_prometheus_message(prometheus: PrometheusSource) -> None:
    result = prometheus.query_range("rate(up[5m]", *HOUR)
    assert result.series == ()
    assert result.error is not None
    assert result.error.startswith("bad_data: ")
    assert "parse error" in result.error


def test_closed_port_is_an_error_value() -> None:
    source = PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    try:
        result = source.query_range("up", *HOUR)
    finally:
        source.close()
    assert result.error is not None
    assert result.error.startswith("unavailable: ")
    assert "refused" in result.error.lower()


def test_silent_server_times_out_quickly() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # the kernel completes the handshake; nobody ever answers
        port = listener.getsockname()[1]
        source = PrometheusSource(f"http://127.0.0.1:{port}", timeout_seconds=0.3)
        began = time.monotonic()
        try:
            result = source.query_range("up", *HOUR)
        finally:
            source.close()
        elapsed = time.monotonic() - began
    assert result.error is not None
    assert result.error.startswith("timeout: ")
    assert "0.3s" in result.error
    assert elapsed < 2.0


# --- the wire, through a scripted server ---------------------------------------------


class Scripted(http.server.ThreadingHTTPServer):
    """Answers every request with ``reply``; records requests and connections."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.reply: tuple[int, str, bytes] = (200, "application/json", b"{}")
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.connections = 0
        self.hang_up: str | None = None
        """``"announced"``: ``Connection: close``; ``"silent"``: close as if idle too long."""

    def process_request(self, request: object, client_address: object) -> None:
        self.connections += 1
        super().process_request(request, client_address)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/prefix"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Scripted

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle waits for a delayed ACK
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode("ascii"))
        self.server.requests.append((self.command, self.path, form))
        status, content_type, body = self.server.reply
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.server.hang_up == "announced":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        if self.server.hang_up is not None:
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def matrix(warnings: list[str] | None = None) -> bytes:
    doc: dict[str, object] = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"__name__": "up", "instance": "node-1"},
                    "values": [[1772633040, "1"], [1772633100, "NaN"], [1772633160, "+Inf"]],
                }
            ],
        },
    }
    if warnings:
        doc["warnings"] = warnings
    return json.dumps(doc).encode()


def test_request_is_a_form_post_under_the_base_path(scripted: Scripted) -> None:
    scripted.reply = (200, "application/json", matrix())
    source = PrometheusSource(scripted.url + "/", timeout_seconds=2)
    try:
        result = source.query_range('up{job="node"}', *HOUR)
    finally:
        source.close()
    assert result.ok
    (series,) = result.series
    assert series.name == "up"
    assert series.samples[0] == (1772633040.0, 1.0)
    assert series.samples[1][1] != series.samples[1][1]  # NaN
    assert series.samples[2][1] == float("inf")
    method, path, form = scripted.requests[0]
    assert (method, path) == ("POST", "/prefix/api/v1/query_range")
    assert form == {
        "query": ['up{job="node"}'],
        "start": [str(int(HOUR[0].timestamp()))],
        "end": [str(int(HOUR[1].timestamp()))],
        "step": ["60"],
        "timeout": ["2"],
    }


def test_warnings_are_kept(scripted: Scripted) -> None:
    scripted.reply = (200, "application/json", matrix(["remote read: store-2 unavailable"]))
    source = PrometheusSource(scripted.url, timeout_seconds=2)
    try:
        result = source.query_range("up", *HOUR)
    finally:
        source.close()
    assert result.ok and result.partial
    assert result.warnings == ("remote read: store-2 unavailable",)
    assert len(result.series) == 1


@pytest.mark.parametrize(
    ("reply", "prefix", "detail"),
    [
        ((502, "text/html", b"<h1>Bad Gateway</h1>"), "http_502: ", "Bad Gateway"),
        ((200, "application/json", b'{"status": "succ'), "bad_response: ", "not JSON"),
        (
            (200, "application/json", b'{"status": "success", "data": {"resultType": "vector"}}'),
            "bad_response: ",
            "not a matrix",
        ),
        (
            (
                503,
                "application/json",
                b'{"status": "error", "errorType": "timeout", "error": "query timed out"}',
            ),
            "timeout: ",
            "query timed out",
        ),
    ],
    ids=["http-502-html", "truncated-json", "vector-not-matrix", "prometheus-timeout"],
)
def test_bad_answers_are_error_values(
    scripted: Scripted, reply: tuple[int, str, bytes], prefix: str, detail: str
) -> None:
    scripted.reply = reply
    source = PrometheusSource(scripted.url, timeout_seconds=2)
    try:
        result = source.query_range("up", *HOUR)
    finally:
        source.close()
    assert result.series == ()
    assert result.error is not None
    assert result.error.startswith(prefix)
    assert detail in result.error


def test_connections_are_reused(scripted: Scripted) -> None:
    scripted.reply = (200, "application/json", matrix())
    session = HttpSession()
    first = PrometheusSource(scripted.url, timeout_seconds=2, session=session)
    second = PrometheusSource(scripted.url, timeout_seconds=2, session=session)
    try:
        results = [src.query_range("up", *HOUR) for src in (first, second, first)]
        first.close()  # a shared session outlives the sources using it
        results.append(second.query_range("up", *HOUR))
    finally:
        session.close()
    assert all(r.ok for r in results)
    assert len(scripted.requests) == 4
    assert scripted.connections == 1


@pytest.mark.parametrize("hang_up", ["announced", "silent"])
def test_server_closing_connections_is_not_an_error(scripted: Scripted, hang_up: str) -> None:
    scripted.reply = (200, "application/json", matrix())
    scripted.hang_up = hang_up
    source = PrometheusSource(scripted.url, timeout_seconds=2)
    try:
        results = [source.query_range("up", *HOUR) for _ in range(3)]
    finally:
        source.close()
    assert all(r.ok for r in results)
    assert scripted.connections == 3
