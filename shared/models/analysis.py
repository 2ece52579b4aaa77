"""The context snapshot: everything the detectors reason over, as one JSON document.

Context assembly is the only step that talks to sources (metrics, change feed,
history); it condenses what it found into this snapshot so that candidate
generation and scoring are pure functions of it and can run as separate
Durable activities. A source that failed is recorded in ``sources`` rather
than raised, so the analysis carries on and reports wider confidence ranges.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.models.base import Model, UtcDatetime
from shared.models.tenant import Slo

CONTEXT_SCHEMA = "context@1"

Scope = Literal["service", "host"]

NO_METRICS_SOURCE = "no metrics source"
"""The reason of the ``metrics`` source when the tenant has none configured."""
NO_METRICS_GAP = "no metrics source configured"
"""How ``ContextSnapshot.evidence_gaps`` names that."""


class AlertBrief(Model):
    """An alert of the incident, with whether it belongs to the incident's onset."""

    fingerprint: str
    name: str
    status: str
    severity: str
    service: str | None = None
    instance: str | None = None
    summary: str = ""
    source: str = ""
    starts_at: UtcDatetime
    recent: bool = True
    """Firing and started within the incident window (not a standing or resolved one)."""


class ChangeRecord(Model):
    """A change made shortly before the incident."""

    id: str
    kind: str
    service: str
    at: UtcDatetime
    version: str | None = None
    previous_version: str | None = None
    description: str = ""
    author: str | None = None
    minutes_before_onset: float
    """Minutes from the change to the incident's first alert (positive: before)."""


class ServiceNode(Model):
    name: str
    depends_on: tuple[str, ...] = ()
    async_calls: tuple[str, ...] = ()
    """Those of ``depends_on`` it does not wait for (see ``tenant.Service``)."""
    callers: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()
    tier: int | None = None
    slo: Slo | None = None


class Neighbourhood(Model):
    """The topology around the incident: who calls whom and what runs where."""

    services: dict[str, ServiceNode] = {}
    hosts: dict[str, tuple[str, ...]] = {}
    """Host -> the services that run on it."""
    focus_services: tuple[str, ...] = ()
    focus_hosts: tuple[str, ...] = ()
    scope_services: tuple[str, ...] = ()
    scope_hosts: tuple[str, ...] = ()


class SignalReading(Model):
    """One signal of one service or host: its baseline, where it is now, since when.

    ``deviation`` is the robust z-score ``(current - baseline) / spread`` with
    ``spread`` the scaled MAD (floored so flat baselines do not explode);
    ``onset`` is when the signal last left its baseline for good.
    """

    signal: str
    entity: str
    scope: Scope
    unit: str = ""
    source: str = ""
    """The query that produced it."""
    baseline: float | None = None
    spread: float | None = None
    current: float | None = None
    deviation: float = 0.0
    ratio: float | None = None
    onset: UtcDatetime | None = None
    prior: float | None = None
    """The level just before the onset (median of the 30 to 10 minutes before it):
    what the signal changed *from*, even when the baseline has drifted since."""
    recent_max: float | None = None
    recent_max_at: UtcDatetime | None = None
    """When ``recent_max`` was sampled (its latest time): a peak long past is not news."""
    recent_min: float | None = None
    slope_per_hour: float | None = None
    detail: str = ""
    samples: int = 0

    @property
    def missing(self) -> bool:
        return self.current is None

    @property
    def step_ratio(self) -> float | None:
        """``current`` over the level before the onset, else over the baseline."""
        if self.current is None:
            return None
        if self.prior is not None and abs(self.prior) > 1e-12:
            return self.current / self.prior
        return self.ratio


class PastIncident(Model):
    """A resolved incident of the tenant, as ``history.json`` and the store keep it."""

    id: str = Field(min_length=1)
    title: str = ""
    service: str | None = None
    category: str | None = None
    target: str | None = None
    started_at: UtcDatetime | None = None
    resolved_at: UtcDatetime | None = None
    summary: str = ""
    resolution: str = ""
    runbook: str | None = None


class Precedent(Model):
    """How often a (category, target) was the root cause of a resolved incident."""

    category: str
    target: str
    count: int = Field(ge=1)


