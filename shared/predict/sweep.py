"""The forecast sweep: every filesystem of a tenant, each service's memory, and what
is worth saying about them.

``sweep`` reads the last 24 hours of free bytes (and sizes) through the
metrics port and forecasts each filesystem; given the catalog's memory signal,
it also forecasts each service's memory against its limit (its worst pod,
``shared.predict.memory``). Then it decides what to post, remembering what it
said in the document store (each resource under its own state, so a disk and
a service never share one) so that the same prediction is never posted twice:

- a disk that will be full (memory that will reach its limit) within the tenant's horizon
  (``Tenant.forecast_horizon_hours``, 12 h by default) is posted once (``new``);
- while it stays at risk, silence, except one follow-up when it worsens a lot
  (now due in less than half the time the last post left, ``worse``);
- one follow-up when the risk passes (not filling, or beyond 1.5 times the
  horizon so a forecast hovering at the edge does not flap, ``clear``).

It returns values (``SweepResult``); posting them (Slack, a chart) and running
it on a timer belong to the caller, so a timer trigger, ``predict run`` and a
test share this code. Pure apart from the two ports it is handed.

``sweep`` remembers each decision at once. A caller that delivers the posts
(``shared.predict.live``) passes ``remember=False`` and calls ``remember``
for each post once it has landed: a post that failed to deliver is decided
again on the next run instead of being silently taken as said.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.enrichment.signals import SignalSpec
from shared.models.base import doc_id, iso
from shared.ports.metrics import MetricsSource, Series
from shared.ports.store import Container, DocumentStore
from shared.predict.forecast import HORIZON_H as LOOK_AHEAD_H
from shared.predict.forecast import Forecast, Status, forecast
from shared.predict.memory import PodHeadroom, read_worst_pods
from shared.predict.text import headline, memory_headline

FREE = 'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs|ramfs"}'
SIZE = 'node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs|ramfs"}'
HISTORY = timedelta(hours=24)
STEP = timedelta(seconds=60)
HORIZON_H = 12.0
"""A risk is posted when exhaustion is this close, unless the tenant sets its own."""
CLEAR_FACTOR = 1.5
"""The risk has passed only beyond this multiple of the horizon (no flapping at its edge)."""
WORSE_FACTOR = 0.5
"""A follow-up when the time left falls below this share of what the last post said."""
STATE_PREFIX = "forecast-state:"
"""A filesystem's state: ``forecast-state:<instance|mountpoint>``."""
MEMORY_STATE_PREFIX = "memory-forecast-state:"
"""A service's memory state: ``memory-forecast-state:memory|<service>``."""
STATE_TTL_S = 7 * 24 * 3600
"""State of a filesystem no longer seen expires after a week."""


class Action(StrEnum):
    NEW = "new"
    WORSE = "worse"
    CLEAR = "clear"


class Resource(StrEnum):
    """What runs out: a filesystem's free bytes, or a service's memory against its limit."""

    DISK = "disk"
    MEMORY = "memory"

    @property
    def state_prefix(self) -> str:
        return MEMORY_STATE_PREFIX if self is Resource.MEMORY else STATE_PREFIX


@dataclass(frozen=True, slots=True)
class Prediction:
    """One filesystem's (or service's memory) forecast, named as an SRE names it."""

    key: str
    """``instance|mountpoint`` (``memory|service``): what de-duplication is keyed on."""
    where: str
    labels: Mapping[str, str]
    size_bytes: float | None
    forecast: Forecast
    history: npt.NDArray[np.float64] = field(
        default_factory=lambda: np.empty((0, 2)), repr=False, compare=False
    )
    """The samples it was read from: rows of (unix seconds, free bytes), for a chart."""
    resource: Resource = Resource.DISK
    """Memory: ``where`` is ``memory of <service>``, ``size_bytes`` the worst pod's limit,
    the history its headroom, and ``labels`` its service and pod."""

    @property
    def text(self) -> str:
        if self.resource is Resource.MEMORY:
            return memory_headline(self.where, self.forecast)
        return headline(self.where, self.forecast)


