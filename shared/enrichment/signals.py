"""The signal catalog and the baseline/onset statistics over each signal.

A signal is one thing an SRE would look at for a service or a host (its error
ratio, its CPU, a host's free disk), defined as PromQL selectors so that the
same catalog runs on Prometheus and on a scenario file. Tenants whose metrics
are named differently override the selectors, not the code.

For every signal of every entity in scope we compute, over a 6-hour range:
the baseline of an earlier window with robust statistics (median, scaled MAD,
floored so a flat baseline does not make every wiggle infinite), the current
value, the robust deviation, and the onset: when the signal last left its
baseline for good. Onsets are what lets detectors reason about time ("the
database's connections rose before its callers' errors").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from shared.models.analysis import Scope, SignalReading, SourceStatus
from shared.ports.metrics import MetricsSource, QueryResult
from shared.rca.series import place_on_grid, series_readings

FloatArray = npt.NDArray[np.float64]

Reduce = Literal["max", "min", "sum"]
Transform = Literal["value", "increase", "until", "each"]

NAMES = "{names}"
"""Placeholder in a selector template for the regex alternation of entity names."""


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """How to read one signal: selector template(s) and how to fold series into one."""

    name: str
    scope: Scope
    selector: str
    key_label: str
    unit: str = ""
    denominator: str | None = None
    """Divide by this selector's series (memory limit, max connections, disk size)."""
    join_label: str | None = None
    """Label pairing numerator and denominator series, and telling series apart."""
    reduce: Reduce = "max"
    """How the series of one entity combine: the worst pod, the fullest disk."""
    transform: Transform = "value"
    """``increase``: counters to increase since the window start; ``until``: timestamps
    to days from each sample's time; ``each``: every series on its own, whatever its
    name (``shared.rca.series``: one reading per series that changed)."""
    rel_floor: float = 0.05
    abs_floor: float = 1e-6


def _spec(name: str, scope: Scope, selector: str, **kwargs: object) -> SignalSpec:
    key_label = "service" if scope == "service" else "instance"
    return SignalSpec(name=name, scope=scope, selector=selector, key_label=key_label, **kwargs)  # type: ignore[arg-type]


_SVC = 'service=~"{names}"'
_HOST = 'instance=~"{names}"'

DEFAULT_SIGNALS: tuple[SignalSpec, ...] = (
    _spec("request_rate", "service", f"service:request_rate:rate5m{{{_SVC}}}", unit="req/s"),
    _spec(
        "error_ratio",
        "service",
        f"service:error_ratio:rate5m{{{_SVC}}}",
        unit="ratio",
        abs_floor=0.002,
    ),
    _spec(
        "latency_p99",
        "service",
        f"service:latency_p99_seconds:5m{{{_SVC}}}",
        unit="s",
        rel_floor=0.05,
        abs_floor=0.001,
    ),
    _spec(
        "cpu", "service", f"service:cpu_utilization:ratio{{{_SVC}}}", unit="ratio", abs_floor=0.02
    ),
    _spec(
        "memory",
        "service",
        f"container_memory_working_set_bytes{{{_SVC}}}",
        unit="ratio of limit",
        denominator=f"container_spec_memory_limit_bytes{{{_SVC}}}",
        join_label="pod",
        reduce="max",
        abs_floor=0.02,
    ),
    _spec(
        "restarts",
        "service",
        f"kube_pod_container_status_restarts_total{{{_SVC}}}",
        unit="restarts",
        join_label="pod",
        reduce="sum",
        transform="increase",
        abs_floor=0.5,
    ),
    _spec(
        "db_connections",
        "service",
        f"pg_stat_activity_count{{{_SVC}}}",
        unit="ratio of max",
        denominator=f"pg_settings_max_connections{{{_SVC}}}",
        abs_floor=0.02,
    ),
    _spec("probe_success", "service", f"probe_success{{{_SVC}}}", reduce="min", abs_floor=0.05),
    _spec(
        "cert_expiry",
        "service",
        f"probe_ssl_earliest_cert_expiry{{{_SVC}}}",
        unit="days left",
        reduce="min",
        transform="until",
        abs_floor=1.0,
    ),
    _spec(
        "dns_lookup",
        "service",
        f"probe_dns_lookup_time_seconds{{{_SVC}}}",
        unit="s",
        rel_floor=0.1,
        abs_floor=0.005,
    ),
    _spec("series", "service", f"{{{_SVC}}}", transform="each"),
    _spec("up", "host", f"up{{{_HOST}}}", reduce="min", abs_floor=0.05),
    _spec(
        "disk_free",
        "host",
        f"node_filesystem_avail_bytes{{{_HOST}}}",
        unit="ratio free",
        denominator=f"node_filesystem_size_bytes{{{_HOST}}}",
        join_label="mountpoint",
        reduce="min",
        abs_floor=0.005,
    ),
)


