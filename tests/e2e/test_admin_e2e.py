"""The tenant admin API through the local host over HTTP, with locally signed Entra tokens.

create -> read (no secrets) -> rotate -> the new token accepted and the old one
refused -> disable -> deliveries refused; the store holds token hashes only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devhost import DevHost, ManualClock, load_function_app
from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.ports.store import Container
from shared.settings import Settings
from tests.fixtures.jwks_server import ADMIN_OID, AUDIENCE, JwksServer, jwks_server

from .conftest import REPO, Live, Reply

__all__ = ["jwks_server"]

FIRING = (REPO / "tests" / "fixtures" / "payloads" / "alertmanager_firing.json").read_bytes()
POLICY = b"actions:\n  restart_pod: {tier: low, mode: active}\n"


class Admin(Live):
    jwks: JwksServer

    def call(
        self, method: str, path: str, body: bytes | None = None, *, token: str | None = None
    ) -> Reply:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.request(method, f"/api/manage/tenants{path}", body, headers)

    def am(self, token: str) -> Reply:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return self.post("/api/tenants/globex/webhooks/alertmanager", FIRING, headers)


@pytest.fixture
def admin(tmp_path: Path, jwks_server: JwksServer) -> Iterator[Admin]:
    settings = Settings(
        home=tmp_path / "home",
        echo_messages=False,
        admin_issuer=jwks_server.issuer,
        admin_audience=AUDIENCE,
        admin_openid_config_url=jwks_server.config_url,
    )
    store = SqliteStore(settings.sqlite_path)
    runtime = bootstrap.configure(bootstrap.build(settings, store=store))
    clock = ManualClock(datetime.now(UTC))
    host = DevHost(
        load_function_app(REPO / "function_app.py"), store, clock=clock, run_timers=False
    )
    host.start()
    try:
        live = Admin(host=host, runtime=runtime, tenant=None, clock=clock)  # type: ignore[arg-type]
        live.jwks = jwks_server
        yield live
        assert host.wait_for_idle(timeout=20)  # the deliveries' orchestrations, before teardown
    finally:
        host.stop()
        bootstrap.reset()
        store.close()


def test_create_read_rotate_disable_through_the_host(admin: Admin) -> None:
    token = admin.jwks.token(roles=("Tenants.Admin",))
    made = admin.call(
        "POST",
        "",
        json.dumps(
            {
                "id": "globex",
                "name": "Globex",
                "slack_channel_id": "C42",
                "timezone": "Europe/Berlin",
            }
        ).encode(),
        token=token,
    )
    assert made.status == 201, made.text
    first = made.body["credentials"]
    assert set(first) == {"alertmanager_token", "change_token", "pagerduty_secret"}

    reader = admin.jwks.token(roles=("Tenants.Read",))
    read = admin.call("GET", "/globex", token=reader)
    assert read.status == 200, read.text
    assert read.body["slack_channel_id"] == "C42"
    assert read.body["credentials"]["alertmanager_token"]["stored"] == "hash"
    assert not any(secret in read.text for secret in first.values())
    listed = admin.call("GET", "", token=reader)
    assert [t["id"] for t in listed.body["tenants"]] == ["globex"]

    raw = admin.runtime.store.get(Container.TENANTS, "globex", "globex")
    assert raw is not None
    assert first["alertmanager_token"] not in json.dumps(raw)
    assert first["change_token"] not in json.dumps(raw)
    assert raw["alertmanager_token_hash"]["sha256"]

    assert admin.am(first["alertmanager_token"]).status == 202

    rotated = admin.call("POST", "/globex/rotate", b"", token=token)
    assert rotated.status == 200, rotated.text
    second = rotated.body["credentials"]
    assert second["alertmanager_token"] != first["alertmanager_token"]
    refused = admin.am(first["alertmanager_token"])
    assert refused.status == 401 and "wrong Alertmanager token" in refused.text
    assert admin.am(second["alertmanager_token"]).status == 202

    policy = admin.request(
        "PUT",
        "/api/manage/tenants/globex/policy",
        POLICY,
        {"Authorization": f"Bearer {token}", "Content-Type": "application/yaml"},
    )
    assert policy.status == 200, policy.text
    assert policy.body["actions"][0]["action"] == "restart_pod"

    patched = admin.call("PATCH", "/globex", b'{"responders": ["U1"]}', token=token)
    assert patched.status == 200 and patched.body["responders"] == ["U1"]

    disabled = admin.call("DELETE", "/globex", b'{"reason": "offboarded"}', token=token)
    assert disabled.status == 200 and disabled.body["disabled"] is True
    gone = admin.am(second["alertmanager_token"])
    assert gone.status == 403 and "tenant 'globex' is disabled" in gone.text

    audit = admin.runtime.store.query(Container.AUDIT, "globex")
    actions = [r["action"] for r in sorted(audit, key=lambda r: r["seq"])]
    assert actions == [
        "tenant.create",
        "tenant.rotate",
        "policy.set",
        "tenant.update",
        "tenant.disable",
    ]
    assert {r["actor"] for r in audit} == {f"entra:{ADMIN_OID}"}


def test_refusals_over_http_carry_their_status_and_reason(admin: Admin) -> None:
    jwks = admin.jwks
    missing = admin.call("GET", "")
    assert missing.status == 401 and "missing Authorization header" in missing.body["reason"]
    request = urllib.request.Request(f"{admin.url}/api/manage/tenants")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")
    caught.value.close()

    expired = admin.call("GET", "", token=jwks.token(lifetime=-600))
    assert expired.status == 401 and expired.body["reason"] == "token expired (exp is past)"
    foreign = admin.call("GET", "", token=jwks.token(aud="api://other"))
    assert foreign.status == 401 and foreign.body["reason"].startswith("wrong audience")
    issuer = admin.call("GET", "", token=jwks.token(iss="https://evil.example/v2.0"))
    assert issuer.status == 401 and issuer.body["reason"].startswith("wrong issuer")

    jwks.rotate(retire=True)  # Entra rolls its key: new tokens verify after one refetch
    assert admin.call("GET", "", token=jwks.token(roles=("Tenants.Read",))).status == 200

    reader = jwks.token(roles=("Tenants.Read",))
    forbidden = admin.call("POST", "", b'{"id": "x"}', token=reader)
    assert forbidden.status == 403 and "'Tenants.Admin'" in forbidden.body["reason"]

    token = jwks.token()
    bad = admin.call("POST", "", b'{"id": "x", "timezone": "Nowhere/Zone"}', token=token)
    assert bad.status == 400 and "field 'timezone'" in bad.body["reason"]
    unknown = admin.call("GET", "/nobody", token=token)
    assert unknown.status == 404 and "unknown tenant 'nobody'" in unknown.body["reason"]
    wrong_method = admin.call("PUT", "", b"{}", token=token)
    assert wrong_method.status == 405

    jwks.failing = True  # keys cached: the admin API still answers
    assert admin.call("GET", "", token=token).status == 200


def test_without_admin_settings_the_api_answers_404_with_the_reason(live: Live) -> None:
    reply = live.request("GET", "/api/manage/tenants", None, {"Authorization": "Bearer x"})
    assert reply.status == 404
    assert "tenant admin API is disabled" in reply.body["reason"]
    create = live.request("POST", "/api/manage/tenants", b'{"id": "evil"}', {})
    assert create.status == 404
    assert [t.id for t in live.runtime.tenants.list()] == ["acme"]