class SimilarIncident(Model):
    id: str
    score: float = Field(ge=0.0, le=1.0)
    title: str = ""
    category: str | None = None
    target: str | None = None
    runbook: str | None = None


class SourceStatus(Model):
    """Whether a source answered, and why not when it did not."""

    name: str
    ok: bool
    reason: str = ""


class ContextSnapshot(Model):
    schema_: str = Field(default=CONTEXT_SCHEMA, alias="schema")
    tenant_id: str
    incident_id: str
    title: str = ""
    now: UtcDatetime
    started_at: UtcDatetime
    alerts: tuple[AlertBrief, ...] = ()
    changes: tuple[ChangeRecord, ...] = ()
    neighbourhood: Neighbourhood = Neighbourhood()
    signals: tuple[SignalReading, ...] = ()
    precedents: tuple[Precedent, ...] = ()
    history_size: int = 0
    similar_incidents: tuple[SimilarIncident, ...] = ()
    sources: tuple[SourceStatus, ...] = ()

    @property
    def metric_coverage(self) -> float:
        """Share of metric queries that answered in full (1.0 when none were needed;
        0.0 without a metrics source: every query that would have been made is missing)."""
        if any(s.name == "metrics" and not s.ok for s in self.sources):
            return 0.0
        metric = [s for s in self.sources if s.name.startswith("metrics:")]
        if not metric:
            return 1.0
        return sum(1 for s in metric if s.ok) / len(metric)

    @property
    def metrics_configured(self) -> bool:
        return not any(s.name == "metrics" and s.reason == NO_METRICS_SOURCE for s in self.sources)

    def evidence_gaps(self) -> tuple[str, ...]:
        """What the analysis had to go without, in the SRE's words (empty: nothing).

        A missing metrics source (not configured, or not answering), no
        topology for what alerted, and no change in the lookback window are
        each a reason a root cause may not stand out.
        """
        gaps: list[str] = []
        for source in self.sources:
            if source.name == "metrics" and not source.ok:
                gaps.append(
                    NO_METRICS_GAP
                    if source.reason == NO_METRICS_SOURCE
                    else f"metrics source not reachable ({source.reason or 'no answer'})"
                )
        queries = [s for s in self.sources if s.name.startswith("metrics:")]
        failed = sum(1 for s in queries if not s.ok)
        if queries and failed == len(queries):
            gaps.append("metrics source not reachable (no query answered)")
        elif failed:
            gaps.append(f"{failed} of {len(queries)} metric queries unanswered")
        nodes = self.neighbourhood.services
        if not nodes:
            gaps.append("no service topology")
        else:
            unknown = [s for s in self.neighbourhood.focus_services if s not in nodes]
            if unknown:
                gaps.append(f"no topology for {', '.join(unknown[:3])}")
        if not self.changes:
            gaps.append("no changes in the lookback window")
        return tuple(gaps)


class IncidentAnalysis(Model):
    """What the analysis of an incident decided, stored with it.

    Every later message, click, resolution and calibration reads this (through
    ``shared.incidents.stored_analysis``), so each sees exactly what was
    decided, with the formula version it was decided under.
    """

    incident_id: str
    hypotheses: tuple[dict[str, Any], ...] = ()
    """Ranked, as ``score_candidates`` returned them (with their factors)."""
    runbooks: tuple[dict[str, Any], ...] = ()
    similar_incidents: tuple[dict[str, Any], ...] = ()
    llm: dict[str, Any] = Field(default_factory=lambda: {"status": "disabled"})
    """The proposer's outcome: status, error, dropped, tokens, cached, explanation."""
    model_version: str = ""
    at: UtcDatetime | None = None
    missing: tuple[str, ...] = ()
    """The parts of the analysis the orchestration could not get."""
    unconfigured: tuple[Literal["metrics", "runbooks"], ...] = ()
    """Sources the tenant has not set up: not failures, but the message says so."""
    impact: dict[str, Any] | None = None
    """What the incident costs users (``shared.triage.impact.Impact.to_json``)."""
    anomalies: tuple[dict[str, Any], ...] = ()
    """Deviating signals the anomaly sweep filed with the incident (``shared.anomaly``)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON form renderers and calibration read."""
        return self.model_dump(mode="json")
