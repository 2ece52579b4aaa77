"""Context assembly: alerts + changes + topology + metrics + history -> one snapshot.

This is the pipeline's only step with a source behind it (the metrics port);
everything it learns is condensed into a JSON-able ``ContextSnapshot`` so the
later steps are pure. Time comes from the request (``now``: the alert time of
a replay, the orchestration's clock live), never from the wall clock.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, ValidationError

from shared.enrichment.changes import recent_changes
from shared.enrichment.signals import SignalCatalog, Window, compute_signals
from shared.enrichment.similar import find_similar
from shared.enrichment.topology import build_neighbourhood
from shared.errors import BadInput
from shared.models.alert import Alert, AlertStatus
from shared.models.analysis import (
    NO_METRICS_SOURCE,
    AlertBrief,
    ContextSnapshot,
    PastIncident,
    Precedent,
    SignalReading,
    SourceStatus,
)
from shared.models.base import Model
from shared.models.change import ChangeEvent
from shared.models.tenant import Topology
from shared.ports.metrics import MetricsSource
from shared.rca.series import SIGNAL_PREFIX


class ContextOptions(Model):
    """Windows of context assembly (defaults follow the product settings)."""

    incident_window_minutes: int = 60
    """Alerts that started this long before ``now`` and still fire open the incident."""
    change_lookback_minutes: int = 120
    metrics_lookback_minutes: int = 360
    baseline_gap_minutes: int = 120
    step_seconds: int = 60


def _parse(model: type[Model], doc: Any, what: str) -> Any:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise BadInput(f"{what}: field {where}: {first['msg']}") from exc


def _change(doc: Mapping[str, Any], tenant_id: str, index: int) -> ChangeEvent:
    data = dict(doc)
    data.setdefault("tenantId", tenant_id)
    if not data.get("id"):
        digest = hashlib.sha256(
            f"{data.get('kind')}|{data.get('service')}|{data.get('at')}|{data.get('version')}".encode()
        ).hexdigest()
        data["id"] = f"chg-{digest[:10]}"
    change: ChangeEvent = _parse(ChangeEvent, data, f"changes[{index}]")
    return change


def incident_id_for(tenant_id: str, alerts: Sequence[Alert]) -> str:
    """Stable id from the tenant and the alerts' fingerprints (replays, tests)."""
    key = "|".join([tenant_id, *sorted({a.fingerprint for a in alerts})])
    return "inc-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def _briefs(alerts: Sequence[Alert], now: datetime, window: timedelta) -> list[AlertBrief]:
    briefs = [
        AlertBrief(
            fingerprint=a.fingerprint,
            name=a.name,
            status=a.status.value,
            severity=a.severity.value,
            service=a.service,
            instance=a.instance,
            summary=a.summary,
            source=a.source.value,
            starts_at=a.starts_at,
            recent=a.status is not AlertStatus.RESOLVED
            and now - window <= a.starts_at <= now + timedelta(minutes=15),
        )
        for a in alerts
    ]
    if not any(b.recent for b in briefs):
        # Nothing opened recently: treat whatever still fires (else everything) as the incident.
        firing = [b for b in briefs if b.status != AlertStatus.RESOLVED.value] or briefs
        keep = {id(b) for b in firing}
        briefs = [b.model_copy(update={"recent": id(b) in keep}) for b in briefs]
    return sorted(briefs, key=lambda b: (b.starts_at, b.fingerprint))


def _title(briefs: Sequence[AlertBrief]) -> str:
    rank = {"critical": 3, "warning": 2, "info": 1}
    recent = [b for b in briefs if b.recent] or list(briefs)
    if not recent:
        return "incident"
    top = sorted(recent, key=lambda b: (-rank.get(b.severity, 0), b.starts_at))[0]
    return top.summary or top.name


def _similar_query(briefs: Sequence[AlertBrief], signals: Sequence[SignalReading]) -> str:
    words: list[str] = []
    for b in briefs:
        if b.recent:
            words += [b.name, b.summary, b.service or "", b.instance or ""]
    deviating = sorted(
        (r for r in signals if abs(r.deviation) >= 6 and r.signal != "cert_expiry"),
        key=lambda r: (-abs(r.deviation), r.entity, r.signal),
    )
    for r in deviating[:8]:
        words += [r.entity, r.signal.replace("_", " ")]
    return " ".join(w for w in words if w)


@dataclass(frozen=True)
class _Plan:
    """What context assembly knows before it reads any metric."""

    tenant_id: str
    options: ContextOptions
    now: datetime
    alerts: list[Alert]
    history: list[PastIncident]
    briefs: list[AlertBrief]
    started_at: datetime
    change_records: list[Any]
    neighbourhood: Any
    catalog: SignalCatalog

    @property
    def window(self) -> Window:
        return Window(
            now=self.now,
            lookback=timedelta(minutes=self.options.metrics_lookback_minutes),
            step=timedelta(seconds=self.options.step_seconds),
            baseline_gap=timedelta(minutes=self.options.baseline_gap_minutes),
        )


