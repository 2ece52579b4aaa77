"""Making and sending the weekly report: what the CLI and the weekly timer share.

``make_report`` opens the tenant's sources (a metrics source that cannot be
opened is a reason, not an error) and gathers the report. ``send_weekly_report``
is the timer's one call per tenant: it is due from Monday 09:00 local (see
``shared.report.week``); the week is claimed in the store first (a ``cache``
document keyed by the week's first day, created exactly once), then the
report is posted through the chat port with its HTML file attached, and the
mark says "sent". A failure releases the claim so the next run tries again;
a claim left by a run that died is taken over (``shared.notify.once``).

The alerts section's proposed fixes (noise advice) are judged against the
rules the caller passes (the CLI's ``--rules FILE``, which wins) or else the
rules the tenant's Prometheus serves (``RuleListing``), so the timer's report
has them too. A Prometheus that cannot list them leaves that section partial,
with the reason; the report is still made and sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from shared.errors import BadInput, StoreUnavailable
from shared.feedback.noise import Advice, noise_advice
from shared.models.tenant import Tenant
from shared.notify.once import SendOnce
from shared.ports.chat import ChatPort, PostedMessage
from shared.ports.metrics import MetricsSource, RuleListing
from shared.ports.store import DocumentStore
from shared.report.blocks import report_message
from shared.report.charts import charts
from shared.report.gather import OnStep, Sources, weekly_report
from shared.report.html import render_html
from shared.report.model import WeeklyReport
from shared.report.week import is_due, week_before

MARK_PREFIX = "weekly-report:"
MARK_TTL_S = 90 * 24 * 3600


class ReportRuntime(Protocol):
    """What sending needs from the runtime (``shared.bootstrap.Runtime`` has it)."""

    @property
    def store(self) -> DocumentStore: ...

    def metrics_for(self, tenant: Tenant) -> MetricsSource | None: ...

    def chat_for(self, tenant: Tenant) -> ChatPort: ...


class Status(StrEnum):
    NOT_DUE = "not_due"
    ALREADY_SENT = "already_sent"
    SENT = "sent"


@dataclass(frozen=True, slots=True)
class Outcome:
    tenant_id: str
    status: Status
    week: str | None = None
    posted: PostedMessage | None = None
    attached: bool = False
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)


def sources_for(rt: ReportRuntime, tenant: Tenant) -> Sources:
    try:
        metrics = rt.metrics_for(tenant)
    except BadInput as exc:
        return Sources(rt.store, None, f"metrics source unavailable: {exc.reason}")
    return Sources(rt.store, metrics)


def make_report(
    rt: ReportRuntime,
    tenant: Tenant,
    at: datetime,
    *,
    on_step: OnStep | None = None,
    advice: Advice | Mapping[str, str] | None = None,
) -> WeeklyReport:
    """``advice``: the caller's noise advice (or its fixes by alert name); else the live rules'."""
    sources = sources_for(rt, tenant)
    if isinstance(advice, Advice):
        sources = dataclasses.replace(
            sources, advice=advice.by_alert_name(), advice_from=advice.rules_file
        )
    elif advice is not None:
        sources = dataclasses.replace(sources, advice=advice)
    else:
        sources = with_live_advice(sources, tenant.id, at)
    return weekly_report(tenant, at, sources, on_step=on_step)


def with_live_advice(sources: Sources, tenant_id: str, at: datetime) -> Sources:
    """Noise advice from the rules the metrics source serves, or why there is none."""
    metrics = sources.metrics
    if not isinstance(metrics, RuleListing):
        return sources  # a metrics file, or none: no rules to judge by
    listed = metrics.alerting_rules()
    if not listed.ok:
        why = f"no noise advice: the alerting rules of {listed.source} unreadable: {listed.error}"
        return dataclasses.replace(sources, advice_unavailable=why)
    try:
        advice = noise_advice(sources.store, tenant_id, listed, now=at, metrics=metrics)
    except StoreUnavailable as exc:
        why = f"no noise advice: the alert history could not be read: {exc.reason}"
        return dataclasses.replace(sources, advice_unavailable=why)
    return dataclasses.replace(
        sources, advice=advice.by_alert_name(), advice_from=advice.rules_file
    )


def html_of(report: WeeklyReport) -> str:
    """The self-contained HTML file of a report, charts included."""
    drawn = charts(report.traffic, report.capacity, report.week)
    return render_html(report, drawn)


def file_name(report: WeeklyReport) -> str:
    return f"weekly-report-{report.tenant_id}-{report.week.key}.html"


def send_weekly_report(rt: ReportRuntime, tenant: Tenant, *, now: datetime) -> Outcome:
    """Post this week's report to the tenant's channel once, when it is due."""
    if not is_due(now, tenant.zone):
        return Outcome(tenant.id, Status.NOT_DUE)
    week = week_before(now, tenant.zone)
    once = SendOnce(
        rt.store, tenant.id, MARK_PREFIX + week.key, "weekly-report", MARK_TTL_S, {"week": week.key}
    )
    if not once.claim(now):
        return Outcome(tenant.id, Status.ALREADY_SENT, week.key)
    try:
        report = make_report(rt, tenant, now)
        content = html_of(report).encode("utf-8")
        message = report_message(report, attached=True)
        posted = rt.chat_for(tenant).post_file(
            message,
            channel=tenant.slack_channel_id,
            filename=file_name(report),
            content=content,
            title=f"Weekly report {report.week.label}",
        )
    except BaseException:
        once.release()
        raise
    once.sent(now, posted)
    return Outcome(
        tenant.id, Status.SENT, week.key, posted, posted.file is not None, report.missing
    )
