"""The memory forecast message in Block Kit (pure functions): a service nearing its limit.

The disk message's twin (``shared.notify.forecast_message``), worded for
memory: "memory of checkout will reach its limit in about 3 h (2.5-3.8 h, with an en dash)",
with the worst pod it was read from, its limit and the headroom trend, and the
same two buttons (*Acknowledge*, *Not a problem*; same ``kind`` and forecast
ids, so clicks take the same path and are kept as feedback on the forecast).
A much worse forecast is "Worse: memory of checkout now about 1 h", a passed
risk "Risk passed: memory of checkout is no longer heading for its limit".

Service and pod names come from the metrics source and are data: escaped with
``mrkdwn.escape`` wherever they go into ``mrkdwn``.
"""

from __future__ import annotations

from shared.formatting import percent, size
from shared.notify import forecast_message
from shared.notify.forecast_message import RiskWords, end_line, moment, risk_message, when
from shared.notify.mrkdwn import escape as E
from shared.ports.chat import ChatMessage
from shared.predict.sweep import Post

_MODEL = {
    "linear": "a steady climb",
    "curved": "a climb that is bending",
    "daily": "a climb with a daily swing",
    "cycles": "restart cycles (sawtooth)",
}


MEMORY_WORDS = RiskWords(
    "is at its limit",
    "will reach its limit in",
    "is no longer heading for its limit",
    "at its limit in",
)


def headline(post: Post) -> str:
    """The sentence the message leads with (plain text, not escaped)."""
    return forecast_message.headline(post, MEMORY_WORDS)


def basis(post: Post) -> str:
    """What the forecast rests on: the worst pod, the trend, the rate, the room left."""
    p = post.prediction
    result = p.forecast
    pod = p.labels.get("pod")
    model = _MODEL.get(result.model, result.model or "the recent trend")
    since = f" since {moment(result.regime_start, result.now)}" if result.regime_start else ""
    text = f"Worst pod {pod}, read from {model}{since}" if pod else f"Read from {model}{since}"
    if result.reason:
        text += f" ({result.reason})"
    facts = []
    if result.rate_per_h is not None:
        verb = "shrinking" if result.rate_per_h < 0 else "growing"
        facts.append(f"headroom {verb} {size(abs(result.rate_per_h))}/h")
    if result.free_now is not None:
        room = f"{size(max(0.0, result.free_now))} left"
        if p.size_bytes:
            share = percent(max(0.0, result.free_now) / p.size_bytes)
            room += f" of a {size(p.size_bytes)} limit ({share})"
        facts.append(room)
    return text + (": " + ", ".join(facts) if facts else "")


def render(post: Post, *, tenant_id: str, forecast_id: str) -> ChatMessage:
    """The message for a new or worse risk, with its two buttons."""
    p = post.prediction
    text = headline(post)
    return risk_message(
        post,
        title=f"Memory nearing its limit: {p.labels.get('service') or p.where}",
        text=text,
        lead=f"*{E(text)}*" + end_line(p.forecast, "At its limit around"),
        basis=basis(post),
        tenant_id=tenant_id,
        forecast_id=forecast_id,
    )


def follow_up(post: Post) -> str:
    """The thread line for a risk that passed (plain: the chat adapter escapes it)."""
    return headline(post)


def chart_title(post: Post) -> str:
    pod = post.prediction.labels.get("pod")
    where = f"{post.prediction.where} (pod {pod})" if pod else post.prediction.where
    return f"{where}: at its limit {when(post.prediction.forecast)}"
