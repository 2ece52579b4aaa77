""" "Used <runbook>" through the local host: signed click, the orchestration, the thread.

Reuses ``test_slack_e2e``'s host (function app, Slack test server, a tenant
mapped to workspace T0ACME); the incident's analysis is given runbooks, as a
tenant with a runbook corpus would get.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from shared.incidents import stored_analysis
from shared.notify.actions import ActionKind, ActionValue, action_id, encode_value
from shared.notify.interactions import RUNBOOK_USED
from shared.ports.store import Container
from tests.e2e import test_slack_e2e as slack_e2e

pytestmark = pytest.mark.e2e

slack_live = slack_e2e.slack_live
RUNBOOKS = ({"id": "rb-restart", "title": "Restart", "score": 0.8},)


def used_body(env: slack_e2e.SlackLive, incident_id: str, runbook: str) -> bytes:
    value = ActionValue(incident_id=incident_id, tenant_id="acme", target=runbook)
    payload = {
        "type": "block_actions",
        "team": {"id": "T0ACME"},
        "user": {"id": "U0ALICE", "username": "alice", "team_id": "T0ACME"},
        "container": {"type": "message", "message_ts": "1.2", "channel_id": "C0INC"},
        "channel": {"id": "C0INC"},
        "response_url": env.slack.response_url("U0ALICE"),
        "actions": [
            {"action_id": action_id(ActionKind.RUNBOOK_USED, 1), "value": encode_value(value)}
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_used_runbook_is_recorded_once_answered_and_noted_in_the_thread(
    slack_live: slack_e2e.SlackLive,
) -> None:
    incident_id = slack_e2e.open_incident(slack_live)
    store = slack_live.live.runtime.store
    analysis = stored_analysis.load(store, "acme", incident_id)
    assert analysis is not None
    stored_analysis.save(store, "acme", analysis.model_copy(update={"runbooks": RUNBOOKS}))

    for runbook in ("rb-restart", "rb-restart", "rb-not-listed"):
        reply = slack_live.signed(
            "/api/slack/interactions", used_body(slack_live, incident_id, runbook)
        )
        assert reply.status == 200
    assert slack_live.live.host.wait_for_idle(timeout=20)
    assert slack_e2e.wait_for(lambda: len(slack_live.slack.replies_to("U0ALICE")) == 3)

    answers = [r["text"] for r in slack_live.slack.replies_to("U0ALICE")]
    assert all(r["response_type"] == "ephemeral" for r in slack_live.slack.replies_to("U0ALICE"))
    assert sum("recorded that you used" in a for a in answers) == 1, answers
    assert sum("already" in a for a in answers) == 1, answers
    assert sum("not one the analysis" in a for a in answers) == 1, answers
    recorded = [d for d in store.query(Container.AUDIT, "acme") if d["action"] == RUNBOOK_USED]
    assert [d["detail"]["runbook_id"] for d in recorded] == ["rb-restart"]
    saved = slack_live.live.runtime.settings.messages_dir / f"acme__{incident_id}.json"
    message = json.loads(saved.read_text())
    thread = [line["text"] for line in message["thread"]]
    assert sum(line.endswith("used rb-restart") for line in thread) == 1, thread
    buttons = [
        e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert action_id(ActionKind.RUNBOOK_USED, 1) in buttons
