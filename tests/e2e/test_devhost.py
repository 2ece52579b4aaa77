"""The local host over real HTTP: the fixture app's approval flow, restarts, errors.

The app (``tests/fixtures/devhost_app``) starts an orchestration from an HTTP
function through the SDK's real ``DurableOrchestrationClient``; the
orchestrator races an ``approval`` event against a five-minute durable timer.
Time is a ``ManualClock``, so the timer path takes no waiting.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.durable_functions import DurableOrchestrationClient

from devhost import DEFAULT_MAX_BODY_BYTES, DevHost, ManualClock, load_function_app
from devhost.durable_api import client_binding
from devhost.server import host_loop
from shared.adapters.store.sqlite import SqliteStore

pytestmark = pytest.mark.e2e

APP_PATH = Path(__file__).parents[1] / "fixtures" / "devhost_app" / "function_app.py"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Reply:
    status: int
    body: Any
    text: str
    headers: dict[str, str]


def call(
    host: DevHost,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    url = path if path.startswith("http") else host.base_url + path
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw, found = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, raw, found = exc.code, exc.read(), dict(exc.headers)
    text = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text else None
    except json.JSONDecodeError:
        parsed = None
    return Reply(status, parsed, text, found)


def on_host_loop[T](coro: Coroutine[Any, Any, T]) -> T:
    """Run the SDK client where the host runs it: its session is bound to that loop."""
    return asyncio.run_coroutine_threadsafe(coro, host_loop()).result(timeout=10)


@pytest.fixture(scope="module")
def app() -> Any:
    return load_function_app(APP_PATH)


@pytest.fixture(scope="module")
def fixture_module(app: Any) -> ModuleType:
    """The module the host imported the app from: its gate and tick list are the live ones."""
    return next(m for m in list(sys.modules.values()) if getattr(m, "app", None) is app)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    yield store
    store.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def host(
    app: Any, store: SqliteStore, clock: ManualClock, fixture_module: ModuleType
) -> Iterator[DevHost]:
    fixture_module.PREPARE_GATE.set()
    devhost = DevHost(app, store, clock=clock, run_timers=False)
    devhost.start()
    try:
        yield devhost
    finally:
        fixture_module.PREPARE_GATE.set()
        devhost.stop()


def start_approval(host: DevHost, instance_id: str | None = None) -> Reply:
    reply = call(
        host,
        "POST",
        "/api/approvals",
        json.dumps({"id": instance_id}).encode(),
        {"Content-Type": "application/json"},
    )
    assert reply.status == 202, reply.text
    return reply


def runtime_status(host: DevHost, instance_id: str) -> dict[str, Any]:
    status = host.instance_status(instance_id)
    assert status is not None
    return status


def test_approval_event_completes_the_orchestration(host: DevHost) -> None:
    started = start_approval(host)
    instance_id = started.body["id"]
    status_url = started.body["statusQueryGetUri"]
    assert started.headers["Location"] == status_url
    assert status_url.startswith(host.base_url + "/runtime/webhooks/durabletask/instances/")
    assert host.wait_for_idle()
    waiting = runtime_status(host, instance_id)
    assert (waiting["runtimeStatus"], waiting["customStatus"]) == ("Running", "waiting")
    assert waiting["input"] == {"id": None}
    assert call(host, "GET", status_url).status == 202

    approved = call(host, "POST", f"/api/approvals/{instance_id}/approve?by=ana")
    assert approved.status == 202, approved.text
    assert host.wait_for_idle()
    done = call(host, "GET", status_url)
    assert done.status == 200
    assert (done.body["runtimeStatus"], done.body["output"]) == ("Completed", "approved")
    via_client = call(host, "GET", f"/api/approvals/{instance_id}")
    assert via_client.body["output"] == "approved"

    again = call(host, "POST", f"/api/approvals/{instance_id}/approve")
    assert again.status == 409 and "gone" in again.body["error"]


def test_timer_wins_once_five_minutes_pass(host: DevHost, clock: ManualClock) -> None:
    instance_id = start_approval(host, "timer-case").body["id"]
    assert instance_id == "timer-case"
    assert host.wait_for_idle()
    clock.advance(timedelta(minutes=4, seconds=59))
    assert host.wait_for_idle()
    assert runtime_status(host, instance_id)["runtimeStatus"] == "Running"
    clock.advance(timedelta(seconds=1))
    assert host.wait_for_idle()
    status = runtime_status(host, instance_id)
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "timeout")


def test_event_raised_before_the_orchestrator_waits_is_delivered(
    host: DevHost, fixture_module: ModuleType
) -> None:
    fixture_module.PREPARE_GATE.clear()  # hold the activity: nobody waits for the event yet
    instance_id = start_approval(host).body["id"]
    assert call(host, "POST", f"/api/approvals/{instance_id}/approve?by=bo").status == 202
    assert runtime_status(host, instance_id)["runtimeStatus"] in ("Pending", "Running")
    # As in the Durable extension, the event goes into history with the next
    # episode although nothing waits for it yet; the SDK parks it for the wait.
    assert host.wait_for_idle(timeout=0.5) is False  # the activity is still held
    assert host.raised_events(instance_id) == [
        {"name": "approval", "input": {"by": "bo"}, "delivered": True}
    ]
    fixture_module.PREPARE_GATE.set()
    assert host.wait_for_idle()
    assert runtime_status(host, instance_id)["output"] == "approved"
    assert host.raised_events(instance_id) == [
        {"name": "approval", "input": {"by": "bo"}, "delivered": True}
    ]
    history = host.instance_status(instance_id, show_history=True)
    assert history is not None
    assert [e["EventType"] for e in history["historyEvents"]][-1] == 1  # ExecutionCompleted
    assert host.raised_events("nobody") is None


def test_a_restarted_host_resumes_waiting_instances(
    app: Any, store: SqliteStore, clock: ManualClock
) -> None:
    first = DevHost(app, store, clock=clock, run_timers=False)
    first.start()
    try:
        approved_id = start_approval(first, "to-approve").body["id"]
        timed_id = start_approval(first, "to-time-out").body["id"]
        assert first.wait_for_idle()
    finally:
        first.stop()

    second = DevHost(app, store, clock=clock, run_timers=False)
    second.start()
    try:
        assert runtime_status(second, approved_id)["runtimeStatus"] == "Running"
        reply = call(second, "POST", f"/api/approvals/{approved_id}/approve")
        assert reply.status == 202, reply.text
        clock.advance(timedelta(minutes=5))
        assert second.wait_for_idle()
        assert runtime_status(second, approved_id)["output"] == "approved"
        assert runtime_status(second, timed_id)["output"] == "timeout"
    finally:
        second.stop()


def test_the_sdk_client_drives_the_durable_api(host: DevHost) -> None:
    binding = client_binding(host.base_url, "SreCopilotHub", host.system_key)
    client = DurableOrchestrationClient(binding)
    instance_id = on_host_loop(client.start_new("approval_orchestrator", "sdk-1", {"id": "sdk-1"}))
    assert instance_id == "sdk-1"
    with pytest.raises(Exception, match="already exists"):
        on_host_loop(client.start_new("approval_orchestrator", "sdk-1", {}))
    with pytest.raises(Exception, match="doesn't exist"):
        on_host_loop(client.start_new("no_such_orchestrator"))
    assert host.wait_for_idle()
    status = on_host_loop(client.get_status("sdk-1", show_history=True))
    assert status.runtime_status.value == "Running" and status.input_ == {"id": "sdk-1"}
    assert any(event["EventType"] == 10 for event in status.historyEvents)  # TimerCreated
    with pytest.raises(Exception, match="412"):  # the SDK reports a running instance so
        on_host_loop(client.purge_instance_history("sdk-1"))
    on_host_loop(client.terminate("sdk-1", "not needed"))
    assert runtime_status(host, "sdk-1")["runtimeStatus"] == "Terminated"
    with pytest.raises(Exception, match="gone"):
        on_host_loop(client.raise_event("sdk-1", "approval", {}))
    listed = on_host_loop(client.get_status_all())
    assert [s.instance_id for s in listed] == ["sdk-1"]
    purged = on_host_loop(client.purge_instance_history("sdk-1"))
    assert purged.instances_deleted == 1
    assert not on_host_loop(client.get_status("sdk-1"))
    with pytest.raises(Exception, match="No instance"):
        on_host_loop(client.raise_event("sdk-1", "approval", {}))


def assert_json_error(reply: Reply, status: int) -> None:
    assert reply.status == status, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    assert isinstance(reply.body, dict) and reply.body["error"]
    assert "Traceback" not in reply.text and "secret" not in reply.text


def test_errors_are_json_without_tracebacks(host: DevHost) -> None:
    wrong_method = call(host, "GET", "/api/echo")
    assert_json_error(wrong_method, 405)
    assert wrong_method.body["allowed"] == ["POST", "PUT"]
    assert wrong_method.headers["Allow"] == "POST, PUT"
    assert_json_error(call(host, "GET", "/api/nothing-here"), 404)
    assert_json_error(call(host, "GET", "/not-under-api"), 404)
    assert_json_error(call(host, "GET", "/api/items/not-a-number"), 404)
    assert_json_error(call(host, "GET", "/api/boom"), 500)
    too_big = call(host, "POST", "/api/echo", b"x" * (DEFAULT_MAX_BODY_BYTES + 1))
    assert_json_error(too_big, 413)


def test_routes_params_and_bodies_reach_the_function(host: DevHost) -> None:
    item = call(host, "GET", "/api/items/42?q=disk")
    assert (item.status, item.body) == (200, {"id": 42, "q": "disk"})
    body = b"y" * DEFAULT_MAX_BODY_BYTES  # exactly the limit is fine
    echoed = call(host, "PUT", "/api/echo", body)
    assert echoed.status == 200 and len(echoed.text) == DEFAULT_MAX_BODY_BYTES


def test_a_chunked_body_over_the_limit_is_refused_without_buffering_it(host: DevHost) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"z" * 65536  # 4 MiB in all, no Content-Length

    parts = urlsplit(host.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("POST", "/api/echo", body=chunks(), encode_chunked=True)
        response = connection.getresponse()
        payload = json.loads(response.read())
    except (BrokenPipeError, ConnectionResetError):
        pytest.skip("the server closed the connection before the response was read")
    finally:
        connection.close()
    assert response.status == 413 and payload["error"] == "PayloadTooLarge"


def test_timer_trigger_runs_on_schedule_and_flags_late_runs(
    app: Any, store: SqliteStore, clock: ManualClock, fixture_module: ModuleType
) -> None:
    fixture_module.TICKS.clear()
    devhost = DevHost(app, store, clock=clock, run_timers=True)
    devhost.start()
    try:
        clock.advance(timedelta(seconds=30))
        assert devhost.wait_for_idle()
        assert fixture_module.TICKS == []
        clock.advance(timedelta(seconds=30))  # 00:01:00, on time
        assert devhost.wait_for_idle()
        assert fixture_module.TICKS == [False]
        clock.advance(timedelta(minutes=10))  # 00:02:00 was missed: one late run
        assert devhost.wait_for_idle()
        assert fixture_module.TICKS == [False, True]
    finally:
        devhost.stop()


SERVE_SCRIPT = """
import sys
from pathlib import Path
from shared.adapters.store.sqlite import SqliteStore
from devhost import serve_forever
store = SqliteStore(Path(sys.argv[2]))
try:
    serve_forever(Path(sys.argv[1]), store, "127.0.0.1", int(sys.argv[3]))
finally:
    store.close()
print("stopped cleanly", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_forever_stops_cleanly_on_a_signal(tmp_path: Path, signum: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    repo = Path(__file__).parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(APP_PATH), str(tmp_path / "s.db"), str(port)],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the host did not start"
            time.sleep(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/items/7", timeout=10) as reply:
            assert json.loads(reply.read())["id"] == 7
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped cleanly" in out
    assert "Traceback" not in err


def test_a_port_in_use_fails_start_and_the_next_host_can_serve(
    app: Any, store: SqliteStore, clock: ManualClock
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        blocked = DevHost(app, store, clock=clock, port=port, run_timers=False)
        with pytest.raises(OSError):
            blocked.start()
        blocked.stop()  # nothing to stop; must not hang
    with DevHost(app, store, clock=clock, run_timers=False) as devhost:
        assert call(devhost, "GET", "/api/items/1").status == 200
