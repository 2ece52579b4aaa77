"""Slack's requests through the local host over real HTTP, with the Slack double behind it.

The app here is ``function_app.py``'s blueprints plus ``functions.slack.bp``
(registered in a DFApp of its own until ``functions/__init__.py`` lists it).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import azure.durable_functions as df
import azure.functions as func
import pytest
from pydantic import SecretStr

from devhost import DevHost, ManualClock
from functions import BLUEPRINTS
from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.models.tenant import Tenant
from shared.notify.actions import ActionKind, ActionValue, action_id, encode_value
from shared.ports.store import Container
from shared.settings import Settings
from tests.fixtures.slack_server import OAuthGrant, SlackServer

from .conftest import Live, make_tenant

pytestmark = pytest.mark.e2e

PAYLOADS = Path(__file__).parents[1] / "fixtures" / "payloads"
SECRET = "e2e-signing-secret"
AM = {"Authorization": "Bearer am-token", "Content-Type": "application/json"}


@dataclass
class SlackLive:
    live: Live
    slack: SlackServer

    def signed(self, path: str, body: bytes, *, secret: str = SECRET) -> Any:
        timestamp = str(int(time.time()))
        digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
        headers = {
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": f"v0={digest.hexdigest()}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return self.live.post(path, body, headers)

    def get(self, path: str) -> http.client.HTTPResponse:
        """A GET that does not follow redirects (the install answers 302)."""
        parts = urlsplit(self.live.url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response


@pytest.fixture
def slack_live(tmp_path: Path) -> Iterator[SlackLive]:
    with SlackServer() as slack:
        settings = Settings(
            home=tmp_path / "home",
            echo_messages=False,
            slack_signing_secret=SecretStr(SECRET),
            slack_api_base_url=slack.base_url,
            slack_client_id=slack.client_id,
            slack_client_secret=SecretStr(slack.client_secret),
            public_base_url="https://copilot.example.com",
        )
        store = SqliteStore(settings.sqlite_path)
        runtime = bootstrap.configure(bootstrap.build(settings, store=store))
        tenant = make_tenant().model_copy(
            update={"slack_team_id": "T0ACME", "responders": ("U0ALICE",)}
        )
        runtime.tenants.add(tenant)
        app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
        for blueprint in BLUEPRINTS:
            app.register_functions(blueprint)
        clock = ManualClock(datetime.now(UTC))
        host = DevHost(app, store, clock=clock, run_timers=False)
        host.start()
        try:
            yield SlackLive(Live(host=host, runtime=runtime, tenant=tenant, clock=clock), slack)
        finally:
            host.stop()
            bootstrap.reset()
            store.close()


def click_body(
    slack: SlackServer,
    incident_id: str,
    user: str = "U0ALICE",
    kind: ActionKind = ActionKind.LIKELY,
) -> bytes:
    value = ActionValue(
        incident_id=incident_id,
        tenant_id="acme",
        category="bad_deployment",
        target="checkout",
        model_version="scoring@3",
    )
    payload = {
        "type": "block_actions",
        "team": {"id": "T0ACME", "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0ACME"},
        "container": {"type": "message", "message_ts": "1.2", "channel_id": "C0INC"},
        "channel": {"id": "C0INC"},
        "trigger_id": "t",
        "response_url": slack.response_url(user),
        "actions": [
            {
                "type": "button",
                "action_id": action_id(kind, None if kind is ActionKind.ACK else 1),
                "value": encode_value(value),
                "action_ts": "1.3",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def open_incident(env: SlackLive) -> str:
    firing = (PAYLOADS / "alertmanager_firing.json").read_bytes()
    opened = env.live.post("/api/tenants/acme/webhooks/alertmanager", firing, AM)
    assert opened.status == 202, opened.text
    assert env.live.host.wait_for_idle(timeout=20)
    return str(opened.body["incident_id"])


def test_a_click_is_acknowledged_at_once_recorded_and_answered(slack_live: SlackLive) -> None:
    incident_id = open_incident(slack_live)

    reply = slack_live.signed("/api/slack/interactions", click_body(slack_live.slack, incident_id))

    assert reply.status == 200
    assert reply.text == ""
    assert wait_for(lambda: slack_live.slack.replies_to("U0ALICE"))
    (answer,) = slack_live.slack.replies_to("U0ALICE")
    assert answer["response_type"] == "ephemeral"
    assert "likely" in answer["text"]
    store = slack_live.live.runtime.store
    (feedback,) = store.query(Container.FEEDBACK, "acme")
    assert (feedback["incident_id"], feedback["verdict"]) == (incident_id, "likely")
    # The incident's orchestration takes the click: the message gets a timeline line.
    assert slack_live.live.host.wait_for_idle(timeout=20)
    saved = slack_live.live.runtime.settings.messages_dir / f"acme__{incident_id}.json"
    thread = json.loads(saved.read_text())["thread"]
    assert any("as likely" in line["text"] for line in thread), thread


def test_events_arriving_while_the_orchestration_is_busy_are_not_lost(
    slack_live: SlackLive,
) -> None:
    """A click, an acknowledgement right behind it, more clicks: every one lands."""
    incident_id = open_incident(slack_live)
    users = ["U0ALICE", "U0BOB", "U0CAROL", "U0DAN"]
    responders = (*users,)
    tenant = slack_live.live.runtime.tenants.get("acme")
    slack_live.live.runtime.tenants.add(
        tenant.model_copy(update={"responders": responders}), replace=True
    )
    bodies = [
        click_body(slack_live.slack, incident_id, users[0]),
        click_body(slack_live.slack, incident_id, users[0], ActionKind.ACK),
        click_body(slack_live.slack, incident_id, users[1]),
        click_body(slack_live.slack, incident_id, users[2]),
        click_body(slack_live.slack, incident_id, users[3]),
    ]
    for body in bodies:
        assert slack_live.signed("/api/slack/interactions", body).status == 200
    assert slack_live.live.host.wait_for_idle(timeout=20)
    store = slack_live.live.runtime.store
    incident = store.get(Container.INCIDENTS, "acme", incident_id)
    assert incident is not None and incident["status"] == "acknowledged"
    saved = slack_live.live.runtime.settings.messages_dir / f"acme__{incident_id}.json"
    thread = [line["text"] for line in json.loads(saved.read_text())["thread"]]
    assert sum("as likely" in line for line in thread) == 4, thread
    assert sum(line.startswith("Acknowledged by") for line in thread) == 1, thread


def test_a_burst_of_twenty_clicks_is_applied_twenty_times_once_each(
    slack_live: SlackLive,
) -> None:
    """Durable event rules: wakes pile up in history while activities run; no click is lost."""
    incident_id = open_incident(slack_live)
    users = [f"U0USER{n:02d}" for n in range(20)]
    runtime = slack_live.live.runtime
    tenant = runtime.tenants.get("acme")
    runtime.tenants.add(tenant.model_copy(update={"responders": tuple(users)}), replace=True)
    for user in users:
        body = click_body(slack_live.slack, incident_id, user)
        assert slack_live.signed("/api/slack/interactions", body).status == 200
    assert slack_live.live.host.wait_for_idle(timeout=30)
    saved = runtime.settings.messages_dir / f"acme__{incident_id}.json"
    thread = [line["text"] for line in json.loads(saved.read_text())["thread"]]
    assert sum("as likely" in line for line in thread) == 20, thread
    items = runtime.store.query(Container.WORK, "acme")
    assert len(items) == 20 and {i["state"] for i in items} == {"done"}
    assert all(slack_live.slack.replies_to(user) for user in users)  # each told once applied


def test_three_different_clicks_while_an_activity_runs_are_each_applied_once(
    slack_live: SlackLive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wakes raised while the orchestrator is inside an activity: none lost, none repeated."""
    from shared.incidents import steps

    incident_id = open_incident(slack_live)
    runtime = slack_live.live.runtime
    tenant = runtime.tenants.get("acme")
    runtime.tenants.add(
        tenant.model_copy(update={"responders": ("U0ALICE", "U0BOB")}), replace=True
    )
    gate, entered = threading.Event(), threading.Event()
    real = steps.deliver

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert gate.wait(timeout=20)
        return real(*args, **kwargs)

    monkeypatch.setattr(steps, "deliver", held)
    clicks = [
        click_body(slack_live.slack, incident_id, "U0ALICE"),
        click_body(slack_live.slack, incident_id, "U0ALICE", ActionKind.ACK),
        click_body(slack_live.slack, incident_id, "U0BOB", ActionKind.NOT_IT),
    ]
    assert slack_live.signed("/api/slack/interactions", clicks[0]).status == 200
    assert entered.wait(timeout=20)  # the orchestrator is now inside the delivery activity
    for body in clicks[1:]:
        assert slack_live.signed("/api/slack/interactions", body).status == 200
    gate.set()
    assert slack_live.live.host.wait_for_idle(timeout=20)
    saved = runtime.settings.messages_dir / f"acme__{incident_id}.json"
    thread = [line["text"] for line in json.loads(saved.read_text())["thread"]]
    assert sum("as likely" in line for line in thread) == 1, thread
    assert sum("as not it" in line for line in thread) == 1, thread
    assert sum(line.startswith("Acknowledged by") for line in thread) == 1, thread
    incident = runtime.store.get(Container.INCIDENTS, "acme", incident_id)
    assert incident is not None and incident["status"] == "acknowledged"
    assert {i["state"] for i in runtime.store.query(Container.WORK, "acme")} == {"done"}


