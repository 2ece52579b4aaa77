"""Gather a tenant's week from every source into a ``WeeklyReport``.

- **Traffic** (metrics port): request rate, error ratio and p99 latency per
  service, read through the signal catalog's selectors (with the tenant's
  overrides) over this week and the one before, on a 10-minute grid. A
  week's requests are its mean rate times its length; its error ratio is
  weighted by traffic; its latency is the median of its p99 samples.
- **Capacity** (metrics port, ``shared.predict``): every filesystem the
  forecast sweep lists, forecast at the report's moment from its last 24 h,
  with its headroom now and a week ago.
- **Alerts** (store, incident-alert documents): the alerts that started in
  the week, by name: how often, on which services, how long they lasted, and
  a proposed fix where noise advice is given (``Sources.advice``, with where
  its rules came from, or why there is none).
- **Incidents** (store): opened this week beside last week, time to
  acknowledge and to resolve, the longest ones.
- **Feedback** (store): the share of responders' verdicts that accepted a
  hypothesis, this week and last, by category.

Pure apart from the two ports it is handed; a source that is absent or
fails makes its section partial, with the reason, never an exception.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.enrichment.signals import NAMES, SignalCatalog, render
from shared.errors import BadInput, StoreUnavailable
from shared.formatting import percent
from shared.models.base import iso
from shared.models.tenant import Tenant
from shared.ports.metrics import MetricsSource, QueryResult
from shared.ports.store import Container, Document, DocumentStore, Filter
from shared.predict.forecast import HORIZON_H, forecast
from shared.predict.sweep import FREE, HISTORY, SIZE
from shared.predict.sweep import STEP as FORECAST_STEP
from shared.predict.text import headline
from shared.rca.series import place_on_grid
from shared.report.model import (
    AlertsSection,
    CapacitySection,
    Change,
    Curve,
    FeedbackSection,
    Headroom,
    IncidentRow,
    IncidentsSection,
    NoisyAlert,
    ServiceTrend,
    TrafficSection,
    WeeklyReport,
)
from shared.report.week import Week, week_before

FloatArray = npt.NDArray[np.float64]
OnStep = Callable[[str, int, int], None]

STEP = timedelta(minutes=10)
"""Grid of the trend queries: 2,016 points over two weeks, well inside Prometheus' 11,000."""
SIGNALS = ("request_rate", "error_ratio", "latency_p99")
NOISIEST = 10
LONGEST = 5
TRAFFIC_MOVED = 0.25
"""Traffic up or down by this share is worth a note."""
LATENCY_MOVED = 0.20
ERRORS_MOVED = 2.0
"""Error ratio this many times last week's (and at least ``ERRORS_FLOOR``) is worth a note."""
ERRORS_FLOOR = 0.001
NO_METRICS = "no metrics source: the tenant has neither a Prometheus URL nor a metrics file"
NO_ADVICE = (
    "no noise advice: no alerting rules to judge the alerts by (the metrics source lists none "
    "and no rule file was given); alerts are listed with counts and median duration"
)


@dataclass(frozen=True, slots=True)
class Sources:
    """What a report reads: the store, and the tenant's metrics (or why there are none)."""

    store: DocumentStore
    metrics: MetricsSource | None
    metrics_unavailable: str | None = None
    """Why ``metrics`` is None when the tenant has a source that could not be opened."""
    advice: Mapping[str, str] | None = None
    """A proposed fix per alert name (noise advice), when the caller has any."""
    advice_from: str | None = None
    """Where the advice's rules came from (a rule file, or a Prometheus' API)."""
    advice_unavailable: str | None = None
    """Why there is no advice although the tenant has rules to judge by (a failing Prometheus)."""


def weekly_report(
    tenant: Tenant, at: datetime, sources: Sources, *, on_step: OnStep | None = None
) -> WeeklyReport:
    """The report of the seven local days before ``at``'s local day."""
    week = week_before(at, tenant.zone)
    steps: Sequence[tuple[str, Callable[[], Any]]] = (
        ("traffic", lambda: traffic(tenant, week, sources)),
        ("capacity", lambda: capacity(at, sources)),
        ("alerts", lambda: alerts(tenant.id, week, sources)),
        ("incidents", lambda: incidents(tenant.id, week, at, sources.store)),
        ("feedback", lambda: feedback(tenant.id, week, sources.store)),
    )
    done: dict[str, Any] = {}
    for index, (name, run) in enumerate(steps):
        if on_step is not None:
            on_step(name, index, len(steps))
        done[name] = run()
    if on_step is not None:
        on_step("", len(steps), len(steps))
    return WeeklyReport(
        tenant_id=tenant.id,
        tenant_name=tenant.name,
        week=week,
        at=at,
        traffic=done["traffic"],
        capacity=done["capacity"],
        alerts=done["alerts"],
        incidents=done["incidents"],
        feedback=done["feedback"],
    )


