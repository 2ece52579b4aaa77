"""The weekly report as a value: one section per source, each saying what it could not read.

Every section carries ``missing``: why part of it is absent (no metrics
source, a query that failed, a store that did not answer). A section with
reasons is still a section; a report is never refused for a missing source.
``WeeklyReport.to_json`` is what ``report --json`` prints: plain JSON, times in
UTC ISO, NaN as null; the hourly curves behind the charts stay out of it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from shared.models.base import iso
from shared.report.week import Week

SKIP = {"json": False}
"""Field metadata: left out of ``to_json`` (chart data)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One figure this week beside last week's."""

    this_week: float | None
    last_week: float | None

    @property
    def change(self) -> float | None:
        """Relative change (0.25: up a quarter); None without both weeks or from zero."""
        if self.this_week is None or self.last_week is None or self.last_week == 0:
            return None
        return (self.this_week - self.last_week) / abs(self.last_week)


@dataclass(frozen=True, slots=True)
class Curve:
    """Hourly means of one signal of one service, for the charts."""

    service: str
    signal: str
    this_week: tuple[float, ...]
    last_week: tuple[float, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceTrend:
    service: str
    requests: Change
    """Requests served in the week (mean rate times the week's length)."""
    error_ratio: Change
    """Share of requests failing, weighted by traffic."""
    latency_p99: Change
    """Typical p99 latency (median of the week's samples), seconds."""
    coverage: float
    """Share of the week with request-rate samples."""
    notes: tuple[str, ...] = ()
    """What moved enough to say: "traffic up 32%", "errors 3x last week"."""


@dataclass(frozen=True, slots=True)
class TrafficSection:
    services: tuple[ServiceTrend, ...] = ()
    curves: tuple[Curve, ...] = field(default=(), metadata=SKIP)
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Headroom:
    """One filesystem: how full, how fast, and when (if ever) it runs out."""

    where: str
    size_bytes: float | None
    free_bytes: float | None
    free_week_ago: float | None
    status: str
    hours_left: float | None
    range_hours: tuple[float | None, float | None] | None
    headline: str

    @property
    def used_share(self) -> float | None:
        if not self.size_bytes or self.free_bytes is None:
            return None
        return 1.0 - self.free_bytes / self.size_bytes


@dataclass(frozen=True, slots=True)
class CapacitySection:
    filesystems: tuple[Headroom, ...] = ()
    horizon_h: float = 48.0
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NoisyAlert:
    name: str
    count: int
    services: tuple[str, ...]
    incidents: int
    median_duration_s: float | None
    """Over the alerts that ended; None when none did."""
    still_firing: int
    proposed_fix: str | None = None


@dataclass(frozen=True, slots=True)
class AlertsSection:
    total: int = 0
    distinct: int = 0
    noisiest: tuple[NoisyAlert, ...] = ()
    missing: tuple[str, ...] = ()
    advice_from: str | None = None
    """Where the rules behind the proposed fixes came from (a file, a Prometheus' API)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentRow:
    id: str
    title: str
    severity: str
    status: str
    services: tuple[str, ...]
    first_seen: datetime
    resolve_s: float | None


@dataclass(frozen=True, slots=True)
class IncidentsSection:
    opened: Change = Change(None, None)
    resolved: int = 0
    still_open: int = 0
    median_resolve_s: Change = Change(None, None)
    median_acknowledge_s: float | None = None
    longest: tuple[IncidentRow, ...] = ()
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedbackSection:
    accepted: int = 0
    rejected: int = 0
    acceptance: Change = Change(None, None)
    """Share of verdicts that accepted a hypothesis ("Likely")."""
    by_category: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class WeeklyReport:
    tenant_id: str
    tenant_name: str
    week: Week
    at: datetime
    traffic: TrafficSection
    capacity: CapacitySection
    alerts: AlertsSection
    incidents: IncidentsSection
    feedback: FeedbackSection

    @property
    def missing(self) -> dict[str, tuple[str, ...]]:
        """Every section's reasons, by section, for the sections that have any."""
        sections = {
            "traffic": self.traffic.missing,
            "capacity": self.capacity.missing,
            "alerts": self.alerts.missing,
            "incidents": self.incidents.missing,
            "feedback": self.feedback.missing,
        }
        return {name: reasons for name, reasons in sections.items() if reasons}

    def to_json(self) -> dict[str, Any]:
        body = _plain(self)
        assert isinstance(body, dict)
        body["week"] = {
            "first_day": self.week.key,
            "last_day": self.week.last_day.isoformat(),
            "timezone": self.week.zone,
            "start": iso(self.week.start),
            "end": iso(self.week.end),
        }
        body["missing"] = {k: list(v) for k, v in self.missing.items()}
        return body


def _plain(value: Any) -> Any:
    """JSON-able: dataclasses as dicts (without SKIP fields), UTC ISO times, NaN as None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.metadata.get("json", True)
        }
        if isinstance(value, Change):
            out["change"] = _plain(value.change)
        if isinstance(value, Headroom):
            out["used_share"] = _plain(value.used_share)
        return out
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
