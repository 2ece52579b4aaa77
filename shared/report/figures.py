"""The report's figures as text, once, for every renderer (terminal, HTML, Slack).

Numbers and durations go through ``shared.formatting`` so the three say the
same thing the same way. Strings here are plain text: each renderer escapes
them for its own medium (names of services and alerts come from the tenant's
metrics and alerts, and are untrusted).
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.formatting import duration, number, percent, size
from shared.report.model import (
    Change,
    Headroom,
    IncidentRow,
    NoisyAlert,
    ServiceTrend,
    WeeklyReport,
)

DASH = "-"

TRAFFIC_HEADER = (
    "service",
    "requests",
    "vs last week",
    "errors",
    "last week",
    "p99",
    "last week",
    "notes",
)
CAPACITY_HEADER = ("filesystem", "used", "size", "free now", "7 days ago", "forecast")
ALERTS_HEADER = (
    "alert",
    "count",
    "services",
    "incidents",
    "median duration",
    "still firing",
    "proposed fix",
)
INCIDENTS_HEADER = ("incident", "title", "severity", "status", "services", "time to resolve")
FEEDBACK_HEADER = ("category", "accepted", "rejected", "acceptance")


def delta(change: Change) -> str:
    """``+12%``, ``-5%``, ``new`` (nothing last week) or ``-``."""
    if change.this_week is None:
        return DASH
    if change.last_week in (None, 0):
        return "new" if change.this_week else DASH
    moved = change.change
    assert moved is not None
    sign = "+" if moved >= 0 else "-"
    return f"{sign}{percent(abs(moved))}"


def _or_dash(value: float | None, fmt: str) -> str:
    if value is None:
        return DASH
    if fmt == "percent":
        return percent(value)
    if fmt == "duration":
        return duration(value)
    if fmt == "size":
        return size(value)
    return number(value)


def traffic_row(t: ServiceTrend) -> tuple[str, ...]:
    return (
        t.service,
        _or_dash(t.requests.this_week, "number"),
        delta(t.requests),
        _or_dash(t.error_ratio.this_week, "percent"),
        _or_dash(t.error_ratio.last_week, "percent"),
        _or_dash(t.latency_p99.this_week, "duration"),
        _or_dash(t.latency_p99.last_week, "duration"),
        "; ".join(t.notes),
    )


def capacity_row(h: Headroom) -> tuple[str, ...]:
    return (
        h.where,
        _or_dash(h.used_share, "percent"),
        _or_dash(h.size_bytes, "size"),
        _or_dash(h.free_bytes, "size"),
        _or_dash(h.free_week_ago, "size"),
        forecast_text(h),
    )


def forecast_text(h: Headroom) -> str:
    """The forecast without the filesystem's name (the row names it)."""
    text = h.headline
    return text[len(h.where) :].lstrip(" :") if text.startswith(h.where) else text


def alert_row(a: NoisyAlert) -> tuple[str, ...]:
    return (
        a.name,
        str(a.count),
        ", ".join(a.services) or DASH,
        str(a.incidents),
        _or_dash(a.median_duration_s, "duration"),
        str(a.still_firing),
        a.proposed_fix or DASH,
    )


def incident_row(r: IncidentRow) -> tuple[str, ...]:
    return (
        r.id,
        r.title,
        r.severity,
        r.status,
        ", ".join(r.services) or DASH,
        _or_dash(r.resolve_s, "duration") if r.resolve_s is not None else "not resolved",
    )


def feedback_rows(report: WeeklyReport) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for category, counts in report.feedback.by_category.items():
        accepted, rejected = counts.get("accepted", 0), counts.get("rejected", 0)
        total = accepted + rejected
        rows.append(
            (category, str(accepted), str(rejected), percent(accepted / total) if total else DASH)
        )
    return rows


def totals(report: WeeklyReport) -> tuple[Change, Change]:
    """Requests over every service, and the traffic-weighted error ratio, both weeks."""
    services = report.traffic.services

    def total(week: str) -> float | None:
        values = [getattr(t.requests, week) for t in services]
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    def errors(week: str) -> float | None:
        pairs = [(getattr(t.requests, week), getattr(t.error_ratio, week)) for t in services]
        known = [(r, e) for r, e in pairs if r is not None and e is not None]
        weight = sum(r for r, _ in known)
        return sum(r * e for r, e in known) / weight if weight > 0 else None

    return (
        Change(total("this_week"), total("last_week")),
        Change(errors("this_week"), errors("last_week")),
    )


def summary(report: WeeklyReport) -> list[tuple[str, str]]:
    """The headline of each section: ``(title, sentence)``, plain text."""
    lines: list[tuple[str, str]] = []
    requests, errors = totals(report)
    if requests.this_week is not None:
        text = f"{number(requests.this_week)} requests over {len(report.traffic.services)} services"
        if requests.last_week:
            text += f" ({delta(requests)} on last week)"
        if errors.this_week is not None:
            text += f"; {percent(errors.this_week)} failed"
            if errors.last_week is not None:
                text += f" (last week {percent(errors.last_week)})"
        moved = [t for t in report.traffic.services if t.notes]
        if moved:
            text += "; " + "; ".join(f"{t.service}: {t.notes[0]}" for t in moved[:3])
        lines.append(("Traffic", text))
    else:
        lines.append(("Traffic", "no traffic figures"))
    lines.append(("Capacity", _capacity_sentence(report.capacity.filesystems)))
    a = report.alerts
    if a.total:
        top = a.noisiest[0]
        lines.append(
            (
                "Alerts",
                f"{a.total} alerts of {a.distinct} kinds; noisiest {top.name} ({top.count})",
            )
        )
    else:
        lines.append(("Alerts", "no alerts started this week"))
    i = report.incidents
    opened = int(i.opened.this_week or 0)
    text = f"{opened} opened (last week {int(i.opened.last_week or 0)})"
    if i.median_resolve_s.this_week is not None:
        text += f"; median time to resolve {duration(i.median_resolve_s.this_week)}"
    if i.still_open:
        text += f"; {i.still_open} not resolved"
    lines.append(("Incidents", text))
    f = report.feedback
    if f.accepted + f.rejected:
        rate = f.acceptance.this_week or 0.0
        verdicts = f.accepted + f.rejected
        text = f"{f.accepted} of {verdicts} verdicts accepted the hypothesis ({percent(rate)})"
        if f.acceptance.last_week is not None:
            text += f"; last week {percent(f.acceptance.last_week)}"
    else:
        text = "no verdicts on hypotheses this week"
    lines.append(("Hypotheses", text))
    return lines


def _capacity_sentence(filesystems: Sequence[Headroom]) -> str:
    if not filesystems:
        return "no filesystems read"
    filling = [h for h in filesystems if h.hours_left is not None]
    if not filling:
        fullest = max(filesystems, key=lambda h: h.used_share or 0.0)
        used = (
            f"; fullest {fullest.where} at {percent(fullest.used_share)}"
            if fullest.used_share is not None
            else ""
        )
        return f"none of {len(filesystems)} filesystems fills within 48 h{used}"
    first = filling[0]
    more = f" and {len(filling) - 1} more" if len(filling) > 1 else ""
    return f"{first.headline}{more}"


def missing_lines(report: WeeklyReport) -> list[str]:
    return [
        f"{section}: {reason}" for section, reasons in report.missing.items() for reason in reasons
    ]