@dataclass(frozen=True, slots=True)
class Post:
    """Something to tell the channel, with the previous word on it if any."""

    action: Action
    prediction: Prediction
    previous_hours_left: float | None = None
    state: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The filesystem's state as it will be once this post has been said (``remember``)."""
    previous: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The state before: what the last post said and where it went."""

    @property
    def text(self) -> str:
        head = self.prediction.text
        if self.action is Action.WORSE and self.previous_hours_left is not None:
            return f"{head}; worse than the {self.previous_hours_left:.1f} h said earlier"
        if self.action is Action.CLEAR:
            return f"{head}; the risk posted earlier has passed"
        return head


@dataclass(frozen=True, slots=True)
class SweepResult:
    tenant_id: str
    at: datetime
    predictions: tuple[Prediction, ...] = ()
    posts: tuple[Post, ...] = ()
    errors: tuple[str, ...] = field(default=())


def sweep(
    tenant_id: str,
    metrics: MetricsSource,
    store: DocumentStore,
    now: datetime,
    *,
    horizon_h: float = HORIZON_H,
    remember_posts: bool = True,
    memory: SignalSpec | None = None,
    services: Sequence[str] = (),
) -> SweepResult:
    """Forecast every filesystem of the tenant and decide, with memory, what to post.

    With ``memory`` (the catalog's memory signal, the tenant's overrides
    applied) each of ``services`` (every service the source has when empty) is
    forecast against its memory limit too. With ``remember_posts=False``
    nothing is written: the caller calls ``remember`` for each post it delivered.
    """
    free = metrics.query_range(FREE, now - HISTORY, now, STEP)
    if not free.ok:
        return SweepResult(tenant_id, now, errors=(f"free bytes: {free.error}",))
    sizes = metrics.query_range(SIZE, now - timedelta(minutes=15), now, STEP)
    size_of = {_key(s.labels): s.samples[-1][1] for s in sizes.series if s.samples}
    ahead = look_ahead(horizon_h)
    disks = tuple(_predict(s, size_of.get(_key(s.labels)), now, ahead) for s in free.series)
    errors = tuple(free.warnings) + ((f"sizes: {sizes.error}",) if not sizes.ok else ())
    pods: list[PodHeadroom] = []
    if memory is not None:
        pods, problems = read_worst_pods(
            metrics, memory, services, now, history=HISTORY, step=STEP, ahead_h=ahead
        )
        errors += tuple(problems)
    predictions = disks + tuple(_memory_prediction(pod) for pod in pods)
    posts = tuple(
        post
        for p in sorted(predictions, key=lambda p: (p.resource != Resource.DISK, p.key))
        if (post := _decide(store, tenant_id, p, now, horizon_h)) is not None
    )
    if remember_posts:
        for post in posts:
            remember(store, tenant_id, post)
    return SweepResult(tenant_id, now, predictions, posts, errors)


def look_ahead(horizon_h: float) -> float:
    """How far the forecast looks: the core's 48 h, or far enough to see a longer
    horizon's risk pass (``CLEAR_FACTOR`` times it)."""
    return max(LOOK_AHEAD_H, CLEAR_FACTOR * horizon_h)


def _key(labels: Mapping[str, str]) -> str:
    return f"{labels.get('instance', '')}|{labels.get('mountpoint', labels.get('device', ''))}"


def _predict(series: Series, size: float | None, now: datetime, ahead_h: float) -> Prediction:
    array = np.asarray(series.samples, dtype=np.float64).reshape(-1, 2)
    result = forecast(array[:, 0], array[:, 1], now=now, capacity=size, horizon_h=ahead_h)
    labels = dict(series.labels)
    mount = labels.get("mountpoint") or labels.get("device") or series.name
    host = labels.get("instance")
    where = f"{mount} on {host}" if host else mount
    return Prediction(_key(labels), where, labels, size, result, array)


def _memory_prediction(pod: PodHeadroom) -> Prediction:
    return Prediction(
        f"memory|{pod.service}",
        f"memory of {pod.service}",
        {"service": pod.service, "pod": pod.pod},
        pod.limit_bytes,
        pod.forecast,
        pod.history,
        Resource.MEMORY,
    )


def _at_risk(result: Forecast, within_h: float) -> bool:
    return (
        result.status in (Status.FILLING, Status.FULL)
        and result.hours_left is not None
        and result.hours_left <= within_h
    )


def _decide(
    store: DocumentStore, tenant_id: str, p: Prediction, now: datetime, horizon_h: float
) -> Post | None:
    state_id = doc_id(p.resource.state_prefix, p.key)
    state = _clean(store.get(Container.CACHE, tenant_id, state_id) or {})
    active = bool(state.get("active"))
    result = p.forecast
    if result.status is Status.INSUFFICIENT:
        return None
    if _at_risk(result, horizon_h) and result.exhausted_at is not None:
        if not active:
            return Post(Action.NEW, p, state=_state(tenant_id, state_id, p, now), previous=state)
        said = datetime.fromisoformat(str(state["exhausted_at"]))
        left_then = (said - now).total_seconds() / 3600.0
        hours = result.hours_left or 0.0
        if not state.get("worsened") and left_then > 0.5 and hours < WORSE_FACTOR * left_then:
            return Post(
                Action.WORSE,
                p,
                previous_hours_left=round(left_then, 1),
                state=_state(tenant_id, state_id, p, now, worsened=True),
                previous=state,
            )
        return None
    if active and not _at_risk(result, CLEAR_FACTOR * horizon_h):
        return Post(Action.CLEAR, p, state={**state, "active": False}, previous=state)
    return None


def remember(
    store: DocumentStore,
    tenant_id: str,
    post: Post,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Record that ``post`` was said (with ``extra``, such as where it went)."""
    store.upsert(Container.CACHE, tenant_id, {**post.state, **(extra or {})})


def _state(
    tenant_id: str,
    state_id: str,
    p: Prediction,
    now: datetime,
    *,
    worsened: bool = False,
) -> dict[str, Any]:
    at = p.forecast.exhausted_at
    assert at is not None
    return {
        "id": state_id,
        "tenantId": tenant_id,
        "kind": "forecast-state",
        "resource": p.resource.value,
        "key": p.key,
        "active": True,
        "worsened": worsened,
        "exhausted_at": iso(at),
        "posted_at": iso(now),
        "ttl": STATE_TTL_S,
    }


def _clean(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document without the store's own fields, ready to write back."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}
