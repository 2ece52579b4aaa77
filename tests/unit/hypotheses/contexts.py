"""Crafted context snapshots: a topology, a few moved signals, alerts and changes.

Every service in the topology gets healthy readings unless a test moves one,
so each test states only what is unusual about its incident.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.enrichment.topology import build_neighbourhood
from shared.models.analysis import (
    AlertBrief,
    ChangeRecord,
    ContextSnapshot,
    Precedent,
    SignalReading,
)
from shared.models.tenant import Service, Topology

NOW = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)

HEALTHY = {
    "request_rate": 200.0,
    "error_ratio": 0.002,
    "latency_p99": 0.2,
    "cpu": 0.35,
    "memory": 0.4,
    "restarts": 0.0,
}
SPREAD_FLOOR = {"error_ratio": 0.002, "cpu": 0.02, "memory": 0.02, "restarts": 0.5}


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def reading(
    entity: str,
    signal: str,
    current: float,
    *,
    baseline: float | None = None,
    onset: float | None = None,
    scope: str = "service",
    prior: float | None = None,
    recent_max: float | None = None,
    slope: float | None = None,
    detail: str = "",
) -> SignalReading:
    """A reading with its deviation computed the way ``enrichment.signals`` does."""
    base = HEALTHY.get(signal, current) if baseline is None else baseline
    spread = max(abs(base) * 0.05, SPREAD_FLOOR.get(signal, 1e-3))
    return SignalReading(
        signal=signal,
        entity=entity,
        scope=scope,  # type: ignore[arg-type]
        source=f"{signal}{{entity={entity!r}}}",
        baseline=base,
        spread=spread,
        current=current,
        deviation=(current - base) / spread,
        ratio=current / base if base else None,
        onset=ago(onset) if onset is not None else None,
        prior=prior,
        recent_max=recent_max if recent_max is not None else max(current, base),
        recent_min=min(current, base),
        slope_per_hour=slope,
        detail=detail,
        samples=361,
    )


@dataclass
class Incident:
    """A builder for one crafted incident."""

    services: dict[str, tuple[list[str], list[str]]]
    """name -> (depends_on, hosts)"""
    moved: list[SignalReading] = field(default_factory=list)
    alerts: list[AlertBrief] = field(default_factory=list)
    changes: list[ChangeRecord] = field(default_factory=list)
    precedents: list[Precedent] = field(default_factory=list)
    history_size: int = 0
    started: float = 2.0
    asynchronous: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """name -> the dependencies it calls without waiting (topology ``async_calls``)."""

    def alert(
        self,
        name: str,
        *,
        service: str | None = None,
        instance: str | None = None,
        minutes: float = 2.0,
        severity: str = "critical",
        recent: bool = True,
    ) -> Incident:
        self.alerts.append(
            AlertBrief(
                fingerprint=f"fp-{name}-{service or instance}",
                name=name,
                status="firing",
                severity=severity,
                service=service,
                instance=instance,
                summary=f"{name} on {service or instance}",
                starts_at=ago(minutes),
                recent=recent,
            )
        )
        return self

    def change(
        self, kind: str, service: str, minutes: float, *, version: str | None = None
    ) -> Incident:
        self.changes.append(
            ChangeRecord(
                id=f"chg-{service}-{minutes}",
                kind=kind,
                service=service,
                at=ago(minutes),
                version=version,
                description=f"{kind} of {service}",
                minutes_before_onset=minutes - self.started,
            )
        )
        return self

    def move(self, *readings: SignalReading) -> Incident:
        self.moved.extend(readings)
        return self

    def snapshot(self) -> ContextSnapshot:
        topology = Topology(
            services=tuple(
                Service(
                    name=n,
                    depends_on=tuple(d),
                    async_calls=self.asynchronous.get(n, ()),
                    instances=tuple(h),
                )
                for n, (d, h) in self.services.items()
            )
        )
        focus_s = [a.service for a in self.alerts if a.recent and a.service]
        focus_h = [a.instance for a in self.alerts if a.recent and a.instance]
        hood = build_neighbourhood(topology, focus_services=focus_s, focus_hosts=focus_h)
        given = {(r.entity, r.signal) for r in self.moved}
        healthy: list[SignalReading] = []
        for name in self.services:
            for signal, value in HEALTHY.items():
                if (name, signal) not in given:
                    healthy.append(reading(name, signal, value))
        hosts = sorted({h for _, hs in self.services.values() for h in hs})
        for host in hosts:
            if (host, "up") not in given:
                healthy.append(reading(host, "up", 1.0, scope="host"))
            if (host, "disk_free") not in given:
                healthy.append(reading(host, "disk_free", 0.4, scope="host", detail="mountpoint=/"))
        return ContextSnapshot(
            tenant_id="acme",
            incident_id="inc-test",
            now=NOW,
            started_at=ago(self.started),
            alerts=tuple(self.alerts),
            changes=tuple(self.changes),
            neighbourhood=hood,
            signals=(*self.moved, *healthy),
            precedents=tuple(self.precedents),
            history_size=self.history_size,
        )


def chain() -> dict[str, tuple[list[str], list[str]]]:
    """web -> api -> db; api and worker share db; everything calls resolver."""
    return {
        "web": (["api", "resolver"], ["h1"]),
        "api": (["db", "resolver"], ["h2"]),
        "worker": (["db", "resolver"], ["h3"]),
        "db": ([], ["h4"]),
        "resolver": ([], ["h5"]),
    }


def degraded(service: str, minutes: float, error: float = 0.25) -> SignalReading:
    return reading(service, "error_ratio", error, onset=minutes)


def names(found: Iterable[object]) -> set[tuple[str, str]]:
    return {(c.category.value, c.target) for c in found}  # type: ignore[attr-defined]
