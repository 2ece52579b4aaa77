"""Block Kit for the plain incident summary (pure functions)."""

from __future__ import annotations

from typing import Any

from shared.incidents.summary import IncidentSummary
from shared.ports.chat import ChatMessage

_ICON = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
SECTION_LIMIT = 3000


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _minutes_before(summary: IncidentSummary, at_iso: Any) -> str:
    delta = summary.incident.first_seen - at_iso
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min before" if minutes >= 0 else f"{-minutes} min after"


def render_summary(summary: IncidentSummary) -> ChatMessage:
    incident = summary.incident
    icon = _ICON.get(incident.severity.value, "⚪")
    where = ", ".join(incident.services or incident.instances) or "unknown service"
    header = f"{icon} {incident.severity.value.upper()} · {where} · {incident.id}"
    lines = []
    for ref in incident.alerts:
        state = ref.status.value
        target = ref.service or ref.instance or "?"
        lines.append(f"• *{ref.name}* on `{target}` ({state}): {ref.summary}")
    changes = [
        f"• {c.kind.value} of *{c.service}*"
        + (f" {c.version}" if c.version else "")
        + f", {_minutes_before(summary, c.at)}"
        + (f", by {c.author}" if c.author else "")
        + (f": {c.description}" if c.description else "")
        for c in summary.changes
    ]
    started = incident.first_seen.strftime("%Y-%m-%d %H:%M UTC")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(header, 150)}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"Status *{incident.status.value}* · started {started}"}
            ],
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _clip("*What is happening*\n" + "\n".join(lines))},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _clip(
                    "*What changed (2 h before)*\n" + ("\n".join(changes) or "No recorded changes.")
                ),
            },
        },
    ]
    text = f"{incident.severity.value.upper()} {incident.title} ({incident.id})"
    return ChatMessage(
        tenant_id=incident.tenant_id, incident_id=incident.id, text=text, blocks=tuple(blocks)
    )
