"""The capacity forecast message in Block Kit (pure functions).

A risk inside the horizon reads "/data on db-1 will be full in about 4 h
(3.6-4.9 h)" (with an en dash), says what the forecast rests on (the regime it read, the trend
family, the rate), and carries two buttons, *Acknowledge* and *Not a
problem*, whose clicks are recorded as feedback on that forecast
(``shared.predict.feedback``). A forecast that got much worse is a new
message of its own ("Worse: /data on db-1 now about 1.5 h"), with buttons;
a risk that passed is a line in the thread of the last one ("risk passed").

Mount points, host names and other labels come from the metrics source and
are data: they are escaped with ``mrkdwn.escape`` wherever they go into
``mrkdwn``; header text is ``plain_text`` and shown as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.formatting import percent, size
from shared.notify.actions import ActionKind, ActionValue, button
from shared.notify.incident_message import clip, section
from shared.notify.mrkdwn import escape as E
from shared.ports.chat import ChatMessage
from shared.predict.forecast import Forecast, Status
from shared.predict.sweep import Action, Post

KIND = "forecast"
"""``ChatMessage.kind`` of these messages."""
DASH = "\u2013"
"""An en dash, as a range is written."""
HEADER_LIMIT = 150

_MODEL = {
    "linear": "a steady trend",
    "curved": "a trend that is bending",
    "daily": "a trend with a daily swing",
    "cycles": "cleanup cycles (sawtooth)",
}


def hours(value: float) -> str:
    """How long, as said aloud: ``40 min``, ``1.5 h``, ``4 h``, ``13 h``."""
    if value < 1:
        return f"{max(5, round(value * 60 / 5) * 5)} min"
    if value < 10:
        half = round(value * 2) / 2
        return f"{half:g} h"
    return f"{round(value)} h"


def span(range_hours: tuple[float | None, float | None] | None) -> str:
    """``3.6-4.9 h``; ``40 min-1.2 h`` (en dashes); an open end reads ``beyond 48 h``."""
    if range_hours is None:
        return ""
    low, high = range_hours
    if low is None:
        return ""
    if high is None:
        return f"{_exact(low)} to beyond 48 h"
    low_text, high_text = _exact(low), _exact(high)
    if low_text == high_text:
        return low_text
    if low_text.endswith(" h") and high_text.endswith(" h"):
        return f"{low_text.removesuffix(' h')}{DASH}{high_text}"
    return f"{low_text}{DASH}{high_text}"


def _exact(value: float) -> str:
    if value < 1:
        return f"{max(1, round(value * 60))} min"
    return f"{value:.1f} h" if value < 10 else f"{value:.0f} h"


def when(result: Forecast) -> str:
    """``about 4 h (3.6-4.9 h)``."""
    if result.status is Status.FULL:
        return "now"
    left = result.hours_left
    if left is None:
        return "not within 48 h"
    low, high = result.range_hours or (None, None)
    # The band always holds the estimate: just after a jump the core's band can
    # collapse to one replicate's crossing, which may miss it.
    if low is not None:
        low = min(low, left)
        high = max(high, left) if high is not None else None
    spread = span((low, high))
    return f"about {hours(left)}" + (f" ({spread})" if spread else "")


@dataclass(frozen=True, slots=True)
class RiskWords:
    """How a resource's risk reads: a disk fills, memory reaches its limit."""

    at_end: str
    reaches_end_in: str
    stopped: str
    end_in: str


DISK_WORDS = RiskWords("is full", "will be full in", "is no longer filling", "full in")


def headline(post: Post, words: RiskWords = DISK_WORDS) -> str:
    """The sentence the message leads with (plain text, not escaped)."""
    p = post.prediction
    if post.action is Action.CLEAR:
        return f"Risk passed: {p.where} {_passed(p.forecast, words)}"
    if post.action is Action.WORSE:
        return f"Worse: {p.where} now {when(p.forecast)}"
    if p.forecast.status is Status.FULL:
        return f"{p.where} {words.at_end} now"
    return f"{p.where} {words.reaches_end_in} {when(p.forecast)}"


