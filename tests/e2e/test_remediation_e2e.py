"""Remediation through the local host over real HTTP, with the Slack test server behind it.

A policy puts ``restart_pod`` active at low risk, ``scale_replicas`` active at
medium with a 5 s announce window and ``rollback_deployment`` active at high
(approver U0LEAD). The incident's top hypothesis is matched to a runbook
naming all three, so one analysis leads to: a restart at once, a scale-out
announced with a Stop button, a rollback waiting for Approve / Reject. The
dry-run executor records what runs (its ledger), the durable timers follow a
manual clock, and every answer goes through Slack's signed interaction path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from devhost import DevHost, ManualClock, load_function_app
from functions.remediation import VERIFY_AFTER
from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.audit import verify
from shared.autonomy import admission
from shared.autonomy.actions import ActionRecord, list_records
from shared.autonomy.policies import set_policy
from shared.errors import PreconditionFailed
from shared.models.tenant import Service, Topology
from shared.notify.actions import ActionKind, ActionValue, action_id, encode_value
from shared.ports.store import Container
from shared.settings import Settings
from tests.fixtures.slack_server import SlackServer

from .conftest import Live, make_tenant

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
SECRET = "e2e-signing-secret"
AM = {"Authorization": "Bearer am-token", "Content-Type": "application/json"}
POLICY = """\
actions:
  restart_pod:         {tier: low, mode: active}
  scale_replicas:      {tier: medium, mode: active, announce_seconds: 5}
  rollback_deployment: {tier: high, mode: active, approvers: [U0LEAD], approval_expiry_seconds: 600}
"""
RUNBOOK = """\
---
id: rb-checkout-recovery
title: Recover checkout
categories: [bad_deployment, config_change, dependency_failure, traffic_surge, cpu_saturation,
             memory_leak, database_saturation, dns_failure, certificate_expiry]
services: ["*"]
actions:
  - action: restart_pod
    target: "{target}"
  - action: scale_replicas
    target: "{namespace}/{deployment}"
    params: {delta: 2}
  - action: rollback_deployment
    target: "{target}"
---
Restart, scale out, roll back.
"""


def alert(now: datetime, text: str = "checkout error ratio is 12%") -> bytes:
    body = {
        "receiver": "sre-copilot",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "HighErrorRate",
                    "service": "checkout",
                    "severity": "critical",
                },
                "annotations": {"summary": text},
                "startsAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "c0ffee00000000a1",
            }
        ],
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
    }
    return json.dumps(body).encode()


@dataclass
class Env:
    live: Live
    slack: SlackServer

    @property
    def store(self) -> SqliteStore:
        return self.live.runtime.store  # type: ignore[return-value]

    def click(
        self, kind: ActionKind, record: ActionRecord | None, user: str, *, incident: str = ""
    ) -> int:
        value = ActionValue(
            incident_id=record.incident_id if record else incident,
            tenant_id="acme",
            proposal_id=record.id if record else None,
        )
        payload = {
            "type": "block_actions",
            "team": {"id": "T0ACME"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0ACME"},
            "channel": {"id": "C0INC"},
            "response_url": self.slack.response_url(user),
            "actions": [{"action_id": action_id(kind), "value": encode_value(value)}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        timestamp = str(int(time.time()))
        digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
        headers = {
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": f"v0={digest.hexdigest()}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return self.live.post("/api/slack/interactions", body, headers).status

    def records(self) -> dict[str, ActionRecord]:
        return {r.action: r for r in list_records(self.store, "acme")}

    def executed(self, record: ActionRecord) -> list[dict[str, Any]]:
        """The dry-run executor's ledger entries for this proposal (any attempt)."""
        return [
            d
            for d in self.store.query(Container.DEDUP, "acme")
            if str(d.get("id", "")).startswith("exec:") and record.id in str(d.get("id"))
        ]

    def idle(self) -> None:
        assert self.live.host.wait_for_idle(timeout=30)

    def advance(self, delta: timedelta) -> None:
        self.idle()
        self.live.clock.advance(delta)
        self.idle()

    def last_reply(self, user: str) -> str:
        assert wait_for(lambda: self.slack.replies_to(user))
        return str(self.slack.replies_to(user)[-1]["text"])

    def thread(self) -> list[str]:
        """Plain lines in the incident's thread (the proposals' own messages have blocks)."""
        return [
            str(m["text"])
            for m in list(self.slack.messages.values())
            if m.get("thread_ts") and not m.get("blocks")
        ]

    def buttons(self) -> dict[str, list[str]]:
        """Labels of the buttons on each current message, by its text."""
        found: dict[str, list[str]] = {}
        for message in list(self.slack.messages.values()):
            labels = [
                e["text"]["text"]
                for b in message.get("blocks", [])
                if b.get("type") == "actions"
                for e in b.get("elements", [])
            ]
            found[message.get("text", "")] = labels
        return found


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "rb-checkout-recovery.md").write_text(RUNBOOK)
    with SlackServer() as slack:
        settings = Settings(
            home=tmp_path / "home",
            echo_messages=False,
            slack_signing_secret=SecretStr(SECRET),
            slack_api_base_url=slack.base_url,
            runbooks_dir=runbooks,
        )
        store = SqliteStore(settings.sqlite_path)
        clock = ManualClock(datetime.now(UTC))
        runtime = bootstrap.configure(bootstrap.build(settings, store=store, clock=clock))
        tenant = make_tenant().model_copy(
            update={
                "slack_team_id": "T0ACME",
                "slack_channel_id": "C0INC",
                "slack_bot_token": SecretStr("xoxb-test"),
                "responders": ("U0ALICE", "U0LEAD"),
                "topology": Topology(
                    services=(Service(name="checkout", instances=("node-1", "node-2", "node-3")),)
                ),
            }
        )
        runtime.tenants.add(tenant)
        set_policy(store, "acme", POLICY, now=clock.now(), actor="test")
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