def _plan(request: Mapping[str, Any], catalog: SignalCatalog | None) -> _Plan:
    tenant_id = str(request.get("tenant_id") or "")
    if not tenant_id:
        raise BadInput("context request: field tenant_id: required")
    if "now" not in request:
        raise BadInput("context request: field now: required")
    options: ContextOptions = _parse(ContextOptions, request.get("options") or {}, "options")
    now = _parse(_Now, {"now": request["now"]}, "context request").now
    alerts = [
        _parse(Alert, {"tenantId": tenant_id, **a}, f"alerts[{i}]")
        for i, a in enumerate(request.get("alerts") or [])
    ]
    topology: Topology = _parse(Topology, request.get("topology") or {}, "topology")
    changes = [_change(c, tenant_id, i) for i, c in enumerate(request.get("changes") or [])]
    history: list[PastIncident] = [
        _parse(PastIncident, h, f"history[{i}]") for i, h in enumerate(request.get("history") or [])
    ]

    briefs = _briefs(alerts, now, timedelta(minutes=options.incident_window_minutes))
    recent = [b for b in briefs if b.recent]
    started_at = min((b.starts_at for b in recent), default=now)
    change_records = recent_changes(
        changes,
        onset=started_at,
        now=now,
        lookback=timedelta(minutes=options.change_lookback_minutes),
    )
    neighbourhood = build_neighbourhood(
        topology,
        focus_services=[b.service for b in recent if b.service],
        focus_hosts=[b.instance for b in recent if b.instance],
        extra_services=[c.service for c in change_records],
    )
    active = catalog or SignalCatalog()
    overrides = request.get("signal_overrides") or {}
    if overrides:
        try:
            active = active.with_overrides(overrides)
        except (KeyError, ValueError) as exc:
            raise BadInput(f"signal_overrides: {exc}") from exc
    return _Plan(
        tenant_id=tenant_id,
        options=options,
        now=now,
        alerts=alerts,
        history=history,
        briefs=briefs,
        started_at=started_at,
        change_records=list(change_records),
        neighbourhood=neighbourhood,
        catalog=active,
    )


def signal_names(request: Mapping[str, Any], *, catalog: SignalCatalog | None = None) -> list[str]:
    """The catalog signals a context will read: the unit the live path fans out over."""
    plan = _plan(request, catalog)
    scope = {
        "service": plan.neighbourhood.scope_services,
        "host": plan.neighbourhood.scope_hosts,
    }
    return [spec.name for spec in plan.catalog.specs() if scope[spec.scope]]


def collect_signals(
    request: Mapping[str, Any],
    *,
    metrics: MetricsSource,
    names: Sequence[str],
    catalog: SignalCatalog | None = None,
) -> dict[str, Any]:
    """Read only the named signals (one fan-out branch); JSON-able readings and statuses."""
    plan = _plan(request, catalog)
    subset = SignalCatalog(s for s in plan.catalog.specs() if s.name in set(names))
    signals, sources = compute_signals(
        metrics,
        subset,
        services=plan.neighbourhood.scope_services,
        hosts=plan.neighbourhood.scope_hosts,
        window=plan.window,
    )
    return {
        "signals": [r.model_dump(mode="json") for r in signals],
        "sources": [s.model_dump(mode="json") for s in sources],
    }


def assemble_context(
    request: Mapping[str, Any],
    *,
    metrics: MetricsSource | None,
    catalog: SignalCatalog | None = None,
    collected: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Build the incident's context snapshot (JSON-able dict).

    ``request``: ``tenant_id``, ``now`` (ISO time), ``alerts`` (Alert documents),
    ``changes`` (ChangeEvent-shaped dicts; ``id``/``tenantId`` optional),
    ``topology`` (``{"services": [...]}``), ``history`` (past incidents),
    optional ``incident_id``, ``options`` (ContextOptions) and
    ``signal_overrides`` (per-tenant selector templates). ``metrics`` None
    means no metrics source is configured: the snapshot says so.
    ``collected``: the results of ``collect_signals`` branches that already
    read the metrics (the live orchestration fans out over them); the order of
    readings then follows the catalog, as a single read would.
    """
    plan = _plan(request, catalog)
    signals: list[SignalReading] = []
    sources: list[SourceStatus] = []
    if collected is not None:
        for part in collected:
            signals += [SignalReading.model_validate(r) for r in part.get("signals", [])]
            sources += [SourceStatus.model_validate(s) for s in part.get("sources", [])]
        specs = plan.catalog.specs()
        order = {spec.name: i for i, spec in enumerate(specs)}
        # A per-series reading ("series:<metric>") comes from the spec that reads every
        # series: it takes that spec's place, as in a single read (stable sort).
        each = next((i for i, spec in enumerate(specs) if spec.transform == "each"), len(order))
        signals.sort(
            key=lambda r: (
                each if r.signal.startswith(SIGNAL_PREFIX) else order.get(r.signal, len(order))
            )
        )
        sources.sort(key=lambda s: order.get(s.name.removeprefix("metrics:"), len(order)))
    elif metrics is None:
        sources.append(SourceStatus(name="metrics", ok=False, reason=NO_METRICS_SOURCE))
    else:
        signals, sources = compute_signals(
            metrics,
            plan.catalog,
            services=plan.neighbourhood.scope_services,
            hosts=plan.neighbourhood.scope_hosts,
            window=plan.window,
        )
    sources.append(SourceStatus(name="changes", ok=True))
    sources.append(SourceStatus(name="history", ok=True))

    history, briefs = plan.history, plan.briefs
    counts = Counter((h.category, h.target.lower()) for h in history if h.category and h.target)
    precedents = [Precedent(category=c, target=t, count=n) for (c, t), n in sorted(counts.items())]
    snapshot = ContextSnapshot(
        tenant_id=plan.tenant_id,
        incident_id=str(request.get("incident_id") or incident_id_for(plan.tenant_id, plan.alerts)),
        title=_title(briefs),
        now=plan.now,
        started_at=plan.started_at,
        alerts=tuple(briefs),
        changes=tuple(plan.change_records),
        neighbourhood=plan.neighbourhood,
        signals=tuple(signals),
        precedents=tuple(precedents),
        history_size=len(history),
        similar_incidents=tuple(find_similar(history, _similar_query(briefs, signals))),
        sources=tuple(sources),
    )
    return snapshot.model_dump(mode="json", by_alias=True)


class _Now(Model):
    now: AwareDatetime
