"""Failures degrade, they do not orphan: transient faults, permanent ones, a lost start."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from devhost import DevHost, ManualClock, load_function_app
from functions.incident import FIRST_RETRY
from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.errors import StoreUnavailable
from shared.incidents import analysis as incident_analysis
from shared.incidents import steps
from shared.settings import Settings
from tests.fixtures.slack_server import SlackServer

from .conftest import REPO, Live, make_tenant

PAYLOADS = Path(__file__).parents[1] / "fixtures" / "payloads"
AM_PATH = "/api/tenants/acme/webhooks/alertmanager"
AM_AUTH = {"Authorization": "Bearer am-token"}


def firing() -> bytes:
    """checkout's errors alone: one incident (the fixture's disk alert is another cause)."""
    data = json.loads((PAYLOADS / "alertmanager_firing.json").read_bytes())
    data["alerts"] = data["alerts"][:1]
    return json.dumps(data).encode()


def failing_first(times: int, real: Callable[..., Any], error: Exception) -> Callable[..., Any]:
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return real(*args, **kwargs)

    return flaky


def drain_retries(live: Live, rounds: int = 6) -> None:
    """Let backoff timers fire: the clock is the test's."""
    for _ in range(rounds):
        assert live.host.wait_for_idle(timeout=20)
        live.clock.advance(FIRST_RETRY * 16)
    assert live.host.wait_for_idle(timeout=20)


def test_a_delivery_failing_twice_is_retried_and_posted_once(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack (or the store) failing the first calls: one message, posted once, in the end."""
    flaky = failing_first(2, steps.post_or_update, StoreUnavailable("throttled (429)"))
    monkeypatch.setattr(steps, "post_or_update", flaky)
    incident_id = live.post(AM_PATH, firing(), AM_AUTH).body["incident_id"]
    drain_retries(live)
    saved = live.runtime.settings.messages_dir / f"acme__{incident_id}.json"
    message = json.loads(saved.read_text())
    assert incident_id in message["text"]
    status = live.host.instance_status(f"acme--{incident_id}")
    assert status is not None and status["runtimeStatus"] == "Running"
    posts = list(live.runtime.settings.messages_dir.glob(f"acme__{incident_id}*.json"))
    assert len(posts) == 1


def test_a_step_that_keeps_failing_degrades_the_message_instead_of_failing(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("detector crashed")

    monkeypatch.setattr(incident_analysis, "detect", broken)
    incident_id = live.post(AM_PATH, firing(), AM_AUTH).body["incident_id"]
    drain_retries(live)
    saved = live.runtime.settings.messages_dir / f"acme__{incident_id}.json"
    blocks = json.dumps(json.loads(saved.read_text())["blocks"])
    assert "Partial result" in blocks and "detectors failed" in blocks
    status = live.host.instance_status(f"acme--{incident_id}")
    assert status is not None and status["runtimeStatus"] == "Running"


def test_an_incident_whose_start_was_lost_is_started_by_reconciliation(live: Live) -> None:
    """The crash window between "delivery recorded" and "orchestration started"."""
    receipt = live.runtime.ingest.alertmanager("acme", AM_AUTH, firing())  # no start: "crash"
    (touch,) = receipt.incidents
    assert live.host.instance_status(f"acme--{touch.incident_id}") is None
    live.host.stop()
    again = DevHost(
        load_function_app(REPO / "function_app.py"),
        live.runtime.store,
        clock=live.clock,
        run_timers=True,  # reconciliation runs at start-up, then every 5 minutes
    )
    again.start()
    try:
        assert again.wait_for_idle(timeout=20)
        status = again.instance_status(f"acme--{touch.incident_id}")
        assert status is not None and status["runtimeStatus"] == "Running"
        saved = live.runtime.settings.messages_dir / f"acme__{touch.incident_id}.json"
        assert touch.incident_id in json.loads(saved.read_text())["text"]
    finally:
        again.stop()


@pytest.fixture
def slack_backed(tmp_path: Path) -> Iterator[tuple[Live, SlackServer]]:
    """A live host whose tenant posts to the Slack test server through the real WebClient."""
    with SlackServer() as slack:
        settings = Settings(
            home=tmp_path / "home",
            echo_messages=False,
            slack_bot_token=SecretStr("xoxb-test"),
            slack_api_base_url=slack.base_url,
        )
        store = SqliteStore(settings.sqlite_path)
        runtime = bootstrap.configure(bootstrap.build(settings, store=store))
        tenant = make_tenant().model_copy(update={"slack_channel_id": "C0INC"})
        runtime.tenants.add(tenant)
        clock = ManualClock(datetime.now(UTC))
        host = DevHost(
            load_function_app(REPO / "function_app.py"), store, clock=clock, run_timers=False
        )
        host.start()
        try:
            yield Live(host=host, runtime=runtime, tenant=tenant, clock=clock), slack
        finally:
            host.stop()
            bootstrap.reset()
            store.close()


@pytest.mark.parametrize("fault", ["server_error", "rate_limit"])
def test_slack_failing_its_first_calls_still_gets_one_message(
    slack_backed: tuple[Live, SlackServer], fault: str
) -> None:
    """Slack answering 5xx (or 429) to the first calls: the message is posted once, in the end."""
    live, slack = slack_backed
    getattr(slack, fault)("chat.postMessage", times=6)
    incident_id = live.post(AM_PATH, firing(), AM_AUTH).body["incident_id"]
    drain_retries(live, rounds=10)
    posted = [
        m for m in slack.messages.values() if incident_id in m["text"] and not m.get("thread_ts")
    ]
    assert len(posted) == 1
    attempts = [c for c in slack.calls_of("chat.postMessage") if not c.body.get("thread_ts")]
    assert len(attempts) > 6  # it did meet the failures, and got through them
    status = live.host.instance_status(f"acme--{incident_id}")
    assert status is not None and status["runtimeStatus"] == "Running"


def test_prometheus_down_still_gets_a_message_that_says_metrics_are_missing(live: Live) -> None:
    from benchmarks.harness import free_port

    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    tenant = live.runtime.tenants.get("acme")
    live.runtime.tenants.add(tenant.model_copy(update={"prometheus_url": closed}), replace=True)
    incident_id = live.post(AM_PATH, firing(), AM_AUTH).body["incident_id"]
    drain_retries(live)
    saved = live.runtime.settings.messages_dir / f"acme__{incident_id}.json"
    message = json.loads(saved.read_text())
    assert incident_id in message["text"]
    snapshot = incident_analysis.snapshot_of(live.runtime, "acme", incident_id)
    metrics = [s for s in snapshot["sources"] if s["name"].startswith("metrics")]
    assert metrics and not any(s["ok"] for s in metrics)
    blocks = json.dumps(message["blocks"])
    # Either the partial-result line or the "insufficient evidence" one names the outage.
    assert "Partial result: metrics:" in blocks or "metrics source not reachable" in blocks
    status = live.host.instance_status(f"acme--{incident_id}")
    assert status is not None and status["runtimeStatus"] == "Running"
