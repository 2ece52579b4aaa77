"""What every detector needs to ask of a context, computed once.

Detectors reason in the SRE's terms: is this service degraded, since when,
what does it call, who calls it, what runs on this host, did the cause come
before its effects. ``Facts`` answers those questions over a
``ContextSnapshot``; the thresholds that say "degraded" live here, once, so
that every detector agrees on them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from shared import formatting
from shared.models.analysis import AlertBrief, ContextSnapshot, ServiceNode, SignalReading
from shared.models.hypothesis import Evidence, EvidenceKind
from shared.models.tenant import waits_for

TOLERANCE_MIN = 2.0
"""Onsets this close (minutes) count as simultaneous: samples are a minute apart."""

SEVERITY_WEIGHT = {"critical": 0.9, "warning": 0.6, "info": 0.3}


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def minutes(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60.0


def precedence(cause: datetime | None, effect: datetime | None, *, horizon: float = 60.0) -> float:
    """How well "cause, then effect" holds: 1 for a short lead, low when reversed.

    Simultaneous onsets (within the sampling tolerance) are plausible but not
    proof; a lead longer than ``horizon`` minutes fades, because the longer the
    gap the likelier something else happened in between.
    """
    if cause is None or effect is None:
        return 0.3
    lead = minutes(effect, cause)
    if lead < -TOLERANCE_MIN:
        return clamp(0.25 + lead / 60.0, 0.05, 0.25)
    if lead <= 0:
        return 0.65
    if lead <= horizon:
        return 0.75 + 0.25 * min(1.0, lead / 5.0)
    return clamp(1.0 - 0.7 * (lead - horizon) / horizon, 0.3, 1.0)


@dataclass(frozen=True, slots=True)
class Symptom:
    """A service visibly hurting: since when, how badly, and which readings show it."""

    service: str
    onset: datetime
    severity: float
    readings: tuple[SignalReading, ...]

    def describe(self) -> str:
        return ", ".join(describe(r) for r in self.readings)


def describe(reading: SignalReading) -> str:
    """``error ratio of auth 0.2% → 38%`` in a form an SRE reads at a glance."""
    cur, base = reading.current, reading.baseline
    if cur is None or base is None:
        return f"{reading.signal} of {reading.entity}: no data"
    name = reading.signal.replace("_", " ")
    text = f"{name} of {reading.entity} {formatting.change(base, cur, reading.unit)}"
    if reading.unit.startswith("ratio ") and reading.unit != "ratio":
        text += f" {reading.unit.removeprefix('ratio ')}"
    if reading.detail:
        text += f" ({reading.detail})"
    return text


def error_severity(reading: SignalReading | None) -> float:
    if reading is None or reading.current is None or reading.baseline is None:
        return 0.0
    delta = reading.current - reading.baseline
    if delta < 0.01 or reading.deviation < 5:
        return 0.0
    return clamp(1.0 - math.exp(-delta / 0.08))


def latency_severity(reading: SignalReading | None) -> float:
    if reading is None or reading.ratio is None or reading.deviation < 5:
        return 0.0
    if reading.ratio < 1.25:
        return 0.0
    return clamp(math.log(reading.ratio) / math.log(4.0))


def probe_severity(reading: SignalReading | None) -> float:
    if reading is None or reading.current is None or reading.baseline is None:
        return 0.0
    return 1.0 if reading.baseline >= 0.9 and reading.current <= 0.5 else 0.0


def drop_severity(reading: SignalReading | None) -> float:
    """Requests that stopped arriving: clients cannot reach the service."""
    if reading is None or reading.ratio is None or reading.deviation > -5:
        return 0.0
    return clamp((0.7 - reading.ratio) / 0.5) * 0.8


@dataclass
class Facts:
    """Lookups over one context snapshot."""

    ctx: ContextSnapshot
    _readings: dict[tuple[str, str], SignalReading] = field(default_factory=dict)
    _symptoms: dict[str, Symptom | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for reading in self.ctx.signals:
            self._readings[(reading.entity, reading.signal)] = reading

    @property
    def now(self) -> datetime:
        return self.ctx.now

    @property
    def started_at(self) -> datetime:
        return self.ctx.started_at

    def reading(self, entity: str, signal: str) -> SignalReading | None:
        return self._readings.get((entity, signal))

    def readings(self, signal: str) -> list[SignalReading]:
        return [r for (_, s), r in sorted(self._readings.items()) if s == signal]

    # topology -------------------------------------------------------------

    def node(self, service: str) -> ServiceNode | None:
        return self.ctx.neighbourhood.services.get(service)

    def services(self) -> list[str]:
        known = set(self.ctx.neighbourhood.services) | set(self.ctx.neighbourhood.scope_services)
        return sorted(known)

    def depends_on(self, service: str) -> tuple[str, ...]:
        node = self.node(service)
        return node.depends_on if node else ()

    def callers(self, service: str) -> tuple[str, ...]:
        node = self.node(service)
        return node.callers if node else ()

    def hosts_of(self, service: str) -> tuple[str, ...]:
        node = self.node(service)
        return node.instances if node else ()

    def services_on(self, host: str) -> tuple[str, ...]:
        return self.ctx.neighbourhood.hosts.get(host, ())

    def hosts(self) -> list[str]:
        known = set(self.ctx.neighbourhood.hosts) | set(self.ctx.neighbourhood.scope_hosts)
        return sorted(known)

    def waiting_callers(self, service: str) -> tuple[str, ...]:
        """Its callers that wait for it (not calling it in their ``async_calls``)."""
        return tuple(
            c
            for c in self.callers(service)
            if (node := self.node(c)) is None or service in waits_for(node)
        )

    def upstream_of(self, service: str, depth: int = 4) -> set[str]:
        """Everything that (transitively) waits on ``service``: what its delays and
        failures reach (a caller that does not wait for it sees neither)."""
        seen: set[str] = set()
        frontier = {service}
        for _ in range(depth):
            frontier = {c for s in frontier for c in self.waiting_callers(s)} - seen - {service}
            seen |= frontier
        return seen

    # symptoms -------------------------------------------------------------

    def symptom(self, service: str) -> Symptom | None:
        """The service's visible degradation (errors, latency, probe, lost traffic)."""
        if service not in self._symptoms:
            self._symptoms[service] = self._compute_symptom(service)
        return self._symptoms[service]

    def _compute_symptom(self, service: str) -> Symptom | None:
        parts: list[tuple[float, SignalReading]] = []
        for signal, judge in (
            ("error_ratio", error_severity),
            ("latency_p99", latency_severity),
            ("probe_success", probe_severity),
            ("request_rate", drop_severity),
        ):
            reading = self.reading(service, signal)
            severity = judge(reading)
            if reading is not None and severity > 0:
                parts.append((severity, reading))
        if not parts:
            return None
        onsets = [r.onset for _, r in parts if r.onset is not None]
        onset = min(onsets) if onsets else self.started_at
        severity = max(s for s, _ in parts)
        ordered = tuple(r for _, r in sorted(parts, key=lambda p: (-p[0], p[1].signal)))
        return Symptom(service=service, onset=onset, severity=severity, readings=ordered)

    def degraded(self) -> list[Symptom]:
        found = [self.symptom(s) for s in self.services()]
        return sorted((s for s in found if s is not None), key=lambda s: (s.onset, s.service))

    def degraded_dependency_before(
        self, service: str, onset: datetime, *, exclude: Iterable[str] = ()
    ) -> Symptom | None:
        """A dependency ``service`` waits for that was already degraded by ``onset`` (one
        it does not wait for cannot have passed its trouble on)."""
        best: Symptom | None = None
        node = self.node(service)
        skip = set(exclude)
        for dep in waits_for(node) if node else ():
            if dep in skip:
                continue
            sym = self.symptom(dep)
            if sym is None or minutes(sym.onset, onset) > TOLERANCE_MIN:
                continue
            if best is None or (sym.onset, -sym.severity) < (best.onset, -best.severity):
                best = sym
        return best

    def affected_callers(self, service: str, onset: datetime | None = None) -> list[Symptom]:
        """Degraded (transitive) callers whose trouble began no earlier than ``onset``."""
        out = []
        for caller in sorted(self.upstream_of(service)):
            sym = self.symptom(caller)
            if sym is None:
                continue
            if onset is None or minutes(sym.onset, onset) >= -TOLERANCE_MIN:
                out.append(sym)
        return out

    def earliest(self, symptoms: Iterable[Symptom]) -> datetime | None:
        return min((s.onset for s in symptoms), default=None)

    # alerts ---------------------------------------------------------------

    def alerts_naming(self, entity: str) -> list[AlertBrief]:
        return [a for a in self.ctx.alerts if a.recent and entity in (a.service, a.instance)]

    def alert_evidence(self, entity: str) -> list[Evidence]:
        return [
            Evidence(
                kind=EvidenceKind.ALERT,
                summary=a.summary if a.summary.startswith(a.name) else f"{a.name}: {a.summary}",
                source=a.fingerprint,
                at=a.starts_at,
                strength=SEVERITY_WEIGHT.get(a.severity, 0.5),
            )
            for a in self.alerts_naming(entity)
        ]

    def focus_symptoms(self) -> list[Symptom]:
        """Degradation of what alerted (services, and services on alerting hosts)."""
        names = set(self.ctx.neighbourhood.focus_services)
        for host in self.ctx.neighbourhood.focus_hosts:
            names |= set(self.services_on(host))
        found = [self.symptom(s) for s in sorted(names)]
        return [s for s in found if s is not None]

    def coverage_of(self, symptoms: Iterable[Symptom]) -> float:
        """Share of the incident's degraded services that ``symptoms`` account for."""
        degraded = {s.service for s in self.degraded()}
        if not degraded:
            return 0.0
        return len(degraded & {s.service for s in symptoms}) / len(degraded)


def metric_evidence(
    reading: SignalReading, strength: float, summary: str | None = None
) -> Evidence:
    return Evidence(
        kind=EvidenceKind.METRIC,
        summary=summary or describe(reading),
        source=reading.source,
        at=reading.onset,
        strength=clamp(strength),
    )


def temporal_evidence(
    summary: str, strength: float, at: datetime | None, *, effect: str = ""
) -> Evidence:
    """``effect`` names the service whose onset the cause was compared with."""
    return Evidence(
        kind=EvidenceKind.TEMPORAL,
        summary=summary,
        source=f"onset:{effect}" if effect else "",
        at=at,
        strength=clamp(strength),
    )


def hhmm(moment: datetime | None) -> str:
    return moment.strftime("%H:%M") if moment else "?"