# -- traffic -------------------------------------------------------------------------------


def traffic(tenant: Tenant, week: Week, sources: Sources) -> TrafficSection:
    if sources.metrics is None:
        return TrafficSection(missing=(sources.metrics_unavailable or NO_METRICS,))
    try:
        catalog = SignalCatalog().with_overrides(tenant.signal_overrides)
    except (KeyError, ValueError) as exc:
        return TrafficSection(missing=(f"the tenant's signal overrides: {exc}",))
    before = week.previous()
    grid = before.start.timestamp() + STEP.total_seconds() * np.arange(
        int((week.end - before.start) / STEP), dtype=np.float64
    )
    names = [s.name for s in tenant.topology.services]
    missing: list[str] = []
    arrays: dict[str, dict[str, FloatArray]] = {}
    for signal in SIGNALS:
        spec = catalog.get(signal)
        assert spec is not None  # the default catalog has every one of SIGNALS
        selector = render(spec.selector, names) if names else spec.selector.replace(NAMES, ".+")
        result = sources.metrics.query_range(selector, before.start, week.end - STEP, STEP)
        if not result.ok:
            missing.append(f"{signal}: {result.error}")
            continue
        missing.extend(f"{signal}: {w}" for w in result.warnings)
        arrays[signal] = _by_service(result, grid, reduce_sum=signal == "request_rate")
        if not arrays[signal]:
            missing.append(f"{signal}: no series for {selector}")
    services = sorted(set().union(*(a.keys() for a in arrays.values())) if arrays else set())
    split = int(np.searchsorted(grid, week.start.timestamp()))
    trends = []
    curves = []
    for service in services:
        series = {signal: arrays.get(signal, {}).get(service) for signal in SIGNALS}
        trends.append(_trend(service, series, split, (before.hours, week.hours)))
        for signal, values in series.items():
            if values is not None:
                curves.append(
                    Curve(service, signal, _hourly(values[split:]), _hourly(values[:split]))
                )
    trends.sort(key=lambda t: (-(t.requests.this_week or 0.0), t.service))
    return TrafficSection(tuple(trends), tuple(curves), tuple(missing))


def _by_service(
    result: QueryResult, grid: FloatArray, *, reduce_sum: bool
) -> dict[str, FloatArray]:
    """One array per ``service`` label: the sum of its series (rates) or the worst (ratios)."""
    step = float(grid[1] - grid[0]) if grid.size > 1 else STEP.total_seconds()
    out: dict[str, FloatArray] = {}
    for series in result.series:
        service = series.labels.get("service")
        if not service or not series.samples:
            continue
        values = np.full(grid.size, np.nan)
        place_on_grid(series.samples, grid, step, values)
        known = out.get(service)
        if known is None:
            out[service] = values
        elif reduce_sum:
            both = np.isnan(known) & np.isnan(values)
            out[service] = np.where(both, np.nan, np.nan_to_num(known) + np.nan_to_num(values))
        else:
            out[service] = np.fmax(known, values)
    return out


def _trend(
    service: str,
    series: Mapping[str, FloatArray | None],
    split: int,
    hours: tuple[float, float],
) -> ServiceTrend:
    rate, errors, p99 = (series[s] for s in SIGNALS)
    parts = (slice(0, split), slice(split, None))

    def requests(part: slice, week_hours: float) -> float | None:
        if rate is None or not np.isfinite(rate[part]).any():
            return None
        return float(np.nanmean(rate[part])) * week_hours * 3600.0

    def error_ratio(part: slice) -> float | None:
        if errors is None or not np.isfinite(errors[part]).any():
            return None
        e = errors[part]
        if rate is not None:
            r = rate[part]
            both = np.isfinite(e) & np.isfinite(r)
            weight = float(r[both].sum())
            if weight > 0:
                return float((e[both] * r[both]).sum() / weight)
        return float(np.nanmean(e))

    def latency(part: slice) -> float | None:
        if p99 is None or not np.isfinite(p99[part]).any():
            return None
        return float(np.nanmedian(p99[part]))

    last, this = parts
    trend_requests = Change(requests(this, hours[1]), requests(last, hours[0]))
    trend_errors = Change(error_ratio(this), error_ratio(last))
    trend_latency = Change(latency(this), latency(last))
    coverage = 0.0 if rate is None else float(np.isfinite(rate[this]).mean())
    return ServiceTrend(
        service=service,
        requests=trend_requests,
        error_ratio=trend_errors,
        latency_p99=trend_latency,
        coverage=coverage,
        notes=_notes(trend_requests, trend_errors, trend_latency, coverage),
    )


