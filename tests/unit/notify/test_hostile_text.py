"""Alert text is data in Slack: it can neither ping a channel nor disguise a link.

Every field the renderers take from outside (alerts, labels, changes,
PagerDuty, Claude, Slack users) carries the same malicious string; whatever
reaches Slack as ``mrkdwn`` must hold it escaped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.chat.slack import SlackChat
from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.ingestion.correlation import merge_alerts
from shared.ingestion.normalisers import normalise_alertmanager
from shared.models.incident import Incident, IncidentStatus
from shared.models.tenant import Tenant
from shared.notify.incident_message import render_incident
from shared.notify.interactions import handle_command
from shared.notify.mrkdwn import escape, link
from shared.notify.slack_requests import CommandName, SlashCommand
from shared.ports.chat import PostedMessage
from shared.ports.store import Container
from shared.tenants.registry import TenantRegistry

EVIL = "<!channel> disk full, fix: <https://evil.invalid|runbook> & <@U0BOSS>"
EVIL_URL = "https://evil.invalid/graph?g0.expr=up&x=<!here>"
TRUSTED_RUNBOOK = "https://runbooks.example/disk-full"
T0 = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)
PAYLOADS = Path(__file__).parents[2] / "fixtures" / "payloads"


def hostile_incident() -> Incident:
    data = json.loads((PAYLOADS / "alertmanager_firing.json").read_text())
    for alert in data["alerts"]:
        alert["labels"].update(alertname=EVIL, service=EVIL, instance=EVIL)
        alert["annotations"]["summary"] = EVIL
        alert["generatorURL"] = EVIL_URL
    alerts = normalise_alertmanager(data, tenant_id="acme").alerts
    seed = Incident(
        id="INC-260304-A1B2C3",
        tenant_id="acme",
        title=EVIL,
        first_seen=T0,
        last_seen=T0,
        created_at=T0,
        updated_at=T0,
    )
    return merge_alerts(seed, alerts, T0).model_copy(update={"title": EVIL})


def hostile_snapshot() -> dict[str, Any]:
    return {
        "signals": [
            {
                "entity": EVIL,
                "signal": EVIL,
                "onset": "2026-03-04T14:02:00Z",
                "deviation": 9.0,
                "prior": 0.01,
                "current": 0.2,
                "unit": EVIL,
            }
        ],
        "changes": [
            {
                "kind": EVIL,
                "service": EVIL,
                "version": EVIL,
                "author": EVIL,
                "description": EVIL,
                "minutes_before_onset": 4,
            }
        ],
    }


def hostile_analysis() -> dict[str, Any]:
    hypothesis = {
        "rank": 1,
        "category": EVIL,
        "target": EVIL,
        "title": EVIL,
        "confidence": 0.7,
        "confidence_range": [0.6, 0.8],
        "evidence": [{"summary": EVIL, "strength": 0.9}],
        "factors": {"signal_strength": {"value": 0.9, "reason": EVIL}},
        "origins": ["llm"],
    }
    return {
        "hypotheses": [hypothesis],
        "runbooks": [{"id": EVIL, "title": EVIL, "url": TRUSTED_RUNBOOK, "score": 0.9}],
        "similar_incidents": [
            {"id": EVIL, "title": EVIL, "category": EVIL, "target": EVIL, "score": 0.5}
        ],
        "model_version": EVIL,
        "llm": {"status": EVIL},
    }


def mrkdwn_texts(blocks: tuple[dict[str, Any], ...]) -> list[str]:
    texts = []
    for block in blocks:
        if block.get("text", {}).get("type") == "mrkdwn":
            texts.append(block["text"]["text"])
        for element in block.get("elements", []):
            if element.get("type") == "mrkdwn":
                texts.append(element["text"])
    return texts


def assert_inert(text: str) -> None:
    trusted = link(TRUSTED_RUNBOOK, EVIL)
    rest = text.replace(trusted, "")
    assert "<!" not in rest, text
    assert "<http" not in rest, text
    assert "<@" not in rest, text


def test_every_rendered_field_holds_the_malicious_text_escaped() -> None:
    feedback = [{"verdict": "likely", "user_name": EVIL, "category": EVIL, "target": EVIL}]
    message = render_incident(
        hostile_incident(),
        snapshot=hostile_snapshot(),
        analysis=hostile_analysis(),
        feedback=feedback,
    )
    texts = mrkdwn_texts(message.blocks)
    for text in [*texts, message.text]:
        assert_inert(text)
    everything = "\n".join(texts)
    # Each field was rendered (escaped), so the assertions above looked at it.
    assert everything.count(escape(EVIL)) >= 15
    assert escape(EVIL) in message.text
    # The runbook from trusted configuration stays a link; its title is escaped.
    assert f"<{TRUSTED_RUNBOOK}|{escape(EVIL)}>" in everything
    # A URL from an alert never becomes a link (it is not rendered at all).
    assert "evil.invalid/graph" not in everything


def test_changes_without_a_snapshot_are_escaped_too() -> None:
    change = hostile_snapshot()["changes"][0] | {"at": "2026-03-04T14:00:00Z"}
    message = render_incident(hostile_incident(), changes=[change])
    for text in mrkdwn_texts(message.blocks):
        assert_inert(text)


def test_sre_status_and_why_escape_what_they_show(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        tenants = TenantRegistry(store, cache_seconds=0)
        tenants.add(Tenant(id="acme", tenant_id="acme", name=EVIL, slack_team_id="T0ACME"))
        incident = hostile_incident().model_copy(update={"status": IncidentStatus.OPEN})
        store.create(Container.INCIDENTS, "acme", incident.to_doc())
        store.create(
            Container.CACHE,
            "acme",
            {"id": f"analysis:{incident.id}", **hostile_analysis()},
        )

        class Deps:
            def __init__(self) -> None:
                self.store, self.tenants, self.clock = store, tenants, FixedClock(T0)

        for name, argument in ((CommandName.STATUS, None), (CommandName.WHY, incident.id)):
            command = SlashCommand(
                team_id="T0ACME",
                user_id="U1",
                user_name="u",
                channel_id=None,
                command="/sre",
                text="",
                response_url=None,
                trigger_id=None,
                name=name,
                argument=argument,
            )
            reply = handle_command(Deps(), command)
            assert escape(EVIL) in reply.text
            assert_inert(reply.text)
            for block in reply.blocks:
                assert_inert(block["text"]["text"])
    finally:
        store.close()


class _Recorder:
    """Stands in for slack-sdk's WebClient: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def chat_postMessage(self, **kwargs: Any) -> Any:
        self.sent.append(kwargs)
        return type("Response", (), {"data": {"ok": True, "channel": "C1", "ts": "2.0"}})()


def test_a_timeline_line_in_the_thread_is_escaped() -> None:
    client = _Recorder()
    chat = SlackChat(client, default_channel="C1")  # type: ignore[arg-type]

    chat.reply_in_thread(PostedMessage(channel="C1", ts="1.0"), f"{EVIL} marked #1 as likely")

    (sent,) = client.sent
    assert sent["text"] == f"{escape(EVIL)} marked #1 as likely"
    assert_inert(sent["text"])


@pytest.mark.parametrize(
    ("url", "label", "expected"),
    [
        ("https://r.example/a", "Disk <full>", "<https://r.example/a|Disk &lt;full&gt;>"),
        ("https://r.example/a|b>c", "x", "<https://r.example/a%7Cb%3Ec|x>"),
    ],
)
def test_trusted_links_cannot_be_broken_out_of(url: str, label: str, expected: str) -> None:
    assert link(url, label) == expected
