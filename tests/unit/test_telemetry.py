"""Telemetry: spans and metrics from a delivery and an analysis, read from the OTel SDK.

The OpenTelemetry SDK's in-memory span exporter and metric reader stand where
Application Insights' exporter stands in Azure: the runtime gets a
``Telemetry`` over them, the delivery goes through the ingestion service and
the analysis through the function layer's activities, as the host runs them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

import functions.incident as incident_functions
from shared import bootstrap, telemetry
from shared.adapters.store.sqlite import SqliteStore
from shared.autonomy.actions import ActionRecord, ActionState
from shared.clock import FixedClock
from shared.ingestion.service import IngestService
from shared.models.tenant import Tenant, Topology
from shared.notify.interactions import FEEDBACK_EVENT, OrchestrationEvent
from shared.ports.llm import LlmProposal
from shared.settings import Settings
from shared.telemetry import Telemetry, TracedChat, TracedIngest, TracedProposer

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "samples" / "bundles" / "sample-checkout-deploy"
RUNBOOKS = ROOT / "samples" / "runbooks"
DELAY = timedelta(seconds=7)


@dataclass
class Recorded:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    telemetry: Telemetry

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name == name]

    def points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Metric name -> (attributes, value) of every data point (sum, or the histogram's)."""
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.metrics.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = (point.count, point.sum)
                        found.setdefault(metric.name, []).append((dict(point.attributes), value))
        return found


@pytest.fixture
def recorded() -> Recorded:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    made = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    return Recorded(spans, reader, made)


@pytest.fixture
def rt(tmp_path: Path, recorded: Recorded) -> Iterator[bootstrap.Runtime]:
    scenario = json.loads((BUNDLE / "scenario.json").read_text())
    settings = Settings(home=tmp_path, runbooks_dir=RUNBOOKS, echo_messages=False)
    store = SqliteStore(settings.sqlite_path)
    clock = FixedClock(datetime.fromisoformat(scenario["alert_time"].replace("Z", "+00:00")))
    runtime = bootstrap.configure(
        bootstrap.build(settings, store=store, clock=clock, telemetry=recorded.telemetry)
    )
    runtime.tenants.add(
        Tenant(
            id="acme",
            tenant_id="acme",
            name="Acme",
            alertmanager_token=SecretStr("t"),
            change_token=SecretStr("c"),
            topology=Topology.model_validate(scenario["topology"]),
            metrics_file=str(BUNDLE / "metrics.om"),
        )
    )
    yield runtime
    bootstrap.reset()
    store.close()


def deliver_bundle(rt: bootstrap.Runtime) -> tuple[str, int]:
    """The bundle's Alertmanager deliveries; the incident id and how many alerts were sent."""
    scenario = json.loads((BUNDLE / "scenario.json").read_text())
    incident_id, alerts = "", 0
    for hook in scenario["webhooks"]:
        receipt = rt.ingest.alertmanager(
            "acme", {"Authorization": "Bearer t"}, json.dumps(hook["body"]).encode()
        )
        alerts += len(hook["body"]["alerts"])
        incident_id = incident_id or receipt.incidents[0].incident_id
    return incident_id, alerts


def activity(builder: Any) -> Any:
    """The Python function behind a blueprint's activity (what the worker calls)."""
    return builder._function.get_user_function()


def test_a_delivery_makes_a_span_and_counts_alerts_and_incidents(
    rt: bootstrap.Runtime, recorded: Recorded
) -> None:
    incident_id, alerts = deliver_bundle(rt)

    first = recorded.named("webhook alertmanager")[0]
    assert first.attributes is not None
    assert first.attributes["tenant_id"] == "acme"
    assert first.attributes["incident_id"] == incident_id
    assert first.attributes["source"] == "alertmanager"
    assert first.attributes["status"] == "accepted"
    points = recorded.points()
    received = points[telemetry.ALERTS_RECEIVED]
    assert [a for a, _ in received] == [{"tenant_id": "acme", "source": "alertmanager"}]
    assert sum(v for _, v in received) == alerts
    assert points[telemetry.INCIDENTS_OPENED] == [({"tenant_id": "acme"}, 1)]