def _notes(requests: Change, errors: Change, latency: Change, coverage: float) -> tuple[str, ...]:
    notes = []
    moved = requests.change
    if moved is not None and abs(moved) >= TRAFFIC_MOVED:
        notes.append(f"traffic {'up' if moved > 0 else 'down'} {percent(abs(moved))}")
    now, then = errors.this_week, errors.last_week
    if now is not None and now >= ERRORS_FLOOR:
        if then is None or then == 0:
            notes.append(f"errors {percent(now)} of requests, none last week")
        elif now >= ERRORS_MOVED * then:
            notes.append(f"errors {now / then:.1f}x last week ({percent(now)} of requests)")
    slower = latency.change
    if slower is not None and slower >= LATENCY_MOVED:
        notes.append(f"p99 latency up {percent(slower)}")
    if 0 < coverage < 0.9:
        notes.append(f"request rate measured over {percent(coverage)} of the week")
    return tuple(notes)


def _hourly(values: FloatArray) -> tuple[float, ...]:
    """Hourly means (NaN where an hour has no sample)."""
    per_hour = int(timedelta(hours=1) / STEP)
    hours = math.ceil(values.size / per_hour)
    padded = np.full(hours * per_hour, np.nan)
    padded[: values.size] = values
    blocks = padded.reshape(hours, per_hour)
    counts = np.isfinite(blocks).sum(axis=1)
    sums = np.nansum(blocks, axis=1)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return tuple(float(v) for v in means)


# -- capacity ------------------------------------------------------------------------------


def capacity(at: datetime, sources: Sources) -> CapacitySection:
    if sources.metrics is None:
        return CapacitySection(missing=(sources.metrics_unavailable or NO_METRICS,))
    metrics = sources.metrics
    free = metrics.query_range(FREE, at - HISTORY, at, FORECAST_STEP)
    if not free.ok:
        return CapacitySection(missing=(f"free bytes: {free.error}",))
    missing = [f"free bytes: {w}" for w in free.warnings]
    sizes = metrics.query_range(SIZE, at - timedelta(minutes=15), at, FORECAST_STEP)
    if not sizes.ok:
        missing.append(f"filesystem sizes: {sizes.error}")
    ago = at - timedelta(days=7)
    earlier = metrics.query_range(FREE, ago, ago + timedelta(minutes=15), FORECAST_STEP)
    size_of = _first_or_last(sizes, last=True)
    free_ago = _first_or_last(earlier, last=False)
    rows = []
    for series in free.series:
        if not series.samples:
            continue
        key = _fs_key(series.labels)
        array = np.asarray(series.samples, dtype=np.float64).reshape(-1, 2)
        size = size_of.get(key)
        result = forecast(array[:, 0], array[:, 1], now=at, capacity=size)
        mount = series.labels.get("mountpoint") or series.labels.get("device") or series.name
        host = series.labels.get("instance")
        where = f"{mount} on {host}" if host else mount
        rows.append(
            Headroom(
                where=where,
                size_bytes=size,
                free_bytes=float(array[-1, 1]),
                free_week_ago=free_ago.get(key),
                status=result.status.value,
                hours_left=result.hours_left,
                range_hours=result.range_hours,
                headline=headline(where, result),
            )
        )
    if not rows:
        missing.append("no filesystems: no node_filesystem_avail_bytes series in the last 24 h")
    rows.sort(key=lambda h: (h.hours_left is None, h.hours_left or 0.0, -(h.used_share or 0.0)))
    return CapacitySection(tuple(rows), HORIZON_H, tuple(missing))


def _fs_key(labels: Mapping[str, str]) -> tuple[str, str]:
    return labels.get("instance", ""), labels.get("mountpoint", labels.get("device", ""))


def _first_or_last(result: QueryResult, *, last: bool) -> dict[tuple[str, str], float]:
    return {_fs_key(s.labels): s.samples[-1 if last else 0][1] for s in result.series if s.samples}


# -- the store's sections --------------------------------------------------------------------


