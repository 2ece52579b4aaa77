"""Memory against its limit: each service's worst pod forecast, posted with its own words.

Over the embedded metrics file adapter (``tests.unit.predict.leaking``), through
the same ``sweep`` and ``run_sweep`` the 15-minute timer calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared import bootstrap
from shared.adapters.chat.terminal import TerminalChat
from shared.adapters.metrics.scenario_file import ScenarioFileMetrics
from shared.adapters.store.sqlite import SqliteStore
from shared.cli import app
from shared.models.tenant import Service, Tenant, Topology
from shared.ports.metrics import MetricsSource
from shared.ports.store import Container
from shared.predict.chart import PNG_SIGNATURE
from shared.predict.forecast import Status
from shared.predict.live import run_sweep
from shared.predict.memory import memory_spec, read_worst_pods
from shared.predict.sweep import HISTORY, STEP, Action, Resource, sweep
from shared.settings import Settings
from tests.unit.predict.filling import write_metrics
from tests.unit.predict.leaking import LIMIT, write_memory_metrics
from tests.unit.predict.synthetic import NOW


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def leaking(tmp_path: Path) -> ScenarioFileMetrics:
    return ScenarioFileMetrics.from_path(write_memory_metrics(tmp_path / "memory.om"))


def test_each_service_is_said_by_its_worst_pod_and_a_pod_without_a_limit_is_left_out(
    leaking: ScenarioFileMetrics,
) -> None:
    spec = memory_spec()
    assert spec is not None
    pods, errors = read_worst_pods(leaking, spec, [], NOW, history=HISTORY, step=STEP, ahead_h=48)
    assert errors == []
    assert [(p.service, p.pod) for p in pods] == [("cart", "cart-a"), ("checkout", "checkout-a")]
    cart, checkout = pods
    assert cart.forecast.status is Status.NOT_FILLING
    assert checkout.forecast.status is Status.FILLING and checkout.limit_bytes == LIMIT
    assert checkout.forecast.hours_left == pytest.approx(3.0, abs=0.3)  # across a restart


def test_the_topology_names_the_services_read(leaking: ScenarioFileMetrics) -> None:
    spec = memory_spec()
    assert spec is not None
    pods, _ = read_worst_pods(leaking, spec, ["cart"], NOW, history=HISTORY, step=STEP, ahead_h=48)
    assert [p.service for p in pods] == ["cart"]


def test_memory_is_posted_once_then_worse_once_then_cleared_under_its_own_state(
    store: SqliteStore, tmp_path: Path
) -> None:
    spec = memory_spec()
    metrics = ScenarioFileMetrics.from_path(write_memory_metrics(tmp_path / "m.om"))
    first = sweep("acme", metrics, store, NOW, memory=spec)
    assert [(p.action, p.prediction.key) for p in first.posts] == [(Action.NEW, "memory|checkout")]
    post = first.posts[0]
    assert post.prediction.resource is Resource.MEMORY
    assert post.text.startswith("memory of checkout will reach its limit in about 3")
    assert post.prediction.labels["pod"] == "checkout-a"
    state = [d["id"] for d in store.query(Container.CACHE, "acme", [])]
    assert any(i.startswith("memory-forecast-state:") for i in state)
    assert not any(i.startswith("forecast-state:") for i in state)
    assert sweep("acme", metrics, store, NOW + timedelta(minutes=15), memory=spec).posts == ()
    worse = sweep("acme", metrics, store, NOW + timedelta(minutes=30), memory=spec)
    assert [p.action for p in worse.posts] == [Action.WORSE]
    fixed = ScenarioFileMetrics.from_path(
        write_memory_metrics(tmp_path / "f.om", fixed_at=NOW + timedelta(minutes=35))
    )
    cleared = sweep("acme", fixed, store, NOW + timedelta(hours=2), memory=spec)
    assert [p.action for p in cleared.posts] == [Action.CLEAR]
    assert cleared.posts[0].text.endswith("the risk posted earlier has passed")


def test_without_the_memory_signal_the_sweep_reads_filesystems_only(
    store: SqliteStore, leaking: ScenarioFileMetrics
) -> None:
    result = sweep("acme", leaking, store, NOW)
    assert result.predictions == () and result.posts == ()


class Deps:
    def __init__(self, store: SqliteStore, metrics: MetricsSource, messages: Path) -> None:
        self.store = store
        self.metrics = metrics
        self.chat = TerminalChat(messages, echo=False)

    def metrics_for(self, tenant: Tenant) -> MetricsSource:
        return self.metrics

    def chat_for(self, tenant: Tenant) -> TerminalChat:
        return self.chat


def test_the_live_sweep_posts_memory_in_its_own_words_with_a_chart_and_escapes_names(
    store: SqliteStore, tmp_path: Path
) -> None:
    metrics = ScenarioFileMetrics.from_path(
        write_memory_metrics(tmp_path / "m.om", service="pay<&>")
    )
    deps = Deps(store, metrics, tmp_path / "messages")
    tenant = Tenant(id="acme", tenant_id="acme", name="Acme")
    run = run_sweep(deps, tenant, NOW)
    [delivery] = run.deliveries
    assert delivery.outcome == "posted" and delivery.key == "memory|pay<&>"
    assert delivery.text.startswith("memory of pay<&> will reach its limit in about 3 h (")
    saved = json.loads((tmp_path / "messages" / f"acme__{delivery.forecast_id}.json").read_text())
    blocks = saved["blocks"]
    assert blocks[0]["text"]["text"] == "🟠 Memory nearing its limit: pay<&>"  # plain_text
    assert "memory of pay&lt;&amp;&gt; will reach its limit" in blocks[1]["text"]["text"]
    context = blocks[2]["elements"][0]["text"]
    assert "Worst pod pay&lt;&amp;&gt;-a" in context and "limit" in context
    assert [e["action_id"].split(":")[0] for e in blocks[3]["elements"]][:2]
    assert delivery.chart is not None and Path(delivery.chart).read_bytes()[:8] == PNG_SIGNATURE
    record = store.get(Container.MESSAGES, "acme", f"forecast:{delivery.forecast_id}")
    assert record is not None and record["resource"] == "memory"
    body = run.to_json()
    assert body["filesystems"] == []
    assert [(m["where"], m["pod"]) for m in body["memory"]] == [
        ("memory of cart", "cart-a"),
        ("memory of pay<&>", "pay<&>-a"),
    ]
    assert "2 service(s) memory" in run.summary()


def test_a_disk_and_a_service_at_risk_are_each_posted_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    disk = write_metrics(tmp_path / "disk.om").read_text().removesuffix("# EOF\n")
    memory = write_memory_metrics(tmp_path / "mem.om").read_text()
    both = tmp_path / "both.om"
    both.write_text(disk + memory)
    deps = Deps(store, ScenarioFileMetrics.from_path(both), tmp_path / "messages")
    tenant = Tenant(
        id="acme",
        tenant_id="acme",
        name="Acme",
        topology=Topology(services=(Service(name="checkout"),)),
    )
    run = run_sweep(deps, tenant, NOW)
    assert [d.key for d in run.deliveries] == ["db-1|/data", "memory|checkout"]
    assert run.deliveries[0].text.startswith("/data on db-1 will be full")
    assert run_sweep(deps, tenant, NOW + timedelta(minutes=15)).deliveries == ()


def test_predict_run_prints_each_service_s_memory(tmp_path: Path) -> None:
    metrics = write_memory_metrics(tmp_path / "m.om")
    settings = Settings(home=tmp_path, echo_messages=False)
    rt = bootstrap.build(settings)
    try:
        rt.tenants.add(Tenant(id="acme", tenant_id="acme", name="Acme", metrics_file=str(metrics)))
    finally:
        rt.close()
    result = CliRunner().invoke(
        app,
        ["predict", "run", "--tenant", "acme", "--at", NOW.isoformat()],
        env={"SRE_COPILOT_HOME": str(tmp_path), "SRE_COPILOT_ECHO_MESSAGES": "false"},
    )
    assert result.exit_code == 0, result.output
    assert "memory of checkout (worst pod checkout-a): filling, 3." in result.output
    assert "posted new: memory of checkout will reach its limit in about 3" in result.output
