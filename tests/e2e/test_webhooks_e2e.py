"""Webhooks through the local host over real HTTP, into incidents and messages."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from shared.errors import StoreUnavailable
from shared.incidents import work
from shared.ingestion.auth import pagerduty_signature
from shared.ports.store import Container, Filter

from .conftest import Live

PAYLOADS = Path(__file__).parents[1] / "fixtures" / "payloads"
AM_PATH = "/api/tenants/acme/webhooks/alertmanager"
PD_PATH = "/api/tenants/acme/webhooks/pagerduty"
AM_AUTH = {"Authorization": "Bearer am-token", "Content-Type": "application/json"}


def raw(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def test_alertmanager_delivery_opens_incident_and_posts_message(live: Live) -> None:
    reply = live.post(AM_PATH, raw("alertmanager_firing.json"), AM_AUTH)
    assert reply.status == 202, reply.text
    # One group, two causes: node-3's disk (the earlier onset, listed first), checkout's errors.
    disk, incident_id = reply.body["incidents"]
    assert reply.body["incident_id"] == disk
    assert reply.body["status"] == "accepted"
    assert live.host.wait_for_idle(timeout=20)
    saved = live.runtime.settings.messages_dir / f"acme__{incident_id}.json"
    message = json.loads(saved.read_text())
    assert incident_id in message["text"]
    assert any("checkout error ratio is 12%" in json.dumps(b) for b in message["blocks"])
    status = live.host.instance_status(f"acme--{incident_id}")
    assert status is not None and status["runtimeStatus"] == "Running"  # follows the incident

    again = live.post(AM_PATH, raw("alertmanager_firing.json"), AM_AUTH)
    assert again.status == 202
    assert again.body["status"] == "duplicate"
    assert again.body["incidents"] == [disk, incident_id]


def test_resolution_updates_message_and_completes_orchestration(live: Live) -> None:
    firing = json.loads(raw("alertmanager_firing.json"))
    firing["alerts"] = firing["alerts"][:1]
    opened = live.post(AM_PATH, json.dumps(firing).encode(), AM_AUTH)
    incident_id = opened.body["incident_id"]
    assert live.host.wait_for_idle(timeout=20)
    resolved = live.post(AM_PATH, raw("alertmanager_resolved.json"), AM_AUTH)
    assert resolved.status == 202 and resolved.body["incident_id"] == incident_id
    assert live.settle()
    status = live.host.instance_status(f"acme--{incident_id}")
    assert status is not None and status["runtimeStatus"] == "Completed"
    message = json.loads(
        (live.runtime.settings.messages_dir / f"acme__{incident_id}.json").read_text()
    )
    assert "Status *resolved*" in json.dumps(message["blocks"])
    assert message["thread"][-1]["text"] == "All 1 alert(s) resolved: incident resolved"


def test_pagerduty_signed_delivery_and_rotation(live: Live) -> None:
    body = raw("pagerduty_triggered.json")
    headers = {"X-PagerDuty-Signature": pagerduty_signature("pd-secret", body)}
    reply = live.post(PD_PATH, body, headers)
    assert reply.status == 202, reply.text
    assert reply.body["incident_id"].startswith("INC-")
    bad = live.post(PD_PATH, body, {"X-PagerDuty-Signature": pagerduty_signature("x", body)})
    assert bad.status == 401
    assert "does not match" in bad.body["reason"]


def test_bad_requests_get_clear_4xx_never_500(live: Live) -> None:
    cases = [
        (live.post(AM_PATH, raw("alertmanager_firing.json"), {}), 401, "Authorization"),
        (
            live.post("/api/tenants/nobody/webhooks/alertmanager", b"{}", AM_AUTH),
            404,
            "unknown tenant",
        ),
        (live.post(AM_PATH, b"{not json", AM_AUTH), 400, "malformed JSON"),
        (live.post(AM_PATH, b'{"version": "4"}', AM_AUTH), 400, "field 'status'"),
        (live.post(AM_PATH, b"x" * (1024 * 1024 + 10), AM_AUTH), 413, ""),
        (live.request("GET", AM_PATH), 405, ""),
    ]
    for reply, status, reason in cases:
        assert reply.status == status, reply.text
        assert "Traceback" not in reply.text
        assert reason in reply.text


def test_unhandled_pagerduty_event_type_is_202_and_ignored(live: Live) -> None:
    body = raw("pagerduty_service_updated.json")
    reply = live.post(PD_PATH, body, {"X-PagerDuty-Signature": pagerduty_signature("pd-old", body)})
    assert reply.status == 202
    assert reply.body["status"] == "ignored"


def test_change_feed(live: Live) -> None:
    change = {"kind": "config", "service": "checkout", "description": "raise pool size"}
    headers = {"Authorization": "Bearer chg-token"}
    reply = live.post("/api/tenants/acme/changes", json.dumps(change).encode(), headers)
    assert reply.status == 202, reply.text
    (stored,) = live.runtime.store.query(Container.CHANGES, "acme")
    assert stored["description"] == "raise pool size"


class DownStore:
    def __getattr__(self, name: str) -> object:
        def fail(*args: object, **kwargs: object) -> object:
            raise StoreUnavailable("store is down")

        return fail


def test_store_down_is_503_so_senders_retry(live: Live) -> None:
    from shared import bootstrap

    down = bootstrap.build(live.runtime.settings, store=DownStore())  # type: ignore[arg-type]
    bootstrap.configure(down)
    try:
        reply = live.post(AM_PATH, raw("alertmanager_firing.json"), AM_AUTH)
    finally:
        bootstrap.configure(live.runtime)
    assert reply.status == 503
    assert reply.body["reason"] == "store is down"


def test_orchestration_continues_as_new_without_losing_work(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functions.incident as incident_functions

    monkeypatch.setattr(incident_functions, "TURNS_BEFORE_CONTINUE", 2)
    firing = json.loads(raw("alertmanager_firing.json"))
    firing["alerts"] = firing["alerts"][:1]
    incident_id = live.post(AM_PATH, json.dumps(firing).encode(), AM_AUTH).body["incident_id"]
    assert live.host.wait_for_idle(timeout=20)
    instance = f"acme--{incident_id}"
    rpc = f"/runtime/webhooks/durabletask/instances/{instance}/raiseEvent/wake"
    rpc += f"?code={live.host.system_key}"

    def click(n: int) -> None:
        note = {"user_name": f"u{n}", "verdict": "likely", "rank": 1, "category": "c"}
        work.enqueue(
            live.runtime.store, "acme", incident_id, "feedback", note, now=live.runtime.clock.now()
        )
        token = json.dumps(work.wake_token()).encode()
        reply = live.post(rpc, token, {"Content-Type": "application/json"})
        assert reply.status == 202, reply.text
        assert live.host.wait_for_idle(timeout=20)

    click(0)
    # An alert change between clicks: its re-analysis may still be pending when
    # the execution continues as new, and must not be lost.
    second = json.loads(raw("alertmanager_firing.json"))
    second["alerts"] = second["alerts"][:1]
    second["alerts"][0]["fingerprint"] = "c0ffee00000000ff"
    second["alerts"][0]["labels"]["alertname"] = "HighLatency"
    assert live.post(AM_PATH, json.dumps(second).encode(), AM_AUTH).status == 202
    click(1)
    assert live.settle()
    click(2)
    saved = live.runtime.settings.messages_dir / f"acme__{incident_id}.json"
    message = json.loads(saved.read_text())
    thread = [line["text"] for line in message["thread"]]
    assert sum("as likely" in line for line in thread) == 3, thread
    assert any(line.startswith("Alerts changed: 2 of 2 firing") for line in thread), thread
    assert "HighLatency" in json.dumps(message["blocks"])
    status = live.host.instance_status(instance, show_history=True)
    assert status is not None and status["runtimeStatus"] == "Running"
    pending = live.runtime.store.query(Container.WORK, "acme", [Filter("state", "=", "pending")])
    assert pending == []


def one_alert(n: int) -> bytes:
    data = json.loads(raw("alertmanager_firing.json"))
    data["alerts"] = data["alerts"][:1]
    data["alerts"][0]["fingerprint"] = f"beef{n:012x}"
    data["alerts"][0]["labels"]["alertname"] = f"Symptom{n}"
    return json.dumps(data).encode()


def alerts_shown(live: Live, incident_id: str) -> str:
    saved = live.runtime.settings.messages_dir / f"acme__{incident_id}.json"
    return str(json.loads(saved.read_text())["blocks"][1])


def test_alerts_at_0_1_9_5_and_12_5_seconds_all_reach_the_message(live: Live) -> None:
    """The last one falls after a settle timer started: the drain after it still sees it."""
    incident_id = live.post(AM_PATH, one_alert(0), AM_AUTH).body["incident_id"]
    assert live.host.wait_for_idle(timeout=20)
    for step, n in ((1.0, 1), (8.5, 2), (3.0, 3)):
        live.clock.advance(timedelta(seconds=step))
        assert live.post(AM_PATH, one_alert(n), AM_AUTH).status == 202
        assert live.host.wait_for_idle(timeout=20)
    assert live.settle() and live.settle()
    assert "4 alert(s)" in alerts_shown(live, incident_id)


def test_fifty_alerts_from_racing_deliveries_all_reach_the_message(live: Live) -> None:
    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(lambda n: live.post(AM_PATH, one_alert(n), AM_AUTH), range(50)))
    assert {r.status for r in replies} == {202}
    (incident_id,) = {r.body["incident_id"] for r in replies}
    assert live.settle() and live.settle()
    assert "50 alert(s)" in alerts_shown(live, incident_id)


def test_info_alerts_alone_post_nothing_until_a_warning_joins(live: Live) -> None:
    def alert(fingerprint: str, severity: str) -> bytes:
        data = json.loads(raw("alertmanager_firing.json"))
        data["alerts"] = data["alerts"][:1]
        data["alerts"][0]["fingerprint"] = fingerprint
        data["alerts"][0]["labels"]["severity"] = severity
        return json.dumps(data).encode()

    quiet = live.post(AM_PATH, alert("info-1", "info"), AM_AUTH)
    assert quiet.status == 202, quiet.text
    incident_id = quiet.body["incident_id"]
    assert live.host.wait_for_idle(timeout=20)
    saved = live.runtime.settings.messages_dir / f"acme__{incident_id}.json"
    assert not saved.exists()  # no message of its own
    assert live.host.instance_status(f"acme--{incident_id}") is None
    stored = live.runtime.store.get(Container.INCIDENTS, "acme", incident_id)
    assert stored is not None and stored["severity"] == "info"  # stored, and listed

    loud = live.post(AM_PATH, alert("warn-1", "warning"), AM_AUTH)
    assert loud.status == 202 and loud.body["incident_id"] == incident_id
    assert live.settle()
    message = json.loads(saved.read_text())
    assert message["text"].startswith("WARNING")
    assert "2 alert(s)" in json.dumps(message["blocks"])


def test_unconfigured_sources_are_said_on_the_message_not_in_its_thread(live: Live) -> None:
    """The tenant has no metrics source and no runbook corpus: one line, kept on updates."""
    firing = json.loads(raw("alertmanager_firing.json"))
    firing["alerts"] = firing["alerts"][:1]
    incident_id = live.post(AM_PATH, json.dumps(firing).encode(), AM_AUTH).body["incident_id"]
    assert live.host.wait_for_idle(timeout=20)
    firing["alerts"][0]["fingerprint"] = "another-one"  # an alert change: re-analysed, updated
    assert live.post(AM_PATH, json.dumps(firing).encode(), AM_AUTH).status == 202
    assert live.settle()
    message = json.loads(
        (live.runtime.settings.messages_dir / f"acme__{incident_id}.json").read_text()
    )
    assert message["thread"]  # the update was told in the thread ...
    assert not any("configured" in line["text"] for line in message["thread"])  # ... not this
    blocks = json.dumps(message["blocks"], ensure_ascii=False)
    assert blocks.count("No runbook corpus is configured") == 1
    assert blocks.count("metrics source") == 1
