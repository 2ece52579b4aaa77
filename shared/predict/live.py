"""The live forecast sweep: what the 15-minute timer and ``predict run`` both call.

For one tenant: ``sweep`` decides what is worth saying (``shared.predict.sweep``)
about its filesystems and its services' memory (the signal catalog's memory
signal with the tenant's overrides, for the services of its topology), and
each decision is delivered through the tenant's chat port:

- a new risk, or one that got much worse: a message
  (``shared.notify.forecast_message`` for a disk,
  ``shared.predict.memory_message`` for memory) with its chart attached
  (``shared.predict.chart``, ``ChatPort.post_file``), recorded in
  ``Container.MESSAGES`` as ``forecast:<id>`` so its buttons can be checked
  against the tenant (``shared.predict.feedback``);
- a risk that passed: a line in the thread of the last message about it.

A decision is remembered only once it was delivered: a post that failed
(``DeliveryFailed``) is decided and tried again on the next run. A "worse"
follow-up on a forecast someone marked *Not a problem* is remembered without
being posted. Every outcome, posted or not, is returned as a value
(``Delivery``), which ``predict run`` prints and the timer logs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from shared.errors import Conflict, DeliveryFailed
from shared.models.base import iso
from shared.models.tenant import Tenant
from shared.notify import forecast_message
from shared.ports.chat import ChatMessage, ChatPort, PostedMessage
from shared.ports.metrics import MetricsSource
from shared.ports.store import Container, DocumentStore
from shared.predict import chart, memory_message
from shared.predict.feedback import dismissed, forecast_id, record_id
from shared.predict.memory import memory_spec
from shared.predict.sweep import (
    HORIZON_H,
    Action,
    Post,
    Prediction,
    Resource,
    SweepResult,
    remember,
    sweep,
)

RECORD_TTL_S = 30 * 24 * 3600
"""A posted forecast's record (what its buttons are checked against) is kept 30 days."""

Outcome = Literal["posted", "replied", "suppressed", "failed"]


class LiveDeps(Protocol):
    """What the live sweep needs of the runtime (``shared.bootstrap.Runtime`` has it)."""

    @property
    def store(self) -> DocumentStore: ...

    def metrics_for(self, tenant: Tenant) -> MetricsSource | None: ...

    def chat_for(self, tenant: Tenant) -> ChatPort: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """One decision of the sweep and what became of it."""

    action: Action
    key: str
    text: str
    outcome: Outcome
    forecast_id: str | None = None
    channel: str | None = None
    ts: str | None = None
    chart: str | None = None
    """The attached chart: Slack's file id, or where the terminal saved it."""
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "key": self.key,
            "text": self.text,
            "outcome": self.outcome,
            "forecast_id": self.forecast_id,
            "channel": self.channel,
            "ts": self.ts,
            "chart": self.chart,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class SweepRun:
    """One tenant's sweep: every forecast, and what was said about it."""

    tenant_id: str
    at: datetime
    result: SweepResult | None
    deliveries: tuple[Delivery, ...] = ()
    errors: tuple[str, ...] = field(default=())

    def of(self, resource: Resource) -> tuple[Prediction, ...]:
        predictions = self.result.predictions if self.result is not None else ()
        return tuple(p for p in predictions if p.resource is resource)

    def summary(self) -> str:
        """One line for the log: how many filesystems and services, what became of each post."""
        said = ", ".join(f"{d.outcome} {d.action.value} {d.key}" for d in self.deliveries)
        return (
            f"{len(self.of(Resource.DISK))} filesystem(s), "
            f"{len(self.of(Resource.MEMORY))} service(s) memory; " + (said or "nothing to post")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant_id,
            "at": iso(self.at),
            "filesystems": [_prediction(p) for p in self.of(Resource.DISK)],
            "memory": [
                _prediction(p) | {"pod": p.labels.get("pod"), "limit_bytes": p.size_bytes}
                for p in self.of(Resource.MEMORY)
            ],
            "posted": [d.to_json() for d in self.deliveries],
            "errors": list(self.errors),
        }


def _prediction(p: Prediction) -> dict[str, Any]:
    return {
        "key": p.key,
        "where": p.where,
        "status": p.forecast.status.value,
        "hours_left": _round(p.forecast.hours_left),
        "range_hours": [_round(x) for x in p.forecast.range_hours]
        if p.forecast.range_hours
        else None,
    }


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def horizon_of(tenant: Tenant) -> float:
    """The tenant's forecast horizon in hours (``HORIZON_H`` unless it set its own)."""
    return tenant.forecast_horizon_hours or HORIZON_H