class SignalCatalog:
    """The signals to read, by name; ``with_overrides`` swaps selectors per tenant."""

    def __init__(self, specs: Iterable[SignalSpec] = DEFAULT_SIGNALS) -> None:
        self._specs = {spec.name: spec for spec in specs}

    def specs(self) -> tuple[SignalSpec, ...]:
        return tuple(self._specs.values())

    def get(self, name: str) -> SignalSpec | None:
        return self._specs.get(name)

    def with_overrides(self, selectors: Mapping[str, str]) -> SignalCatalog:
        """A copy where ``{"error_ratio": "...", "memory.denominator": "..."}`` replace
        selector templates. Templates keep ``{names}`` where the entity regex goes."""
        specs = dict(self._specs)
        for key, template in selectors.items():
            name, _, part = key.partition(".")
            if name not in specs:
                raise KeyError(f"unknown signal {name!r}")
            if NAMES not in template:
                raise ValueError(f"selector for {key!r} must contain {NAMES}")
            if part == "denominator":
                specs[name] = replace(specs[name], denominator=template)
            else:
                specs[name] = replace(specs[name], selector=template)
        return SignalCatalog(specs.values())


@dataclass(frozen=True, slots=True)
class Window:
    """The time range read and how it splits into baseline and recent parts."""

    now: datetime
    lookback: timedelta = timedelta(hours=6)
    step: timedelta = timedelta(seconds=60)
    baseline_gap: timedelta = timedelta(minutes=120)
    """The baseline ends this long before ``now``: onsets we look for are more recent."""
    current_span: timedelta = timedelta(minutes=3)
    onset_z: float = 3.0
    onset_gap: int = 3
    """Samples back inside the baseline band that still count as one excursion."""

    @property
    def start(self) -> datetime:
        return self.now - self.lookback

    def grid(self) -> FloatArray:
        count = int(self.lookback / self.step) + 1
        return self.start.timestamp() + self.step.total_seconds() * np.arange(
            count, dtype=np.float64
        )


REF_FAR = 30
REF_NEAR = 10
"""The trailing reference for a refined onset: samples 30 to 10 before it."""
LOCAL_Z = 4.0

_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")


def names_regex(names: Iterable[str]) -> str:
    """Entity names as a PromQL-string-safe regex alternation (sorted: stable queries)."""
    escaped = ["".join("\\" + c if c in _REGEX_SPECIAL else c for c in n) for n in sorted(names)]
    return "|".join(escaped).replace("\\", "\\\\").replace('"', '\\"')


def render(template: str, names: Iterable[str]) -> str:
    return template.replace(NAMES, names_regex(names))


def render_or_all(template: str, names: Sequence[str]) -> str:
    """``render``, or every entity the source has when there are no names (no topology)."""
    return render(template, names) if names else template.replace(NAMES, ".+")


def aligned(
    result: QueryResult, spec: SignalSpec, grid: FloatArray, step: float | None = None
) -> dict[tuple[str, str], FloatArray]:
    """Series keyed by (entity, join value) as arrays on the step grid (NaN: no sample).

    ``step``: the grid's spacing, read from the grid when not given.
    """
    if step is None:
        step = float(grid[1] - grid[0]) if grid.size > 1 else 1.0
    out: dict[tuple[str, str], FloatArray] = {}
    for series in result.series:
        entity = series.labels.get(spec.key_label)
        if not entity or not series.samples:
            continue
        join = series.labels.get(spec.join_label, "") if spec.join_label else ""
        arr = out.get((entity, join))
        if arr is None:
            arr = out[(entity, join)] = np.full(grid.size, np.nan)
        place_on_grid(series.samples, grid, step, arr)
    return out


def _increase(values: FloatArray) -> FloatArray:
    """Counter samples -> cumulative increase since the first sample (resets count),
    held at its last value after the series ends (a replaced pod's restarts stay)."""
    out = np.full(values.size, np.nan)
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size == 0:
        return out
    vals = values[finite]
    diffs = np.diff(vals)
    steps = np.where(diffs >= 0, diffs, vals[1:])
    cumulative = np.concatenate(([0.0], np.cumsum(steps)))
    out[finite] = cumulative
    out[finite[-1] :] = cumulative[-1]
    return out