def _between(
    store: DocumentStore,
    container: Container,
    tenant_id: str,
    field_name: str,
    start: datetime,
    end: datetime,
) -> list[Document]:
    return store.query(
        container,
        tenant_id,
        [Filter(field_name, ">=", iso(start)), Filter(field_name, "<", iso(end))],
    )


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _seconds(start: Any, end: Any) -> float | None:
    began, ended = _moment(start), _moment(end)
    if began is None or ended is None:
        return None
    return max((ended - began).total_seconds(), 0.0)


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def alerts(tenant_id: str, week: Week, sources: Sources) -> AlertsSection:
    try:
        docs = _between(
            sources.store, Container.INCIDENT_ALERTS, tenant_id, "starts_at", week.start, week.end
        )
    except StoreUnavailable as exc:
        return AlertsSection(missing=(f"incident alerts: {exc.reason}",))
    by_name: dict[str, list[Document]] = defaultdict(list)
    for doc in docs:
        by_name[str(doc.get("name") or "(unnamed)")].append(doc)
    advice = sources.advice
    rows = []
    for name, group in by_name.items():
        rows.append(
            NoisyAlert(
                name=name,
                count=len(group),
                services=tuple(sorted({str(d["service"]) for d in group if d.get("service")})),
                incidents=len({d.get("incidentId") for d in group}),
                median_duration_s=_median(
                    _seconds(d.get("starts_at"), d.get("ends_at")) for d in group
                ),
                still_firing=sum(1 for d in group if d.get("status") == "firing"),
                proposed_fix=advice.get(name) if advice else None,
            )
        )
    rows.sort(key=lambda a: (-a.count, a.name))
    missing: tuple[str, ...] = ()
    if advice is None:
        missing = (sources.advice_unavailable or NO_ADVICE,)
    return AlertsSection(
        len(docs),
        len(rows),
        tuple(rows[:NOISIEST]),
        missing,
        advice_from=sources.advice_from if advice is not None else None,
    )


def incidents(tenant_id: str, week: Week, at: datetime, store: DocumentStore) -> IncidentsSection:
    before = week.previous()
    try:
        docs = _between(store, Container.INCIDENTS, tenant_id, "first_seen", before.start, week.end)
    except StoreUnavailable as exc:
        return IncidentsSection(missing=(f"incidents: {exc.reason}",))
    start = iso(week.start)
    # An incident merged into another before anyone saw it is part of that one.
    docs = [d for d in docs if not d.get("merged_into")]
    this = [d for d in docs if str(d.get("first_seen", "")) >= start]
    last = [d for d in docs if str(d.get("first_seen", "")) < start]
    cutoff = iso(at)

    def resolve_s(doc: Document) -> float | None:
        resolved = doc.get("resolved_at")
        if not resolved or str(resolved) > cutoff:  # resolved after the report's moment
            return None
        return _seconds(doc.get("first_seen"), resolved)

    rows = [
        IncidentRow(
            id=str(d.get("id", "")),
            title=str(d.get("title", "")),
            severity=str(d.get("severity", "")),
            status=str(d.get("status", "")),
            services=tuple(str(s) for s in d.get("services") or ()),
            first_seen=_moment(d.get("first_seen")) or week.start,
            resolve_s=resolve_s(d),
        )
        for d in this
    ]
    resolved = [r for r in rows if r.resolve_s is not None]
    longest = sorted(
        rows,
        key=lambda r: (
            -(r.resolve_s if r.resolve_s is not None else (at - r.first_seen).total_seconds()),
            r.id,
        ),
    )
    return IncidentsSection(
        opened=Change(float(len(this)), float(len(last))),
        resolved=len(resolved),
        still_open=len(rows) - len(resolved),
        median_resolve_s=Change(
            _median(r.resolve_s for r in resolved), _median(resolve_s(d) for d in last)
        ),
        median_acknowledge_s=_median(
            _seconds(d.get("first_seen"), d.get("acknowledged_at")) for d in this
        ),
        longest=tuple(longest[:LONGEST]),
    )


def feedback(tenant_id: str, week: Week, store: DocumentStore) -> FeedbackSection:
    before = week.previous()
    try:
        docs = _between(store, Container.FEEDBACK, tenant_id, "at", before.start, week.end)
    except StoreUnavailable as exc:
        return FeedbackSection(missing=(f"feedback: {exc.reason}",))
    start = iso(week.start)
    counts: dict[bool, dict[str, int]] = {True: {}, False: {}}
    categories: dict[str, dict[str, int]] = defaultdict(lambda: {"accepted": 0, "rejected": 0})
    for doc in docs:
        verdict = doc.get("verdict")
        if verdict not in ("likely", "not_it"):
            continue
        key = "accepted" if verdict == "likely" else "rejected"
        current = str(doc.get("at", "")) >= start
        counts[current][key] = counts[current].get(key, 0) + 1
        if current:
            categories[str(doc.get("category") or "unknown")][key] += 1

    def rate(side: Mapping[str, int]) -> float | None:
        total = side.get("accepted", 0) + side.get("rejected", 0)
        return side.get("accepted", 0) / total if total else None

    return FeedbackSection(
        accepted=counts[True].get("accepted", 0),
        rejected=counts[True].get("rejected", 0),
        acceptance=Change(rate(counts[True]), rate(counts[False])),
        by_category={k: dict(v) for k, v in sorted(categories.items())},
    )


def metrics_reason(exc: BadInput) -> str:
    """Why a tenant's configured metrics source could not be opened."""
    return f"metrics source unavailable: {exc.reason}"
