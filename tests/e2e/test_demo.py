"""`make demo` in-process: sends bundles, shows and saves messages, posts to Slack when set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from devhost.demo import run_demo
from shared import bootstrap
from tests.fixtures.prometheus import free_port
from tests.fixtures.slack_server import SlackServer

REPO = Path(__file__).parents[2]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL", "SLACK_API_BASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SRE_COPILOT_HOME", str(tmp_path))
    monkeypatch.setenv("SRE_COPILOT_ECHO_MESSAGES", "false")
    yield tmp_path
    bootstrap.reset()


def test_demo_once_saves_a_full_message_per_incident(home: Path) -> None:
    console = Console(record=True, width=100)
    run_demo(REPO / "function_app.py", REPO, once=True, port=free_port(), count=1, console=console)
    saved = sorted((home / "demo" / "messages").glob("*.json"))
    assert saved, console.export_text()
    blocks = [json.loads(p.read_text())["blocks"] for p in saved]
    assert any("Likely root causes" in json.dumps(b) for b in blocks)
    # The live analysis weighs what the incident costs users (shared.triage).
    assert any("Impact *" in json.dumps(b) and "affects " in json.dumps(b) for b in blocks)
    assert "202 tenants/demo-" in console.export_text()


def test_demo_posts_to_slack_when_a_token_and_channel_are_set(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SlackServer() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_CHANNEL", "C0DEMO")
        monkeypatch.setenv("SLACK_API_BASE_URL", slack.base_url)
        console = Console(record=True, width=100)
        run_demo(
            REPO / "function_app.py", REPO, once=True, port=free_port(), count=1, console=console
        )
        posts = slack.calls_of("chat.postMessage")
    assert posts, "the demo posted nothing to Slack"
    assert {call.body.get("channel") for call in posts} == {"C0DEMO"}