def test_a_duplicate_delivery_counts_no_alerts(rt: bootstrap.Runtime, recorded: Recorded) -> None:
    scenario = json.loads((BUNDLE / "scenario.json").read_text())
    body = json.dumps(scenario["webhooks"][0]["body"]).encode()
    for _ in range(2):
        rt.ingest.alertmanager("acme", {"Authorization": "Bearer t"}, body)

    statuses = [s.attributes["status"] for s in recorded.named("webhook alertmanager")]
    assert statuses == ["accepted", "duplicate"]
    (point,) = recorded.points()[telemetry.ALERTS_RECEIVED]
    assert point[1] == len(scenario["webhooks"][0]["body"]["alerts"])


def test_an_analysis_makes_activity_spans_a_slack_span_and_alert_to_message_time(
    rt: bootstrap.Runtime, recorded: Recorded
) -> None:
    incident_id, _ = deliver_bundle(rt)
    assert isinstance(rt.clock, FixedClock)
    rt.clock.set(rt.clock.now() + DELAY)
    ref = {"tenant_id": "acme", "incident_id": incident_id}

    planned = activity(incident_functions.plan_incident_context)(ref)
    parts = [
        activity(incident_functions.collect_incident_signals)({**ref, "signals": [name]})
        for name in planned["signals"]
    ]
    activity(incident_functions.assemble_incident_context)({**ref, "parts": parts})
    detected = activity(incident_functions.detect_incident_candidates)(ref)
    proposal = activity(incident_functions.propose_incident_candidates)(ref)
    activity(incident_functions.score_incident_hypotheses)(
        {**ref, "detected": detected, "proposal": proposal}
    )
    activity(incident_functions.deliver_incident_message)(ref)
    activity(incident_functions.deliver_incident_message)(ref)  # an update: not a first message

    for name in (
        incident_functions.PLAN,
        incident_functions.COLLECT,
        incident_functions.ASSEMBLE,
        incident_functions.DETECT,
        incident_functions.PROPOSE,
        incident_functions.SCORE,
        incident_functions.DELIVER,
    ):
        spans = recorded.named(f"activity {name}")
        assert spans, name
        assert all(
            s.attributes is not None
            and (s.attributes["tenant_id"], s.attributes["incident_id"]) == ("acme", incident_id)
            for s in spans
        )
    (post,) = recorded.named("slack post")
    (update,) = recorded.named("slack update")
    delivers = recorded.named(f"activity {incident_functions.DELIVER}")
    assert post.parent is not None and post.parent.span_id == delivers[0].context.span_id
    assert update.parent is not None and update.parent.span_id == delivers[1].context.span_id
    assert post.attributes is not None and post.attributes["incident_id"] == incident_id
    ((attributes, (count, seconds)),) = recorded.points()[telemetry.ALERT_TO_MESSAGE]
    assert attributes == {"tenant_id": "acme", "incident_id": incident_id}
    assert (count, seconds) == (1, DELAY.total_seconds())


def test_an_activity_that_fails_marks_its_span(rt: bootstrap.Runtime, recorded: Recorded) -> None:
    with pytest.raises(Exception, match="no incident"):
        activity(incident_functions.plan_incident_context)(
            {"tenant_id": "acme", "incident_id": "INC-000000-000000"}
        )

    (span,) = recorded.named(f"activity {incident_functions.PLAN}")
    assert not span.status.is_ok
    assert span.attributes is not None and span.attributes["incident_id"] == "INC-000000-000000"


class SpendingProposer:
    """A proposer whose one answer spent tokens (the Claude adapter's result shape)."""

    def __init__(self, model: str) -> None:
        self.model = model

    def propose(self, context: Any, **_: Any) -> LlmProposal:
        tokens = {"input": 1000, "output": 200, "cache_read": 4000, "cache_creation": 0}
        return LlmProposal(status="ok", tokens=tokens, model=self.model)

    def close(self) -> None:
        pass


def test_claude_calls_count_tokens_and_their_list_price(recorded: Recorded) -> None:
    proposer = TracedProposer(SpendingProposer("claude-sonnet-4-6"), recorded.telemetry)

    proposer.propose({}, tenant_id="acme", incident_id="INC-1", known_services=(), known_hosts=())

    (span,) = recorded.named("llm propose")
    assert span.attributes is not None
    assert (span.attributes["tenant_id"], span.attributes["incident_id"]) == ("acme", "INC-1")
    points = recorded.points()
    tokens = {a["direction"]: v for a, v in points[telemetry.LLM_TOKENS]}
    assert tokens == {"input": 5000, "output": 200}
    ((attributes, usd),) = points[telemetry.LLM_COST]
    assert attributes == {"tenant_id": "acme", "incident_id": "INC-1", "model": "claude-sonnet-4-6"}
    assert usd == pytest.approx((1000 * 3 + 4000 * 0.3 + 200 * 15) / 1_000_000)