def _passed(result: Forecast, words: RiskWords) -> str:
    if result.status is Status.NOT_FILLING or result.hours_left is None:
        return words.stopped
    return f"is no longer at risk ({words.end_in} {when(result)})"


def basis(result: Forecast, size_bytes: float | None) -> str:
    """What the forecast rests on: the regime, the trend family, the rate, the room left."""
    parts = []
    model = _MODEL.get(result.model, result.model or "the recent trend")
    since = (
        f" since {moment(result.regime_start, result.now)}"
        if result.regime_start is not None
        else ""
    )
    parts.append(f"Read from {model}{since}")
    if result.reason:
        parts.append(f"({result.reason})")
    text = " ".join(parts)
    facts = []
    if result.rate_per_h is not None:
        verb = "falling" if result.rate_per_h < 0 else "rising"
        facts.append(f"free space {verb} {size(abs(result.rate_per_h))}/h")
    if result.free_now is not None:
        room = f"{size(max(0.0, result.free_now))} free"
        if size_bytes:
            room += f" of {size(size_bytes)} ({percent(max(0.0, result.free_now) / size_bytes)})"
        facts.append(room)
    return text + (": " + ", ".join(facts) if facts else "")


def moment(at: datetime, now: datetime) -> str:
    """A time in a message: its clock time today, with the day otherwise."""
    if at.date() == now.date():
        return at.strftime("%H:%M UTC")
    return at.strftime("%a %d %b %H:%M UTC")


def render(post: Post, *, tenant_id: str, forecast_id: str) -> ChatMessage:
    """The message for a new or worse risk, with its two buttons."""
    p = post.prediction
    text = headline(post)
    return risk_message(
        post,
        title=f"Disk filling: {p.where}",
        text=text,
        lead=f"*{E(text)}*" + end_line(p.forecast, "Full around"),
        basis=basis(p.forecast, p.size_bytes),
        tenant_id=tenant_id,
        forecast_id=forecast_id,
    )


def risk_message(
    post: Post,
    *,
    title: str,
    text: str,
    lead: str,
    basis: str,
    tenant_id: str,
    forecast_id: str,
) -> ChatMessage:
    """The layout of every capacity risk (a disk, memory): header, lead (mrkdwn,
    escaped by the caller; ``text`` is its plain form), the earlier estimate when
    worse, what it rests on, and the Acknowledge / Not a problem buttons."""
    icon = "⚠️" if post.action is Action.WORSE else "🟠"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(f"{icon} {title}", HEADER_LIMIT)},
        },
        section(lead),
    ]
    if post.action is Action.WORSE and post.previous_hours_left is not None:
        blocks.append(section(f"Earlier: about {hours(post.previous_hours_left)} left."))
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(E(basis), 2000)}]}
    )
    value = ActionValue(incident_id=forecast_id, tenant_id=tenant_id)
    blocks.append(
        {
            "type": "actions",
            "block_id": "forecast_actions",
            "elements": [
                button("Acknowledge", ActionKind.FORECAST_ACK, value, style="primary"),
                button("Not a problem", ActionKind.FORECAST_NOT_A_PROBLEM, value),
            ],
        }
    )
    return ChatMessage(
        tenant_id=tenant_id,
        incident_id=forecast_id,
        text=text,
        blocks=tuple(blocks),
        kind=KIND,
    )


def follow_up(post: Post) -> str:
    """The thread line for a risk that passed (plain: the chat adapter escapes it)."""
    return headline(post)


def chart_title(post: Post) -> str:
    return f"{post.prediction.where}: {when(post.prediction.forecast)}"


def end_line(result: Forecast, lead: str) -> str:
    """``lead`` and when a filling forecast reaches its end ("Full around 14:05 UTC")."""
    at = result.exhausted_at
    if at is None or result.status is not Status.FILLING:
        return ""
    return f"\n{lead} {moment(at, result.now)}."
