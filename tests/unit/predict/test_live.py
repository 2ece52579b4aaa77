"""The live forecast sweep end to end: the tenant's metrics file, the real Slack SDK, clicks.

The same ``run_sweep`` the 15-minute timer and ``predict run`` call, over the
embedded metrics file adapter, posting through ``Runtime.chat_for`` to the
local Slack test server (chat.postMessage, then the files API for the chart).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.cli import app
from shared.clock import FixedClock
from shared.models.tenant import Tenant
from shared.notify.actions import ActionKind, ActionValue, action_id, encode_value
from shared.notify.interactions import InteractionOutcome, OutcomeKind, handle_action
from shared.notify.slack_requests import InteractionAction
from shared.ports.store import Container, Filter
from shared.predict.chart import PNG_SIGNATURE
from shared.predict.live import SweepRun, run_sweep
from shared.predict.sweep import Action
from shared.settings import Settings
from tests.fixtures.slack_server import SlackServer
from tests.unit.predict.filling import write_metrics
from tests.unit.predict.synthetic import NOW

CHANNEL = "C0CAPACITY"


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


def _tenant(metrics: Path, tenant_id: str = "acme", team: str = "T1") -> Tenant:
    return Tenant(
        id=tenant_id,
        tenant_id=tenant_id,
        name=tenant_id.title(),
        slack_team_id=team,
        slack_channel_id=CHANNEL,
        metrics_file=str(metrics),
    )


@pytest.fixture
def rt(tmp_path: Path, slack: SlackServer) -> Iterator[bootstrap.Runtime]:
    settings = Settings(
        home=tmp_path,
        echo_messages=False,
        slack_bot_token=SecretStr("xoxb-test"),
        slack_api_base_url=slack.base_url,
    )
    store = SqliteStore(settings.sqlite_path)
    runtime = bootstrap.build(settings, store=store, clock=FixedClock(NOW))
    metrics = write_metrics(tmp_path / "metrics.om")
    runtime.tenants.add(_tenant(metrics))
    runtime.tenants.add(_tenant(metrics, "globex", "T2"))
    yield runtime
    runtime.close()
    store.close()


def _sweep(rt: bootstrap.Runtime, minutes: int, tenant: str = "acme") -> SweepRun:
    return run_sweep(rt, rt.tenants.get(tenant), NOW + timedelta(minutes=minutes))


def test_a_filling_disk_is_posted_once_with_a_chart_then_once_more_when_much_worse(
    rt: bootstrap.Runtime, slack: SlackServer
) -> None:
    first = _sweep(rt, 0)

    (new,) = first.deliveries
    assert (new.action, new.outcome, new.key) == (Action.NEW, "posted", "db-1|/data")
    assert new.text.startswith("/data on db-1 will be full in about 4 h (")
    (post,) = slack.calls_of("chat.postMessage")
    assert post.body["channel"] == CHANNEL
    assert [b["type"] for b in post.body["blocks"]][-1] == "actions"
    (chart,) = slack.completed_uploads()
    assert chart.content is not None and chart.content.startswith(PNG_SIGNATURE)
    assert (chart.channel, chart.thread_ts, chart.file_id) == (CHANNEL, new.ts, new.chart)
    assert {p.where for p in first.result.predictions} == {"/data on db-1", "/ on web-1"}

    assert _sweep(rt, 15).deliveries == ()  # the same prediction is not repeated
    worse = _sweep(rt, 30)
    (follow,) = worse.deliveries
    assert (follow.action, follow.outcome) == (Action.WORSE, "posted")
    assert follow.text.startswith("Worse: /data on db-1 now about 1.5 h")
    assert follow.forecast_id != new.forecast_id
    assert len(slack.completed_uploads()) == 2
    assert _sweep(rt, 45).deliveries == ()
    assert _sweep(rt, 60).deliveries == ()
    assert len(slack.calls_of("chat.postMessage")) == 2


def test_a_post_that_failed_is_tried_again_on_the_next_run(
    rt: bootstrap.Runtime, slack: SlackServer
) -> None:
    slack.server_error("chat.postMessage", times=1, status=503)

    (failed,) = _sweep(rt, 0).deliveries
    assert failed.outcome == "failed" and "503" in (failed.error or "")
    (again,) = _sweep(rt, 15).deliveries
    assert (again.action, again.outcome) == (Action.NEW, "posted")


def test_a_chart_upload_that_fails_leaves_the_message_and_is_not_posted_twice(
    rt: bootstrap.Runtime, slack: SlackServer
) -> None:
    slack.fail("files.getUploadURLExternal", "file_uploads_disabled")

    (posted,) = _sweep(rt, 0).deliveries
    assert posted.outcome == "posted" and posted.chart is None
    assert _sweep(rt, 15).deliveries == ()


def _click(
    rt: bootstrap.Runtime,
    forecast_id: str,
    kind: ActionKind,
    *,
    user: str = "U1",
    team: str = "T1",
    tenant: str = "acme",
) -> InteractionOutcome:
    value = encode_value(ActionValue(incident_id=forecast_id, tenant_id=tenant))
    action = InteractionAction(
        team_id=team,
        user_id=user,
        user_name=user.lower(),
        kind=kind,
        action_id=action_id(kind),
        value=value,
        tenant_id=tenant,
        incident_id=forecast_id,
        rank=None,
        category=None,
        target=None,
        model_version=None,
        response_url="http://127.0.0.1:9/unused",
        channel_id=CHANNEL,
        message_ts="1.0",
        trigger_id=None,
    )
    return handle_action(rt, action)


def test_clicks_are_checked_against_the_tenant_and_kept_as_feedback(
    rt: bootstrap.Runtime,
) -> None:
    (new,) = _sweep(rt, 0).deliveries
    (other,) = _sweep(rt, 0, "globex").deliveries
    fid = new.forecast_id
    assert fid is not None and other.forecast_id is not None

    ack = _click(rt, fid, ActionKind.FORECAST_ACK)
    assert ack.kind is OutcomeKind.ACKNOWLEDGED and ack.event is None
    assert "/data on db-1" in ack.text
    assert _click(rt, fid, ActionKind.FORECAST_ACK).kind is OutcomeKind.DUPLICATE
    changed = _click(rt, fid, ActionKind.FORECAST_NOT_A_PROBLEM)
    assert changed.kind is OutcomeKind.FEEDBACK_RECORDED and "(was acknowledged)" in changed.text
    (doc,) = rt.store.query(Container.FEEDBACK, "acme", [Filter("forecast_id", "=", fid)])
    assert (doc["verdict"], doc["kind"], doc["user_id"]) == ("not_a_problem", "forecast", "U1")
    audit = rt.store.query(Container.AUDIT, "acme", [Filter("subject", "=", f"forecast:{fid}")])
    assert sorted(a["action"] for a in audit) == ["forecast.acknowledged", "forecast.not_a_problem"]

    # Another tenant's forecast, named from this workspace: refused, nothing written.
    foreign = _click(rt, other.forecast_id, ActionKind.FORECAST_ACK)
    assert foreign.kind is OutcomeKind.UNKNOWN_INCIDENT
    posing = _click(rt, other.forecast_id, ActionKind.FORECAST_ACK, tenant="globex")
    assert posing.kind is OutcomeKind.NOT_AUTHORISED
    for bad in ("FC-0000000000000000", "../incidents/x", "INC-1"):
        assert _click(rt, bad, ActionKind.FORECAST_ACK).kind is OutcomeKind.UNKNOWN_INCIDENT
    assert rt.store.query(Container.FEEDBACK, "globex") == []


def test_not_a_problem_keeps_the_worse_follow_up_quiet(
    rt: bootstrap.Runtime, slack: SlackServer
) -> None:
    (new,) = _sweep(rt, 0).deliveries
    assert new.forecast_id is not None
    _click(rt, new.forecast_id, ActionKind.FORECAST_NOT_A_PROBLEM)

    (quiet,) = _sweep(rt, 30).deliveries
    assert (quiet.action, quiet.outcome) == (Action.WORSE, "suppressed")
    assert _sweep(rt, 45).deliveries == ()
    assert len(slack.calls_of("chat.postMessage")) == 1


def test_a_risk_that_passes_is_said_in_the_thread_of_the_last_post(
    tmp_path: Path, rt: bootstrap.Runtime, slack: SlackServer
) -> None:
    (new,) = _sweep(rt, 0).deliveries
    # The disk is cleaned up: the same host now has plenty of room and is not filling.
    write_metrics(tmp_path / "metrics.om", cleaned_at=NOW + timedelta(minutes=5))
    (passed,) = _sweep(rt, 120).deliveries
    assert (passed.action, passed.outcome) == (Action.CLEAR, "replied")
    assert passed.text == "Risk passed: /data on db-1 is no longer filling"
    reply = slack.messages[(CHANNEL, passed.ts or "")]
    assert reply["thread_ts"] == new.ts
    assert _sweep(rt, 135).deliveries == ()


def test_without_a_slack_token_the_terminal_keeps_the_message_and_its_chart(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path, echo_messages=False)
    store = SqliteStore(settings.sqlite_path)
    runtime = bootstrap.build(settings, store=store)
    runtime.tenants.add(_tenant(write_metrics(tmp_path / "metrics.om")))
    try:
        (new,) = run_sweep(runtime, runtime.tenants.get("acme"), NOW).deliveries
    finally:
        runtime.close()
        store.close()
    assert new.outcome == "posted" and new.chart is not None
    assert Path(new.chart).read_bytes().startswith(PNG_SIGNATURE)
    saved = json.loads((tmp_path / "messages" / f"acme__{new.forecast_id}.json").read_text())
    assert saved["text"] == new.text and saved["files"][0]["path"] == new.chart


def test_predict_run_prints_what_it_posted_and_a_second_run_posts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SRE_COPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SRE_COPILOT_STORE", "sqlite")
    monkeypatch.setenv("SRE_COPILOT_ECHO_MESSAGES", "false")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SRE_COPILOT_SLACK_BOT_TOKEN", raising=False)
    settings = Settings()
    store = SqliteStore(settings.sqlite_path)
    try:
        bootstrap.build(settings, store=store).tenants.add(
            _tenant(write_metrics(tmp_path / "metrics.om"))
        )
    finally:
        store.close()
    runner = CliRunner()
    at = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")

    first = runner.invoke(app, ["predict", "run", "--tenant", "acme", "--at", at, "--json"])
    assert first.exit_code == 0, first.output
    doc = json.loads(first.output)
    (posted,) = doc["posted"]
    assert posted["action"] == "new" and posted["outcome"] == "posted"
    assert posted["text"].startswith("/data on db-1 will be full in about 4 h")
    assert {fs["where"] for fs in doc["filesystems"]} == {"/data on db-1", "/ on web-1"}

    again = runner.invoke(app, ["predict", "run", "--tenant", "acme", "--at", at])
    assert again.exit_code == 0, again.output
    assert "nothing to post" in again.output and "/data on db-1: filling" in again.output

    bad = runner.invoke(app, ["predict", "run", "--tenant", "acme", "--at", "yesterday"])
    assert bad.exit_code == 2 and "not an ISO time" in bad.output
    unknown = runner.invoke(app, ["predict", "run", "--tenant", "nobody"])
    assert unknown.exit_code == 2
