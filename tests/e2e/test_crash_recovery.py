"""`kill -9` the host mid-analysis: it starts again, and the incident gets its one message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks.harness import free_port, tail
from shared.adapters.store.sqlite import SqliteStore
from shared.settings import Settings
from shared.tenants.registry import TenantRegistry

from .conftest import REPO, make_tenant

pytestmark = pytest.mark.e2e

FIRING = Path(__file__).parents[1] / "fixtures" / "payloads" / "alertmanager_firing.json"


def serve(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRE_COPILOT_", "SLACK_"))}
    env |= {"SRE_COPILOT_HOME": str(home), "SRE_COPILOT_ECHO_MESSAGES": "false"}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1)
        except urllib.error.HTTPError:
            return proc  # it answers: listening
        except OSError:
            pass
        else:
            return proc
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the host did not start:\n{tail(log)}")
        time.sleep(0.05)


def post_alert(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/tenants/acme/webhooks/alertmanager",
        data=FIRING.read_bytes(),
        headers={"Authorization": "Bearer am-token"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return str(json.loads(reply.read())["incident_id"])


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_a_host_killed_mid_analysis_restarts_and_posts_the_message_once(
    tmp_path: Path, delay: float
) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    store = SqliteStore(settings.sqlite_path)
    TenantRegistry(store).add(make_tenant())
    store.close()
    log = tmp_path / "host.log"
    port = free_port()
    first = serve(home, port, log)
    try:
        incident_id = post_alert(port)
        time.sleep(delay)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    second = serve(home, port, log)
    try:
        saved = settings.messages_dir / f"acme__{incident_id}.json"
        deadline = time.monotonic() + 30
        while not saved.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert saved.is_file(), tail(log)
        message = json.loads(saved.read_text())
        assert incident_id in message["text"]
        assert "Traceback" not in log.read_text(errors="replace")
        assert second.poll() is None  # recovered and still serving
    finally:
        second.terminate()
        second.wait(timeout=15)
