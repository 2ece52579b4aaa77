"""An earned-trust promotion proposed in Slack and answered through the signed click path.

The sweep posts through the Slack adapter to the Slack test server; clicks
go through the local host's ``/api/slack/interactions`` (signature checked,
workspace mapped to the tenant), and the answer comes back on the click's
``response_url`` while the proposal's message is updated in place.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from devhost import DevHost, ManualClock, load_function_app
from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.autonomy import promotion
from shared.autonomy.policies import load_policy, set_policy
from shared.autonomy.policy import Mode
from shared.notify.actions import ActionKind, ActionValue, action_id, encode_value
from shared.settings import Settings
from tests.fixtures.slack_server import SlackServer
from tests.unit.autonomy.test_trust import POLICY, seed

from .conftest import Live, make_tenant

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
SECRET = "e2e-signing-secret"


@dataclass
class Env:
    live: Live
    slack: SlackServer

    def click(self, kind: ActionKind, proposal: str, user: str, *, secret: str = SECRET) -> int:
        value = ActionValue(incident_id=proposal, tenant_id="acme", target="restart_pod")
        payload = {
            "type": "block_actions",
            "team": {"id": "T0ACME"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0ACME"},
            "channel": {"id": "C0TRUST"},
            "response_url": self.slack.response_url(user),
            "actions": [{"action_id": action_id(kind), "value": encode_value(value)}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        timestamp = str(int(time.time()))
        digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
        headers = {
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": f"v0={digest.hexdigest()}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return self.live.post("/api/slack/interactions", body, headers).status

    def last_reply(self, user: str, count: int = 1) -> str:
        deadline = time.monotonic() + 5
        while len(self.slack.replies_to(user)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return str(self.slack.replies_to(user)[-1]["text"])

    def buttons(self) -> list[str]:
        (message,) = list(self.slack.messages.values())
        return [
            e["text"]["text"]
            for b in message.get("blocks", [])
            if b.get("type") == "actions"
            for e in b.get("elements", [])
        ]

    def mode(self) -> Mode:
        stored = load_policy(self.live.runtime.store, "acme")
        assert stored is not None
        return stored.policy.actions["restart_pod"].mode


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with SlackServer() as slack:
        settings = Settings(
            home=tmp_path / "home",
            echo_messages=False,
            slack_signing_secret=SecretStr(SECRET),
            slack_api_base_url=slack.base_url,
        )
        store = SqliteStore(settings.sqlite_path)
        clock = ManualClock(datetime.now(UTC))
        runtime = bootstrap.configure(bootstrap.build(settings, store=store, clock=clock))
        tenant = make_tenant().model_copy(
            update={
                "slack_team_id": "T0ACME",
                "slack_channel_id": "C0TRUST",
                "slack_bot_token": SecretStr("xoxb-test"),
                "responders": ("U0ALICE",),
            }
        )
        runtime.tenants.add(tenant)
        set_policy(store, "acme", POLICY, now=clock.now(), actor="test")
        seed(store, "acme", agree=11, disagree=1)
        host = DevHost(
            load_function_app(REPO / "function_app.py"), store, clock=clock, run_timers=False
        )
        host.start()
        try:
            yield Env(Live(host=host, runtime=runtime, tenant=tenant, clock=clock), slack)
        finally:
            host.stop()
            bootstrap.reset()
            store.close()


def test_promote_in_slack_by_an_approver_only(env: Env) -> None:
    rt = env.live.runtime
    (posted,) = promotion.sweep(rt, env.live.tenant, now=env.live.clock.now()).posted
    assert env.buttons() == ["Promote", "Not yet"]
    assert "11 of 12 incidents (92%)" in next(iter(env.slack.messages.values()))["text"]

    assert env.click(ActionKind.PROMOTE, posted.proposal_id, "U0ALICE") == 200
    assert "Only the approvers of restart_pod" in env.last_reply("U0ALICE")
    assert env.mode() is Mode.SHADOW and env.buttons() == ["Promote", "Not yet"]
    assert env.click(ActionKind.PROMOTE, posted.proposal_id, "U-ADMIN", secret="guess") == 401

    assert env.click(ActionKind.PROMOTE, posted.proposal_id, "U-ADMIN") == 200
    assert "promoted to active at low risk" in env.last_reply("U-ADMIN")
    assert env.click(ActionKind.PROMOTE, posted.proposal_id, "U-ADMIN") == 200
    assert "promoted already" in env.last_reply("U-ADMIN", 2)
    assert env.mode() is Mode.ACTIVE and env.buttons() == []
    message: dict[str, Any] = next(iter(env.slack.messages.values()))
    assert "promoted to active by" in json.dumps(message["blocks"])