def _fold(arrays: list[FloatArray], reduce: Reduce) -> tuple[FloatArray, int]:
    """Combine an entity's series; returns the folded array and the index of the series
    that decided the latest value (for ``detail``)."""
    stack = np.vstack(arrays)
    empty = np.all(np.isnan(stack), axis=0)
    if reduce == "sum":
        folded = np.where(empty, np.nan, np.nansum(np.nan_to_num(stack, nan=0.0), axis=0))
        return folded, 0
    if reduce == "max":
        folded = np.fmax.reduce(stack, axis=0)
        filler = -np.inf
    else:
        folded = np.fmin.reduce(stack, axis=0)
        filler = np.inf
    last = np.flatnonzero(~empty)
    decider = 0
    if last.size:
        column = np.where(np.isnan(stack[:, last[-1]]), filler, stack[:, last[-1]])
        decider = int(np.argmax(column) if reduce == "max" else np.argmin(column))
    return folded, decider


def _noise(base: FloatArray, spec: SignalSpec) -> float:
    """Sample-to-sample noise of the baseline (scaled MAD of differences).

    Unlike the MAD of the values it is not inflated by a slow daily trend, so a
    sharp change stands out against it even on a drifting signal.
    """
    median = float(np.median(base))
    floor = max(spec.rel_floor * abs(median), spec.abs_floor)
    if base.size < 3:
        return floor
    diffs = np.diff(base)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return max(1.4826 * mad / math.sqrt(2.0), floor)


def _onset_index(
    values: FloatArray,
    finite: npt.NDArray[np.bool_],
    median: float,
    spread: float,
    noise: float,
    sign: float,
    window: Window,
) -> int | None:
    """Index where the final excursion from the baseline began, or None.

    First the final run of samples away from the baseline (gaps of a few
    samples allowed). A slow drift can make that run start long before the
    event, so the onset is then refined to the first sample that jumps away
    from its own recent past (the median of the 10 to 30 samples before it):
    the moment the signal actually changed, not when it crossed a line.
    """
    away = finite & (sign * (values - median) / spread >= window.onset_z)
    positions = np.flatnonzero(away)
    last_finite = int(np.flatnonzero(finite)[-1])
    if not positions.size or last_finite - positions[-1] > window.onset_gap:
        return None
    gaps = np.flatnonzero(np.diff(positions) > window.onset_gap + 1)
    first = int(positions[gaps[-1] + 1] if gaps.size else positions[0])
    for t in range(max(REF_FAR, first - REF_NEAR), last_finite + 1):
        if not finite[t]:
            continue
        ref = values[t - REF_FAR : t - REF_NEAR]
        ref = ref[np.isfinite(ref)]
        if ref.size < 5:
            continue
        level = float(np.median(ref))
        if sign * (values[t] - level) / noise < LOCAL_Z:
            continue
        # A jump that the next sample keeps, not a lone spike.
        after = values[t + 1] if t + 1 <= last_finite else values[t]
        if not np.isfinite(after) or sign * (after - level) / noise >= LOCAL_Z / 2:
            return t
    return first