def test_clicks_pending_when_the_orchestration_continues_as_new_are_not_lost(
    slack_live: SlackLive, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functions.incident as incident_functions

    monkeypatch.setattr(incident_functions, "TURNS_BEFORE_CONTINUE", 1)
    incident_id = open_incident(slack_live)
    users = [f"U0CAN{n}" for n in range(6)]
    runtime = slack_live.live.runtime
    tenant = runtime.tenants.get("acme")
    runtime.tenants.add(tenant.model_copy(update={"responders": tuple(users)}), replace=True)
    for user in users:
        assert (
            slack_live.signed(
                "/api/slack/interactions", click_body(slack_live.slack, incident_id, user)
            ).status
            == 200
        )
    assert slack_live.live.host.wait_for_idle(timeout=20)
    saved = runtime.settings.messages_dir / f"acme__{incident_id}.json"
    thread = [line["text"] for line in json.loads(saved.read_text())["thread"]]
    assert sum("as likely" in line for line in thread) == len(users), thread
    status = slack_live.live.host.instance_status(f"acme--{incident_id}")
    assert status is not None and status["runtimeStatus"] == "Running"


def test_a_stranger_is_told_no_and_an_unsigned_click_is_refused(slack_live: SlackLive) -> None:
    body = click_body(slack_live.slack, "INC-1", user="U0MALLORY")

    assert slack_live.signed("/api/slack/interactions", body).status == 200
    assert wait_for(lambda: slack_live.slack.replies_to("U0MALLORY"))
    assert "responders" in slack_live.slack.replies_to("U0MALLORY")[0]["text"]

    forged = slack_live.signed("/api/slack/interactions", body, secret="guessed")
    assert forged.status == 401
    assert "signature" in forged.body["reason"]
    assert slack_live.live.runtime.store.query(Container.FEEDBACK, "acme") == []


def test_sre_status_answers_in_the_response(slack_live: SlackLive) -> None:
    incident_id = open_incident(slack_live)
    form = {"team_id": "T0ACME", "user_id": "U0ALICE", "command": "/sre", "text": "status"}

    reply = slack_live.signed("/api/slack/commands", urlencode(form).encode())

    assert reply.status == 200
    assert reply.body["response_type"] == "ephemeral"
    assert incident_id in reply.body["text"]
    assert slack_live.live.post("/api/slack/commands", b"ssl_check=1&token=x").status == 200


def test_install_redirects_to_slack_and_the_callback_maps_the_workspace(
    slack_live: SlackLive,
) -> None:
    slack_live.slack.grant(
        "code-1", OAuthGrant(team_id="T0GLOBEX", team_name="Globex", bot_token="xoxb-globex")
    )

    start = slack_live.get("/api/slack/install")
    assert start.status == 302
    state = parse_qs(urlsplit(start.getheader("Location") or "").query)["state"][0]

    done = slack_live.get(f"/api/slack/oauth/callback?code=code-1&state={state}")
    again = slack_live.get(f"/api/slack/oauth/callback?code=code-1&state={state}")

    assert done.status == 200
    assert again.status == 401
    tenant = slack_live.live.runtime.tenants.by_slack_team("T0GLOBEX")
    assert isinstance(tenant, Tenant)
    assert tenant.id == "globex"
