"""Impact: how much an incident costs users, from evidence, with the reasons.

An alert's own severity label says how its author felt when writing the rule,
not what is happening now. The impact score reads the incident's context
snapshot instead::

    exposure   how close to users the services hit are: tier 1 (what users
               touch) 1.0, tier 2 0.6, tier 3 0.35, unknown 0.5
    harm       the worst of: the share of requests failing (full at 10%);
               p99 latency against its usual level (full at 5x) or its SLO;
               the error-budget burn rate where an SLO is given (full at
               14.4x, the fast-burn page of the Google SRE workbook: 2% of a
               30-day budget in one hour). With nothing measured, the alerts'
               severity stands in for it, and the reasons say so
    spread     services and hosts it spans (log scale, full at 15)
    growth     growing (the failing share still at its peak and rising, or
               alerts still arriving), steady, or easing

    score = 100 x (0.6 exposure x harm + 0.2 spread + 0.2 growth)

Services hit are the alerting ones, those on alerting hosts, and any service in
scope whose error ratio or p99 latency left its baseline upwards. The score
orders ``/sre status`` and sets the message's urgency line ("affects checkout
(tier 1): 12% of requests failing, growing"). It is a pure function of the
snapshot, so the same storm replayed twice gives the same order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from shared import formatting
from shared.models.analysis import ContextSnapshot, ServiceNode, SignalReading

Level = Literal["critical", "high", "medium", "low"]
Trend = Literal["growing", "steady", "easing"]

TIER_EXPOSURE: Mapping[int, float] = {1: 1.0, 2: 0.6, 3: 0.35}
UNKNOWN_EXPOSURE = 0.5
FULL_ERROR_SHARE = 0.10
FULL_SLOWDOWN = 5.0
PAGE_BURN = 14.4
FULL_SPREAD = 15
SEVERITY_HARM: Mapping[str, float] = {"critical": 0.5, "warning": 0.25, "info": 0.05}
DEGRADED_Z = 4.0
"""Robust z above which a service's error ratio or latency counts as hit."""
RECENT_ALERTS = timedelta(minutes=10)
GROWTH: Mapping[Trend, float] = {"growing": 1.0, "steady": 0.4, "easing": 0.1}
LEVELS: tuple[tuple[float, Level], ...] = ((60.0, "critical"), (40.0, "high"), (20.0, "medium"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceHarm:
    """What the measurements say of one service hit."""

    service: str
    tier: int | None
    exposure: float
    error_share: float | None = None
    slowdown: float | None = None
    """p99 latency over its usual level."""
    latency: float | None = None
    burn_rate: float | None = None
    availability: float | None = None
    latency_objective: float | None = None

    @property
    def harm(self) -> float:
        parts = [0.0]
        if self.error_share is not None:
            parts.append(min(1.0, self.error_share / FULL_ERROR_SHARE))
        if self.slowdown is not None:
            parts.append(min(1.0, max(0.0, (self.slowdown - 1.0) / (FULL_SLOWDOWN - 1.0))))
        if self.latency is not None and self.latency_objective:
            parts.append(min(1.0, max(0.0, self.latency / self.latency_objective - 1.0)))
        if self.burn_rate is not None:
            parts.append(min(1.0, self.burn_rate / PAGE_BURN))
        return max(parts)

    @property
    def measured(self) -> bool:
        return any(v is not None for v in (self.error_share, self.slowdown, self.burn_rate))


@dataclass(frozen=True, slots=True, kw_only=True)
class Impact:
    score: float
    level: Level
    urgency: str
    """One line for the message: who is affected, how badly, which way it goes."""
    reasons: tuple[str, ...]
    trend: Trend
    services: tuple[str, ...]
    hosts: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "level": self.level,
            "urgency": self.urgency,
            "reasons": list(self.reasons),
            "trend": self.trend,
            "services": list(self.services),
            "hosts": list(self.hosts),
        }


def _exposure(node: ServiceNode | None) -> float:
    if node is None or node.tier is None:
        return UNKNOWN_EXPOSURE
    return TIER_EXPOSURE.get(node.tier, TIER_EXPOSURE[3] if node.tier > 3 else 1.0)


def _readings(snapshot: ContextSnapshot) -> dict[tuple[str, str], SignalReading]:
    return {
        (r.signal, r.entity): r
        for r in snapshot.signals
        if r.scope == "service" and r.current is not None and math.isfinite(r.current)
    }


def _degraded(reading: SignalReading | None) -> bool:
    return reading is not None and reading.deviation >= DEGRADED_Z


def services_hit(snapshot: ContextSnapshot) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The services and hosts the incident touches, sorted."""
    hood = snapshot.neighbourhood
    readings = _readings(snapshot)
    services = {a.service for a in snapshot.alerts if a.service and a.status != "resolved"}
    hosts = {a.instance for a in snapshot.alerts if a.instance and a.status != "resolved"}
    services |= set(hood.focus_services)
    hosts |= set(hood.focus_hosts)
    for host in hosts:
        services |= set(hood.hosts.get(host, ()))
    for name in hood.scope_services:
        if _degraded(readings.get(("error_ratio", name))) or _degraded(
            readings.get(("latency_p99", name))
        ):
            services.add(name)
    return tuple(sorted(services)), tuple(sorted(hosts))


def _harm_of(
    service: str, node: ServiceNode | None, readings: Mapping[tuple[str, str], SignalReading]
) -> ServiceHarm:
    errors = readings.get(("error_ratio", service))
    latency = readings.get(("latency_p99", service))
    slo = node.slo if node is not None else None
    error_share = (
        min(1.0, max(0.0, errors.current))
        if errors is not None and errors.current is not None
        else None
    )
    usual = None
    if latency is not None:
        usual = latency.prior if latency.prior and latency.prior > 0 else latency.baseline
    slowdown = (
        latency.current / usual
        if latency is not None and latency.current is not None and usual and usual > 0
        else None
    )
    burn = (
        error_share / (1.0 - slo.availability)
        if slo is not None and slo.availability is not None and error_share is not None
        else None
    )
    return ServiceHarm(
        service=service,
        tier=node.tier if node is not None else None,
        exposure=_exposure(node),
        error_share=error_share,
        slowdown=slowdown,
        latency=latency.current if latency is not None else None,
        burn_rate=burn,
        availability=slo.availability if slo is not None else None,
        latency_objective=slo.latency_p99_seconds if slo is not None else None,
    )


def _trend(snapshot: ContextSnapshot, worst: ServiceHarm | None) -> Trend:
    readings = _readings(snapshot)
    if worst is not None:
        errors = readings.get(("error_ratio", worst.service))
        if errors is not None and errors.current is not None and errors.recent_max:
            if errors.current < 0.6 * errors.recent_max:
                return "easing"
            if errors.current >= 0.9 * errors.recent_max and (errors.slope_per_hour or 0.0) > 0:
                return "growing"
    firing = [a for a in snapshot.alerts if a.status != "resolved"]
    if firing and any(snapshot.now - a.starts_at <= RECENT_ALERTS for a in firing):
        older = [a for a in firing if snapshot.now - a.starts_at > RECENT_ALERTS]
        if older:  # new alerts joining an incident already under way
            return "growing"
    if snapshot.alerts and not firing:
        return "easing"
    return "steady"


def _spread(services: Iterable[str], hosts: Iterable[str]) -> float:
    count = len(set(services)) + len(set(hosts))
    return min(1.0, math.log2(1 + count) / math.log2(1 + FULL_SPREAD))


def _level(score: float) -> Level:
    return next((level for floor, level in LEVELS if score >= floor), "low")


def _what(h: ServiceHarm) -> list[str]:
    parts = []
    if h.error_share is not None and h.error_share >= 0.001:
        parts.append(f"{formatting.percent(h.error_share)} of requests failing")
    if h.latency is not None and h.slowdown is not None and h.slowdown >= 1.5:
        parts.append(
            f"p99 {formatting.quantity(h.latency, 's')} ({formatting.number(h.slowdown)}x usual)"
        )
    if h.burn_rate is not None and h.burn_rate >= 1.0 and h.availability is not None:
        parts.append(
            f"error budget burning {formatting.number(h.burn_rate)}x "
            f"(SLO {formatting.percent(h.availability)})"
        )
    return parts


def assess(snapshot: ContextSnapshot) -> Impact:
    """The incident's impact from its context snapshot (pure, deterministic)."""
    hood = snapshot.neighbourhood
    services, hosts = services_hit(snapshot)
    readings = _readings(snapshot)
    harms = [_harm_of(s, hood.services.get(s), readings) for s in services]
    measured = [h for h in harms if h.measured]
    reasons: list[str] = []
    worst: ServiceHarm | None = None
    if measured:
        worst = max(measured, key=lambda h: (h.exposure * h.harm, h.exposure, h.service))
        user_harm = worst.exposure * worst.harm
    else:
        labels = [a.severity for a in snapshot.alerts if a.status != "resolved"]
        harm = max((SEVERITY_HARM.get(s, 0.25) for s in labels), default=0.0)
        exposure = max((h.exposure for h in harms), default=UNKNOWN_EXPOSURE)
        user_harm = exposure * harm
        reasons.append("nothing measured: the alerts' severity stands in for the harm")
    trend = _trend(snapshot, worst)
    spread = _spread(services, hosts)
    growth = GROWTH[trend] * (1.0 if user_harm > 0 else 0.5)
    score = round(100.0 * (0.6 * user_harm + 0.2 * spread + 0.2 * growth), 1)

    where = "unknown service"
    if worst is not None:
        tier = f" (tier {worst.tier})" if worst.tier is not None else ""
        where = f"{worst.service}{tier}"
        reasons.append(
            f"{where}: exposure {formatting.number(worst.exposure)}, "
            f"harm {formatting.number(worst.harm)}"
        )
    elif services:
        best = max(harms, key=lambda h: (h.exposure, h.service))
        tier = f" (tier {best.tier})" if best.tier is not None else ""
        where = f"{best.service}{tier}"
    reasons.append(f"spans {len(services)} service(s) and {len(hosts)} host(s)")
    reasons.append(f"trend: {trend}")
    details = _what(worst) if worst is not None else []
    scale = f"{len(services)} services" if len(services) > 1 else ""
    urgency = f"affects {where}" + (": " + ", ".join(details) if details else "")
    urgency += "".join(f", {part}" for part in (scale, trend) if part)
    return Impact(
        score=score,
        level=_level(score),
        urgency=urgency,
        reasons=tuple(reasons),
        trend=trend,
        services=services,
        hosts=hosts,
    )


def order_key(impact_score: float | None, first_seen: str, incident_id: str) -> tuple[Any, ...]:
    """Highest impact first; ties (and incidents not yet assessed) by age, then id."""
    return (-(impact_score if impact_score is not None else -1.0), first_seen, incident_id)