def test_an_unpriced_model_gets_tokens_but_no_cost(recorded: Recorded) -> None:
    proposer = TracedProposer(SpendingProposer("someone-elses-model"), recorded.telemetry)

    proposer.propose({}, tenant_id="acme", incident_id="INC-1", known_services=(), known_hosts=())

    assert telemetry.LLM_TOKENS in recorded.points()
    assert telemetry.LLM_COST not in recorded.points()


def test_feedback_forecasts_and_actions_are_counted(recorded: Recorded) -> None:
    made = recorded.telemetry
    for verdict in ("likely", "likely", "not_it"):
        made.clicked(OrchestrationEvent("acme", "INC-1", FEEDBACK_EVENT, {"verdict": verdict}))
    made.clicked(OrchestrationEvent("acme", "INC-1", "action", {"verdict": "likely"}))
    made.forecast_issued("acme")
    record = ActionRecord.model_construct(
        tenant_id="acme", action="rollout_restart", tier="medium", state=ActionState.ROLLED_BACK
    )
    made.action_ended(record)
    made.action_ended(ActionRecord.model_construct(tenant_id="acme", action="x", tier="low",
                                                   state=ActionState.EXECUTING))  # fmt: skip

    points = recorded.points()
    verdicts = {a["verdict"]: v for a, v in points[telemetry.HYPOTHESES_FEEDBACK]}
    assert verdicts == {"accepted": 2, "rejected": 1}
    assert points[telemetry.FORECASTS_ISSUED] == [({"tenant_id": "acme"}, 1)]
    assert points[telemetry.ACTIONS] == [
        (
            {
                "tenant_id": "acme",
                "action": "rollout_restart",
                "tier": "medium",
                "outcome": "rolled_back",
            },
            1,
        )
    ]


def test_every_metric_is_one_the_deployment_documents() -> None:
    """bicep/README.md's table is what the workbook and alerts query."""
    text = (ROOT / "bicep" / "README.md").read_text()
    documented = set(re.findall(r"^\| `(sre_copilot\.[a-z_.]+)` \|", text, re.M))
    assert documented == telemetry.METRIC_NAMES


def test_without_a_connection_string_nothing_is_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "azure.monitor.opentelemetry.configure_azure_monitor", lambda **kw: calls.append(kw)
    )
    monkeypatch.setattr(telemetry, "_configured", False)

    made = telemetry.for_app(Settings(), bootstrap.AzureIdentity())

    assert calls == [] and not made.enabled


def test_with_a_connection_string_the_exporter_uses_the_identity_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "azure.monitor.opentelemetry.configure_azure_monitor", lambda **kw: calls.append(kw)
    )
    monkeypatch.setattr(telemetry, "_configured", False)
    connection = "InstrumentationKey=00000000-0000-0000-0000-000000000000"
    settings = Settings(applicationinsights_connection_string=connection)
    identity = bootstrap.AzureIdentity()

    first = telemetry.for_app(settings, identity)
    telemetry.for_app(settings, identity)

    assert first.enabled
    assert len(calls) == 1
    assert calls[0]["connection_string"] == connection
    assert calls[0]["credential"] is identity
    assert calls[0]["disable_logging"] is True


def test_the_app_runtime_reads_the_connection_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "azure.monitor.opentelemetry.configure_azure_monitor", lambda **kw: calls.append(kw)
    )
    monkeypatch.setattr(telemetry, "_configured", False)
    monkeypatch.setenv("SRE_COPILOT_HOME", str(tmp_path))
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=x")
    bootstrap.reset()
    try:
        app = bootstrap.runtime()
        assert app.telemetry.enabled
        assert isinstance(app.ingest, TracedIngest)
        assert isinstance(app.proposer, TracedProposer)
        assert isinstance(app.credential, bootstrap.AzureIdentity)
        assert calls[0]["credential"] is app.credential
    finally:
        bootstrap.reset()


def test_a_runtime_without_telemetry_keeps_the_adapters_bare(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    built = bootstrap.build(Settings(home=tmp_path), store=store)
    try:
        assert not built.telemetry.enabled
        assert isinstance(built.ingest, IngestService)
        tenant = Tenant(id="acme", tenant_id="acme", name="Acme")
        assert not isinstance(built.chat_for(tenant), TracedChat)
    finally:
        built.close()
        store.close()
