"""OpenTelemetry: the product's spans and metrics, exported to Application Insights.

The names are a contract: bicep/README.md ("Telemetry") lists them, and the
workbook and the alerts query them. Every metric carries ``tenant_id``; spans
carry ``tenant_id`` and, where there is one, ``incident_id``.

    Telemetry          a tracer and the instruments, over given providers
    for_app(...)       the function app's: azure-monitor-opentelemetry with the
                       app's Entra ID credential when APPLICATIONINSIGHTS_CONNECTION_STRING
                       is set, else nothing at all (no-op providers)
    TracedIngest       webhook deliveries: a span, alerts received, incidents opened
    TracedChat         Slack posts: a span, alert-to-message time, forecasts issued
    TracedProposer     Claude calls: a span, tokens and their list price per incident

Bootstrap puts the wrappers in front of the real adapters only when telemetry
is enabled, so local runs pay nothing. Spans across processes (webhook request,
orchestration, activities) are joined by the Functions host and the Durable
extension; the worker attaches each invocation's trace context
(``PYTHON_ENABLE_OPENTELEMETRY``), so the spans here nest under them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.trace import NoOpTracerProvider, Span, Status, StatusCode, TracerProvider

from shared.ports.chat import ChatMessage, ChatPort, PostedMessage

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.autonomy.actions import ActionRecord
    from shared.clock import Clock
    from shared.ingestion.service import Receipt
    from shared.notify.interactions import OrchestrationEvent
    from shared.ports.llm import CandidateProposer, LlmProposal
    from shared.ports.store import DocumentStore
    from shared.settings import Settings

log = logging.getLogger("sre_copilot.telemetry")

SCOPE = "sre_copilot"
"""Instrumentation scope of the tracer and the meter."""

ALERTS_RECEIVED = "sre_copilot.alerts.received"
INCIDENTS_OPENED = "sre_copilot.incidents.opened"
ALERT_TO_MESSAGE = "sre_copilot.alert_to_message.seconds"
HYPOTHESES_FEEDBACK = "sre_copilot.hypotheses.feedback"
LLM_TOKENS = "sre_copilot.llm.tokens"
LLM_COST = "sre_copilot.llm.cost_usd"
FORECASTS_ISSUED = "sre_copilot.forecasts.issued"
ACTIONS = "sre_copilot.actions"

METRIC_NAMES = frozenset(
    {
        ALERTS_RECEIVED,
        INCIDENTS_OPENED,
        ALERT_TO_MESSAGE,
        HYPOTHESES_FEEDBACK,
        LLM_TOKENS,
        LLM_COST,
        FORECASTS_ISSUED,
        ACTIONS,
    }
)
"""Every instrument this module creates (bicep/README.md's table; a test compares them)."""

PRICES_PER_MILLION: Mapping[str, tuple[float, float]] = {
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4-0": (15.0, 75.0),
    "claude-opus-4-2025": (15.0, 75.0),
    "claude-opus-4": (5.0, 25.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
}
"""USD per million input and output tokens by model prefix (longest match wins), at
Anthropic's list prices; cache writes cost 1.25 times input, cache reads 0.1 times.
A model not listed gets no cost metric rather than a wrong one."""

_ACTION_OUTCOMES = {
    "shadowed": "shadow",
    "rejected": "rejected",
    "vetoed": "rejected",
    "expired": "expired",
    "verified": "executed",
    "rolled_back": "rolled_back",
    "failed": "failed",
}
"""A remediation record's end state -> the ``outcome`` attribute."""

_FEEDBACK = {"likely": "accepted", "not_it": "rejected"}


class Telemetry:
    """The tracer and the product's instruments; ``enabled`` says whether anything goes out."""

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self.tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self._alerts = meter.create_counter(
            ALERTS_RECEIVED, unit="{alert}", description="Alerts accepted by a webhook"
        )
        self._incidents = meter.create_counter(
            INCIDENTS_OPENED, unit="{incident}", description="Incidents created by correlation"
        )
        self._alert_to_message = meter.create_histogram(
            ALERT_TO_MESSAGE,
            unit="s",
            description="From the first alert's arrival to the incident's first Slack message",
        )
        self._feedback = meter.create_counter(
            HYPOTHESES_FEEDBACK, unit="{verdict}", description="Likely / Not it clicks"
        )
        self._tokens = meter.create_counter(
            LLM_TOKENS, unit="{token}", description="Claude tokens spent on an incident"
        )
        self._cost = meter.create_counter(
            LLM_COST, unit="USD", description="Claude tokens at the model's list price"
        )
        self._forecasts = meter.create_counter(
            FORECASTS_ISSUED, unit="{forecast}", description="Capacity forecasts posted"
        )
        self._actions = meter.create_counter(
            ACTIONS, unit="{action}", description="Remediation decisions and their ends"
        )

    @classmethod
    def disabled(cls) -> Telemetry:
        """Nothing recorded, nothing sent (no connection string, the CLI, most tests)."""
        return cls(
            tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider(), enabled=False
        )

    # --- spans ----------------------------------------------------------------------

    @contextmanager
    def span(
        self,
        name: str,
        *,
        tenant_id: str,
        incident_id: str | None = None,
        **attributes: str | int | float | bool,
    ) -> Iterator[Span]:
        """A span named ``name`` with the tenant and incident ids; an exception marks it failed."""
        given: dict[str, str | int | float | bool] = {"tenant_id": tenant_id, **attributes}
        if incident_id:
            given["incident_id"] = incident_id
        with self.tracer.start_as_current_span(name, attributes=given) as span:
            yield span

    @contextmanager
    def activity(self, name: str, step: Mapping[str, Any]) -> Iterator[Span]:
        """The span of one Durable activity, named after it, from its input's ids."""
        extra = {"proposal_id": str(step["proposal_id"])} if step.get("proposal_id") else {}
        incident = step.get("incident_id")
        with self.span(
            f"activity {name}",
            tenant_id=str(step["tenant_id"]),
            incident_id=str(incident) if incident else None,
            **extra,
        ) as span:
            yield span

    # --- metrics --------------------------------------------------------------------

    def delivery(self, source: str, tenant_id: str, receipt: Receipt, alerts: int) -> None:
        """An accepted webhook delivery: its alerts, and the incidents it opened."""
        if alerts:
            self._alerts.add(alerts, {"tenant_id": tenant_id, "source": source})
        opened = sum(1 for touch in receipt.incidents if touch.created)
        if opened:
            self._incidents.add(opened, {"tenant_id": tenant_id})

    def first_message(self, tenant_id: str, incident_id: str, seconds: float) -> None:
        self._alert_to_message.record(
            max(seconds, 0.0), {"tenant_id": tenant_id, "incident_id": incident_id}
        )

    def forecast_issued(self, tenant_id: str) -> None:
        self._forecasts.add(1, {"tenant_id": tenant_id})

    def feedback(self, tenant_id: str, incident_id: str, verdict: str) -> None:
        """A responder's Likely (``accepted``) or Not it (``rejected``) on a hypothesis."""
        said = _FEEDBACK.get(verdict)
        if said is not None:
            attrs = {"tenant_id": tenant_id, "incident_id": incident_id, "verdict": said}
            self._feedback.add(1, attrs)

    def llm_usage(
        self, tenant_id: str, incident_id: str, model: str, tokens: Mapping[str, int]
    ) -> None:
        """Tokens one Claude call spent (cache reads and writes count as input) and their price."""
        fresh_input = int(tokens.get("input", 0))
        cache_read = int(tokens.get("cache_read", 0))
        cache_write = int(tokens.get("cache_creation", 0))
        output = int(tokens.get("output", 0))
        base = {"tenant_id": tenant_id, "incident_id": incident_id, "model": model}
        spent_input = fresh_input + cache_read + cache_write
        if spent_input:
            self._tokens.add(spent_input, {**base, "direction": "input"})
        if output:
            self._tokens.add(output, {**base, "direction": "output"})
        price = price_of(model)
        if price is not None and (spent_input or output):
            per_input, per_output = price
            usd = (
                fresh_input * per_input
                + cache_write * per_input * 1.25
                + cache_read * per_input * 0.1
                + output * per_output
            ) / 1_000_000
            self._cost.add(usd, base)

    def clicked(self, event: OrchestrationEvent) -> None:
        """A recorded Slack click: a verdict on a hypothesis counts as feedback."""
        from shared.notify.interactions import FEEDBACK_EVENT

        verdict = event.payload.get("verdict") if event.name == FEEDBACK_EVENT else None
        if isinstance(verdict, str):
            self.feedback(event.tenant_id, event.incident_id, verdict)

    def action_settled(self, store: DocumentStore, tenant_id: str, proposal_id: str) -> None:
        """Count a remediation action that a step has just brought to its end.

        The step that sees the record's end state is the one that moved it
        there (or, for an answer moved at the Slack edge, the first to read it).
        """
        if not self.enabled:
            return
        from shared.autonomy.actions import load

        record = load(store, tenant_id, proposal_id)
        if record is not None:
            self.action_ended(record)

    def action_ended(self, record: ActionRecord) -> None:
        """A remediation record that reached an end state, by action, tier and outcome."""
        outcome = _ACTION_OUTCOMES.get(record.state.value)
        if outcome is None:
            return
        attrs = {
            "tenant_id": record.tenant_id,
            "action": record.action,
            "tier": record.tier or "none",
            "outcome": outcome,
        }
        self._actions.add(1, attrs)


def price_of(model: str) -> tuple[float, float] | None:
    """List price (USD per million input, output tokens) of ``model``, None when unknown."""
    matches = [prefix for prefix in PRICES_PER_MILLION if model.startswith(prefix)]
    return PRICES_PER_MILLION[max(matches, key=len)] if matches else None


# --- export -----------------------------------------------------------------------------

_configured_lock = threading.Lock()
_configured = False


def for_app(settings: Settings, credential: TokenCredential) -> Telemetry:
    """The function app's telemetry: exported to Application Insights when configured.

    With ``APPLICATIONINSIGHTS_CONNECTION_STRING`` empty nothing is set up and
    nothing is sent. Otherwise azure-monitor-opentelemetry is configured once
    per process, authenticating with ``credential`` (the deployment turns
    Application Insights' key-only ingestion off); logs stay the host's (it
    forwards the worker's), so the distro's log export is off.
    """
    if not settings.applicationinsights_connection_string:
        return Telemetry.disabled()
    global _configured
    with _configured_lock:
        if not _configured:
            from azure.monitor.opentelemetry import configure_azure_monitor

            configure_azure_monitor(
                connection_string=settings.applicationinsights_connection_string,
                credential=credential,
                disable_logging=True,
                enable_live_metrics=False,
            )
            _configured = True
    return Telemetry()


# --- port wrappers ----------------------------------------------------------------------


class Deliveries(Protocol):
    """What the webhooks call (``IngestService``)."""

    def alertmanager(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> Receipt: ...

    def pagerduty(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> Receipt: ...

    def changes(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> Receipt: ...


class TracedIngest:
    """``IngestService`` with a span per delivery and the delivery metrics."""

    def __init__(self, inner: Deliveries, telemetry: Telemetry) -> None:
        self._inner = inner
        self._telemetry = telemetry

    def alertmanager(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> Receipt:
        with self._telemetry.span(
            "webhook alertmanager", tenant_id=tenant_id, source="alertmanager"
        ) as span:
            receipt = self._inner.alertmanager(tenant_id, headers, body)
            self._received("alertmanager", tenant_id, body, receipt, span)
            return receipt

    def pagerduty(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> Receipt:
        with self._telemetry.span(
            "webhook pagerduty", tenant_id=tenant_id, source="pagerduty"
        ) as span:
            receipt = self._inner.pagerduty(tenant_id, headers, body)
            self._received("pagerduty", tenant_id, body, receipt, span)
            return receipt

    def changes(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> Receipt:
        with self._telemetry.span("webhook changes", tenant_id=tenant_id) as span:
            receipt = self._inner.changes(tenant_id, headers, body)
            span.set_attribute("status", receipt.status.value)
            span.set_attribute("changes", len(receipt.change_ids))
            return receipt

    def _received(
        self, source: str, tenant_id: str, body: bytes, receipt: Receipt, span: Span
    ) -> None:
        from shared.ingestion.service import ReceiptStatus

        span.set_attribute("status", receipt.status.value)
        if receipt.incidents:
            span.set_attribute("incident_id", receipt.incidents[0].incident_id)
            span.set_attribute("incident_ids", [t.incident_id for t in receipt.incidents])
        if receipt.status is ReceiptStatus.ACCEPTED:
            alerts = _alert_count(source, tenant_id, body, receipt.raw_event_id)
            span.set_attribute("alerts", alerts)
            self._telemetry.delivery(source, tenant_id, receipt, alerts)


def _alert_count(source: str, tenant_id: str, body: bytes, raw_event_id: str) -> int:
    """How many alerts an accepted delivery carried: its pure normaliser, run again.

    The receipt names incidents, not alerts; normalising is pure and already
    succeeded once on this body, so this cannot fail differently.
    """
    from shared.ingestion.normalisers import normalise_alertmanager, normalise_pagerduty
    from shared.json_input import parse_json

    normalise = normalise_alertmanager if source == "alertmanager" else normalise_pagerduty
    return len(normalise(parse_json(body), tenant_id=tenant_id, raw_event_id=raw_event_id).alerts)


@dataclass(frozen=True)
class TracedChat:
    """A ``ChatPort`` with a span per Slack call, alert-to-message time and forecasts issued."""

    inner: ChatPort
    telemetry: Telemetry
    store: DocumentStore
    clock: Clock

    def post(self, message: ChatMessage, *, channel: str | None) -> PostedMessage:
        with self._span("slack post", message):
            posted = self.inner.post(message, channel=channel)
        self._posted(message)
        return posted

    def update(self, message: ChatMessage, *, posted: PostedMessage) -> PostedMessage:
        with self._span("slack update", message):
            return self.inner.update(message, posted=posted)

    def reply_in_thread(
        self, posted: PostedMessage, text: str, blocks: Sequence[dict[str, Any]] = ()
    ) -> PostedMessage:
        with self.telemetry.tracer.start_as_current_span("slack reply"):
            return self.inner.reply_in_thread(posted, text, blocks)

    def post_file(
        self,
        message: ChatMessage,
        *,
        channel: str | None,
        filename: str,
        content: bytes,
        title: str,
    ) -> PostedMessage:
        with self._span("slack post", message):
            posted = self.inner.post_file(
                message, channel=channel, filename=filename, content=content, title=title
            )
        self._posted(message)
        return posted

    def _span(self, name: str, message: ChatMessage) -> Any:
        incident = message.incident_id if message.kind == "incident" else None
        return self.telemetry.span(
            name,
            tenant_id=message.tenant_id,
            incident_id=incident,
            kind=message.kind,
            message_id=message.incident_id,
        )

    def _posted(self, message: ChatMessage) -> None:
        """A new message landed: the first of an incident, or a forecast."""
        if message.kind == "forecast":
            self.telemetry.forecast_issued(message.tenant_id)
        elif message.kind == "incident":
            from shared.models.incident import Incident
            from shared.ports.store import Container

            doc = self.store.get(Container.INCIDENTS, message.tenant_id, message.incident_id)
            if doc is None:
                return
            opened = Incident.from_doc(doc).created_at
            seconds = (self.clock.now() - opened).total_seconds()
            self.telemetry.first_message(message.tenant_id, message.incident_id, seconds)


@dataclass(frozen=True)
class TracedProposer:
    """A ``CandidateProposer`` with a span per Claude call and the token metrics."""

    inner: CandidateProposer
    telemetry: Telemetry

    def propose(
        self,
        context: Mapping[str, Any],
        *,
        tenant_id: str,
        incident_id: str,
        known_services: Collection[str],
        known_hosts: Collection[str],
    ) -> LlmProposal:
        with self.telemetry.span(
            "llm propose", tenant_id=tenant_id, incident_id=incident_id
        ) as span:
            proposal = self.inner.propose(
                context,
                tenant_id=tenant_id,
                incident_id=incident_id,
                known_services=known_services,
                known_hosts=known_hosts,
            )
            span.set_attribute("status", proposal.status)
            span.set_attribute("cached", proposal.cached)
            if proposal.model:
                span.set_attribute("model", proposal.model)
            if proposal.status not in ("ok", "disabled"):
                span.set_status(Status(StatusCode.ERROR, proposal.error or proposal.status))
        if proposal.model:
            self.telemetry.llm_usage(tenant_id, incident_id, proposal.model, proposal.tokens)
        return proposal

    def close(self) -> None:
        self.inner.close()