def open_incident(env: Env) -> str:
    change = {
        "kind": "deployment",
        "service": "checkout",
        "version": "v2.4.1",
        "previous_version": "v2.4.0",
        "description": "deploy checkout v2.4.1",
        "at": (env.live.clock.now() - timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    headers = {"Authorization": "Bearer chg-token"}
    assert (
        env.live.post("/api/tenants/acme/changes", json.dumps(change).encode(), headers).status
        == 202
    )
    opened = env.live.post(
        "/api/tenants/acme/webhooks/alertmanager", alert(env.live.clock.now()), AM
    )
    assert opened.status == 202, opened.text
    env.idle()
    return str(opened.body["incident_id"])


def test_one_incident_leads_to_the_three_behaviours(env: Env) -> None:
    open_incident(env)
    records = env.records()
    assert set(records) == {"restart_pod", "scale_replicas", "rollback_deployment"}
    restart, scale, rollback = (
        records["restart_pod"],
        records["scale_replicas"],
        records["rollback_deployment"],
    )
    # Low risk ran at once; medium is announced with Stop; high waits with Approve / Reject.
    assert restart.state == "executing" and len(env.executed(restart)) == 1
    assert scale.state == "announced" and env.executed(scale) == []
    assert rollback.state == "awaiting_approval" and env.executed(rollback) == []
    assert (scale.target, scale.params, rollback.target) == (
        "default/checkout",
        {"delta": 2},
        "default/checkout",
    )
    labels = env.buttons()
    assert ["Stop"] in labels.values()
    assert ["Approve", "Reject"] in labels.values()
    assert any("Propose fix" in b for b in labels.values())  # on the incident message

    # A responder who is not an approver cannot approve.
    assert env.click(ActionKind.APPROVE, rollback, "U0ALICE") == 200
    assert "can approve" in env.last_reply("U0ALICE")
    # The approver approves twice: it runs once.
    assert env.click(ActionKind.APPROVE, rollback, "U0LEAD") == 200
    assert "You approved" in env.last_reply("U0LEAD")
    assert env.click(ActionKind.APPROVE, rollback, "U0LEAD") == 200
    assert wait_for(lambda: len(env.slack.replies_to("U0LEAD")) == 2)
    assert "already" in env.last_reply("U0LEAD")
    env.idle()
    assert env.records()["rollback_deployment"].state == "executing"

    # The announce window passes without a Stop: the scale-out runs; settle, verify.
    env.advance(timedelta(seconds=6))
    assert env.records()["scale_replicas"].state == "executing"
    env.advance(VERIFY_AFTER + timedelta(seconds=1))
    env.advance(VERIFY_AFTER + timedelta(seconds=1))
    final = env.records()
    assert {a: r.state.value for a, r in final.items()} == {
        "restart_pod": "verified",
        "scale_replicas": "verified",
        "rollback_deployment": "verified",
    }
    assert final["rollback_deployment"].decided_by == "U0LEAD"
    assert final["restart_pod"].decided_by is None
    assert all(len(env.executed(r)) == 1 for r in final.values())
    # The buttons are gone once settled; the thread tells the outcome.
    assert not any(v for k, v in env.buttons().items() if k.startswith("Remediation"))
    assert sum("done and verified" in t for t in env.thread()) == 3, env.thread()
    assert verify(env.store, "acme").ok
    kinds = [d["action"] for d in env.store.query(Container.AUDIT, "acme")]
    for what in (
        "proposed",
        "awaiting_approval",
        "announced",
        "approved",
        "approval_refused",
        "execution_started",
        "executed",
        "verification",
        "verified",
    ):
        assert f"remediation.{what}" in kinds, what


def test_stop_and_reject_prevent_execution_and_late_answers_change_nothing(env: Env) -> None:
    open_incident(env)
    records = env.records()
    scale, rollback = records["scale_replicas"], records["rollback_deployment"]

    assert env.click(ActionKind.STOP, scale, "U0ALICE") == 200
    assert "You stopped" in env.last_reply("U0ALICE")
    assert env.click(ActionKind.REJECT, rollback, "U0LEAD") == 200
    assert "You rejected" in env.last_reply("U0LEAD")
    env.advance(timedelta(minutes=11))  # past the announce window and the approval expiry

    after = env.records()
    assert after["scale_replicas"].state == "vetoed"
    assert after["scale_replicas"].decided_by == "U0ALICE"
    assert after["rollback_deployment"].state == "rejected"
    assert after["rollback_deployment"].decided_by == "U0LEAD"
    assert env.executed(scale) == [] and env.executed(rollback) == []

    # An approval after the Reject, a Stop after the Stop: a clear reply, nothing changes.
    assert env.click(ActionKind.APPROVE, rollback, "U0LEAD") == 200
    assert wait_for(lambda: len(env.slack.replies_to("U0LEAD")) == 2)
    assert "rejected" in env.last_reply("U0LEAD") and "nothing changed" in env.last_reply("U0LEAD")
    assert env.click(ActionKind.STOP, scale, "U0LEAD") == 200
    assert wait_for(lambda: len(env.slack.replies_to("U0LEAD")) == 3)
    assert "stopped" in env.last_reply("U0LEAD")
    env.idle()
    assert env.executed(rollback) == [] and env.records()["rollback_deployment"].state == "rejected"
    assert any("stopped by U0ALICE" in t for t in env.thread()), env.thread()
    assert any("rejected by U0LEAD" in t for t in env.thread()), env.thread()
    assert verify(env.store, "acme").ok


def test_an_approval_after_the_expiry_changes_nothing(env: Env) -> None:
    open_incident(env)
    rollback = env.records()["rollback_deployment"]

    env.advance(timedelta(seconds=601))

    assert env.records()["rollback_deployment"].state == "expired"
    assert env.click(ActionKind.APPROVE, rollback, "U0LEAD") == 200
    assert "expired" in env.last_reply("U0LEAD")
    env.idle()
    record = env.records()["rollback_deployment"]
    assert record.state == "expired" and record.decided_by is None
    assert env.executed(rollback) == []


def test_propose_fix_proposes_again_only_what_is_not_open(env: Env) -> None:
    incident_id = open_incident(env)
    scale = env.records()["scale_replicas"]
    assert env.click(ActionKind.STOP, scale, "U0ALICE") == 200
    env.idle()

    assert env.click(ActionKind.PROPOSE_FIX, None, "U0ALICE", incident=incident_id) == 200
    assert wait_for(lambda: len(env.slack.replies_to("U0ALICE")) == 2)
    reply = env.last_reply("U0ALICE")
    assert "scale_replicas on default/checkout (medium risk, active): proposed" in reply
    assert "rollback_deployment on default/checkout: already proposed and open" in reply
    env.idle()
    scales = [r for r in list_records(env.store, "acme") if r.action == "scale_replicas"]
    assert sorted(r.state.value for r in scales) == ["announced", "vetoed"]
    assert {r.origin for r in scales} == {"analysis", "button"}


def test_a_begin_that_keeps_failing_ends_failed_and_says_why(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Admission that never gets its write in (retries exhausted): nothing runs, the
    record ends failed with the reason, the thread is told, no claim is left."""

    def jammed(*args: Any, **kwargs: Any) -> Any:
        raise PreconditionFailed("remediation admission of acme: too many concurrent writes")

    monkeypatch.setattr(admission, "admit", jammed)
    open_incident(env)
    for _ in range(8):  # the activity's retries back off on the test's clock
        env.advance(timedelta(seconds=30))

    restart = env.records()["restart_pod"]
    assert restart.state == "failed" and env.executed(restart) == []
    assert restart.why.startswith("could not begin: ")
    assert restart.why.endswith("remediation admission of acme: too many concurrent writes")
    assert any("restart_pod" in t and "could not begin" in t for t in env.thread())
    assert admission.claims(env.store, "acme") == ()