def run_sweep(deps: LiveDeps, tenant: Tenant, now: datetime) -> SweepRun:
    """Sweep one tenant's filesystems at ``now`` and deliver what is worth saying."""
    metrics = deps.metrics_for(tenant)
    if metrics is None:
        return SweepRun(tenant.id, now, None, errors=("no metrics source configured",))
    result = sweep(
        tenant.id,
        metrics,
        deps.store,
        now,
        horizon_h=horizon_of(tenant),
        remember_posts=False,
        memory=memory_spec(tenant.signal_overrides),
        services=sorted(s.name for s in tenant.topology.services),
    )
    if not result.posts:
        return SweepRun(tenant.id, now, result, errors=result.errors)
    chat = deps.chat_for(tenant)
    deliveries = tuple(_deliver(deps.store, chat, tenant.id, post, now) for post in result.posts)
    return SweepRun(tenant.id, now, result, deliveries, result.errors)


def _deliver(
    store: DocumentStore, chat: ChatPort, tenant_id: str, post: Post, now: datetime
) -> Delivery:
    key = post.prediction.key
    if post.action is Action.CLEAR:
        return _clear(store, chat, tenant_id, post, now)
    previous = post.previous.get("forecast_id")
    if (
        post.action is Action.WORSE
        and isinstance(previous, str)
        and dismissed(store, tenant_id, previous)
    ):
        remember(store, tenant_id, post, _said(post.previous))
        text = _headline(post)
        return Delivery(post.action, key, text, "suppressed", error="marked not a problem")
    fid = forecast_id(tenant_id, key, now, post.action.value)
    p = post.prediction
    memory = p.resource is Resource.MEMORY
    words = memory_message if memory else forecast_message
    message = words.render(post, tenant_id=tenant_id, forecast_id=fid)
    title = words.chart_title(post)
    png = chart.render(
        p.history[:, 0],
        p.history[:, 1],
        p.forecast,
        title=title,
        size_bytes=p.size_bytes,
        quantity="headroom" if memory else "free",
    )
    try:
        posted = chat.post_file(
            message,
            channel=None,
            filename=f"forecast-{fid}.png",
            content=png,
            title=title,
        )
    except DeliveryFailed as exc:
        return Delivery(post.action, key, message.text, "failed", fid, error=exc.reason)
    _record(store, tenant_id, fid, post, posted, now)
    remember(store, tenant_id, post, {"forecast_id": fid, "posted": _posted(posted)})
    return Delivery(
        post.action, key, message.text, "posted", fid, posted.channel, posted.ts, posted.file
    )


def _clear(
    store: DocumentStore, chat: ChatPort, tenant_id: str, post: Post, now: datetime
) -> Delivery:
    """The risk passed: say so under the last message about it (or on its own without one)."""
    key, text = post.prediction.key, _headline(post)
    last = post.previous.get("posted")
    try:
        if isinstance(last, dict):
            posted = chat.reply_in_thread(PostedMessage.model_validate(last), text)
            outcome: Outcome = "replied"
        else:
            fid = forecast_id(tenant_id, key, now, post.action.value)
            message = ChatMessage(
                tenant_id=tenant_id, incident_id=fid, text=text, kind=forecast_message.KIND
            )
            posted = chat.post(message, channel=None)
            outcome = "posted"
    except DeliveryFailed as exc:
        return Delivery(post.action, key, text, "failed", error=exc.reason)
    remember(store, tenant_id, post)
    return Delivery(post.action, key, text, outcome, None, posted.channel, posted.ts)


def _headline(post: Post) -> str:
    """The plain sentence for ``post``, worded for what runs out."""
    if post.prediction.resource is Resource.MEMORY:
        return memory_message.headline(post)
    return forecast_message.headline(post)


def _record(
    store: DocumentStore,
    tenant_id: str,
    fid: str,
    post: Post,
    posted: PostedMessage,
    now: datetime,
) -> None:
    result = post.prediction.forecast
    doc = {
        "id": record_id(fid),
        "tenantId": tenant_id,
        "kind": "forecast",
        "forecast_id": fid,
        "action": post.action.value,
        "key": post.prediction.key,
        "resource": post.prediction.resource.value,
        "where": post.prediction.where,
        "hours_left": _round(result.hours_left),
        "range_hours": list(result.range_hours) if result.range_hours else None,
        "exhausted_at": iso(result.exhausted_at) if result.exhausted_at else None,
        "posted": _posted(posted),
        "at": iso(now),
        "ttl": RECORD_TTL_S,
    }
    # The same sweep moment run twice mints the same id: one record is enough.
    with contextlib.suppress(Conflict):
        store.create(Container.MESSAGES, tenant_id, doc)


def _posted(posted: PostedMessage) -> dict[str, Any]:
    return posted.model_dump(mode="json", exclude={"file"})


def _said(previous: Any) -> dict[str, Any]:
    """What the last post's state carried along (its id and where it went)."""
    if not isinstance(previous, dict):
        return {}
    return {k: previous[k] for k in ("forecast_id", "posted") if k in previous}
