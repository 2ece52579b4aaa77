"""The capacity forecast message: its sentence, what it rests on, its buttons, hostile labels."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import numpy as np

from shared.notify.actions import ActionKind
from shared.notify.forecast_message import follow_up, headline, hours, render, span, when
from shared.notify.slack_requests import parse_interaction
from shared.predict.forecast import Forecast, Status
from shared.predict.sweep import Action, Post, Prediction
from tests.unit.predict.synthetic import NOW

GIB = 2.0**30


def prediction(
    left: float | None,
    band: tuple[float | None, float | None] | None = None,
    *,
    where: str = "/data on db-1",
) -> Prediction:
    result = Forecast(
        status=Status.FILLING if left is not None else Status.NOT_FILLING,
        now=NOW,
        hours_left=left,
        range_hours=band,
        free_now=40 * GIB,
        rate_per_h=-10 * GIB,
        model="linear",
        regime_start=NOW - timedelta(hours=6),
        reason="steady trend over the last 6.0 h",
    )
    return Prediction("db-1|/data", where, {}, 500 * GIB, result, np.empty((0, 2)))


def test_a_new_risk_reads_as_the_issue_says() -> None:
    post = Post(Action.NEW, prediction(4.0, (3.6, 4.9)))
    assert headline(post) == "/data on db-1 will be full in about 4 h (3.6\u20134.9 h)"

    message = render(post, tenant_id="acme", forecast_id="FC-0123456789abcdef")

    assert message.text == headline(post)
    assert message.kind == "forecast" and message.incident_id == "FC-0123456789abcdef"
    header, lead, basis, actions = message.blocks
    assert header["text"]["text"] == "🟠 Disk filling: /data on db-1"
    assert lead["text"]["text"].startswith("*/data on db-1 will be full in about 4 h")
    full_at = (NOW + timedelta(hours=4)).strftime("%H:%M UTC")
    assert f"Full around {full_at}." in lead["text"]["text"]
    said = basis["elements"][0]["text"]
    since = (NOW - timedelta(hours=6)).strftime("%H:%M UTC")
    assert f"Read from a steady trend since {since} (steady trend over the last 6.0 h)" in said
    assert "free space falling 10 GiB/h" in said and "40 GiB free of 500 GiB (8.0%)" in said
    labels = [e["text"]["text"] for e in actions["elements"]]
    assert labels == ["Acknowledge", "Not a problem"]


def test_follow_ups_say_worse_and_risk_passed() -> None:
    worse = Post(Action.WORSE, prediction(1.5, (1.2, 1.9)), previous_hours_left=3.5)
    assert headline(worse) == "Worse: /data on db-1 now about 1.5 h (1.2\u20131.9 h)"
    blocks = render(worse, tenant_id="acme", forecast_id="FC-0123456789abcdef").blocks
    assert blocks[0]["text"]["text"].startswith("⚠️")
    assert "Earlier: about 3.5 h left." in json.dumps(blocks, ensure_ascii=False)

    passed = follow_up(Post(Action.CLEAR, prediction(None)))
    assert passed == "Risk passed: /data on db-1 is no longer filling"
    farther = follow_up(Post(Action.CLEAR, prediction(30.0, (25.0, None))))
    assert farther.startswith("Risk passed: /data on db-1 is no longer at risk (full in about 30 h")


def test_times_are_said_aloud() -> None:
    assert [hours(x) for x in (0.4, 1.26, 4.0, 4.2, 13.4)] == [
        "25 min",
        "1.5 h",
        "4 h",
        "4 h",
        "13 h",
    ]
    assert span((0.5, 1.2)) == "30 min\u20131.2 h"
    assert span((20.0, None)) == "20 h to beyond 48 h"
    assert span(None) == ""
    # Just after a jump the band can miss the estimate; what is shown holds it.
    odd = Forecast(status=Status.FILLING, now=NOW, hours_left=1.3, range_hours=(2.49, 2.49))
    assert when(odd) == "about 1.5 h (1.3\u20132.5 h)"


def test_labels_from_the_metrics_source_cannot_ping_or_link() -> None:
    evil = "/data <!channel> <https://evil.example|click> on db-1"
    message = render(
        Post(Action.NEW, prediction(4.0, (3.6, 4.9), where=evil)),
        tenant_id="acme",
        forecast_id="FC-0123456789abcdef",
    )
    mrkdwn = [b["text"]["text"] for b in message.blocks if b["type"] == "section"] + [
        e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"]
    ]
    for text in mrkdwn:
        assert "<!channel>" not in text and "<https://" not in text
    assert "&lt;!channel&gt;" in mrkdwn[0]


def test_the_buttons_parse_back_as_forecast_clicks_of_their_tenant() -> None:
    message = render(
        Post(Action.NEW, prediction(4.0, (3.6, 4.9))),
        tenant_id="acme",
        forecast_id="FC-0123456789abcdef",
    )
    for element, kind in zip(
        message.blocks[-1]["elements"],
        (ActionKind.FORECAST_ACK, ActionKind.FORECAST_NOT_A_PROBLEM),
        strict=True,
    ):
        payload = {
            "type": "block_actions",
            "team": {"id": "T1"},
            "user": {"id": "U1", "username": "ana"},
            "response_url": "https://hooks.example/r1",
            "actions": [{"action_id": element["action_id"], "value": element["value"]}],
        }
        action = parse_interaction(urlencode({"payload": json.dumps(payload)}).encode())
        assert action is not None
        assert (action.kind, action.tenant_id, action.incident_id) == (
            kind,
            "acme",
            "FC-0123456789abcdef",
        )
        assert action.kind.on_forecast and action.rank is None