def _stats(
    spec: SignalSpec, entity: str, values: FloatArray, grid: FloatArray, window: Window
) -> SignalReading | None:
    finite = np.isfinite(values)
    if not finite.any():
        return None
    now_s = window.now.timestamp()
    base_mask = finite & (grid < now_s - window.baseline_gap.total_seconds())
    if base_mask.sum() < 20:
        positions = np.flatnonzero(finite)
        base_mask = np.zeros(values.size, dtype=bool)
        base_mask[positions[: max(1, positions.size // 2)]] = True
    base = values[base_mask]
    median = float(np.median(base))
    mad = float(np.median(np.abs(base - median)))
    spread = max(1.4826 * mad, spec.rel_floor * abs(median), spec.abs_floor)

    cur_mask = finite & (grid > now_s - window.current_span.total_seconds() - 1)
    if cur_mask.any():
        current = float(np.median(values[cur_mask]))
    else:
        last = np.flatnonzero(finite)[-1]
        if grid[last] < now_s - 15 * 60:
            return SignalReading(
                signal=spec.name,
                entity=entity,
                scope=spec.scope,
                unit=spec.unit,
                baseline=median,
                spread=spread,
                samples=int(finite.sum()),
                detail="stale: no sample in the last 15 minutes",
            )
        current = float(values[last])
    deviation = (current - median) / spread
    ratio = current / median if abs(median) > 1e-12 else None

    recent = finite & (grid >= now_s - window.baseline_gap.total_seconds())
    recent_vals = values[recent] if recent.any() else values[finite]
    recent_grid = grid[recent] if recent.any() else grid[finite]
    peak_at = float(recent_grid[np.flatnonzero(recent_vals == np.max(recent_vals))[-1]])

    trend = finite & (grid >= now_s - 3 * 3600)
    slope = None
    if trend.sum() >= 10:
        hours = (grid[trend] - now_s) / 3600.0
        ys = values[trend]
        var = float(np.var(hours))
        if var > 0:
            slope = float(np.mean((hours - hours.mean()) * (ys - ys.mean())) / var)

    onset = None
    prior = None
    if abs(deviation) >= window.onset_z:
        sign = 1.0 if deviation > 0 else -1.0
        first = _onset_index(values, finite, median, spread, _noise(base, spec), sign, window)
        if first is not None:
            onset = datetime.fromtimestamp(float(grid[first]), tz=UTC)
            before = values[max(0, first - REF_FAR) : max(0, first - REF_NEAR)]
            before = before[np.isfinite(before)]
            if before.size:
                prior = float(np.median(before))

    return SignalReading(
        signal=spec.name,
        entity=entity,
        scope=spec.scope,
        unit=spec.unit,
        baseline=round(median, 6),
        spread=round(spread, 6),
        current=round(current, 6),
        deviation=round(float(deviation), 3),
        ratio=round(ratio, 4) if ratio is not None else None,
        onset=onset,
        prior=round(prior, 6) if prior is not None else None,
        recent_max=round(float(np.max(recent_vals)), 6),
        recent_max_at=datetime.fromtimestamp(peak_at, tz=UTC),
        recent_min=round(float(np.min(recent_vals)), 6),
        slope_per_hour=round(slope, 6) if slope is not None else None,
        samples=int(finite.sum()),
    )


def compute_signals(
    metrics: MetricsSource,
    catalog: SignalCatalog,
    *,
    services: Iterable[str],
    hosts: Iterable[str],
    window: Window,
) -> tuple[list[SignalReading], list[SourceStatus]]:
    """Read every catalog signal for the entities in scope; one query per signal."""
    by_scope = {"service": sorted(set(services)), "host": sorted(set(hosts))}
    grid = window.grid()
    step = window.step.total_seconds()
    readings: list[SignalReading] = []
    statuses: list[SourceStatus] = []
    for spec in catalog.specs():
        entities = by_scope[spec.scope]
        if not entities:
            continue
        query = render(spec.selector, entities)
        result = metrics.query_range(query, window.start, window.now, window.step)
        denominator: QueryResult | None = None
        if spec.denominator is not None and result.ok:
            denominator = metrics.query_range(
                render(spec.denominator, entities), window.start, window.now, window.step
            )
        failure = result.error or (denominator.error if denominator else None)
        warnings = (*result.warnings, *(denominator.warnings if denominator else ()))
        statuses.append(
            SourceStatus(
                name=f"metrics:{spec.name}",
                ok=failure is None and not warnings,
                reason=failure or "; ".join(warnings),
            )
        )
        if failure is not None:
            continue
        if spec.transform == "each":
            readings += series_readings(
                result, services=entities, grid=grid, step=step, now=window.now, source=query
            )
            continue
        numer = aligned(result, spec, grid, step)
        if denominator is not None:
            denom = aligned(denominator, spec, grid, step)
            ratios: dict[tuple[str, str], FloatArray] = {}
            for key, arr in numer.items():
                den = denom.get(key, denom.get((key[0], "")))
                if den is None:
                    continue
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratios[key] = np.where(den > 0, arr / den, np.nan)
            numer = ratios
        grouped: dict[str, list[tuple[str, FloatArray]]] = {}
        for (entity, join), arr in sorted(numer.items()):
            if spec.transform == "increase":
                arr = _increase(arr)
            elif spec.transform == "until":
                arr = (arr - grid) / 86400.0
            grouped.setdefault(entity, []).append((join, arr))
        for entity in entities:
            parts = grouped.get(entity)
            if not parts:
                continue
            folded, decider = _fold([a for _, a in parts], spec.reduce)
            reading = _stats(spec, entity, folded, grid, window)
            if reading is None:
                continue
            join = parts[decider][0]
            detail = f"{spec.join_label}={join}" if spec.join_label and join else reading.detail
            readings.append(reading.model_copy(update={"source": query, "detail": detail}))
    return readings, statuses
