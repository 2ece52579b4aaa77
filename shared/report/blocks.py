"""The report's Slack message: a Block Kit summary (the HTML file goes with it when it can).

Names from the tenant's data go through ``shared.notify.mrkdwn.escape``.
"""

from __future__ import annotations

from typing import Any

from shared.notify.mrkdwn import escape
from shared.ports.chat import ChatMessage
from shared.report import figures
from shared.report.model import WeeklyReport

KIND = "weekly_report"
TOP = 3


def message_id(report: WeeklyReport) -> str:
    """Stands where an incident id goes: one message per tenant and week."""
    return f"weekly-report-{report.week.key}"


def report_message(report: WeeklyReport, *, attached: bool) -> ChatMessage:
    summary = figures.summary(report)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"Weekly report: {report.tenant_name}"[:150]},
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(report.week.label)}]},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{title}*\n{escape(text)}"[:2000]}
                for title, text in summary
            ][:10],
        },
    ]
    at_risk = [h for h in report.capacity.filesystems if h.hours_left is not None][:TOP]
    if at_risk:
        lines = "\n".join(f"• {escape(h.headline)}" for h in at_risk)
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Filling*\n{lines}"}}
        )
    if report.alerts.noisiest:
        lines = "\n".join(
            f"• {escape(a.name)}: {a.count}"
            + (f" ({escape(a.proposed_fix)})" if a.proposed_fix else "")
            for a in report.alerts.noisiest[:TOP]
        )
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Noisiest alerts*\n{lines}"[:3000]},
            }
        )
    missing = figures.missing_lines(report)
    notes = [f"missing: {escape(line)}" for line in missing[:5]]
    notes.append(
        "full report attached below" if attached else "full report: `sre-copilot report --week`"
    )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": n[:2000]} for n in notes][:10]}
    )
    text = escape(
        f"Weekly report for {report.tenant_name}, {report.week.label}: "
        + "; ".join(f"{title}: {sentence}" for title, sentence in summary)
    )
    return ChatMessage(
        tenant_id=report.tenant_id,
        incident_id=message_id(report),
        text=text[:3000],
        blocks=tuple(blocks),
        kind=KIND,
    )
