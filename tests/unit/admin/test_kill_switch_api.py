"""The kill switches through the admin API: app roles, body checks, the switch read back, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.admin.api import AdminApi, build_admin
from shared.admin.errors import Forbidden
from shared.audit import verify
from shared.autonomy import kill_switch
from shared.bootstrap import Runtime
from shared.errors import BadInput, NotFound
from shared.ports.store import Container
from tests.fixtures.jwks_server import AUDIENCE, JwksServer
from tests.unit.admin.http_routes import http_routes
from tests.unit.admin.test_api import auth, runtime

ON = json.dumps({"on": True, "by": "U-OPS", "reason": "automation outage"}).encode()


@pytest.fixture
def rt(tmp_path: Path, jwks_server: JwksServer) -> Iterator[Runtime]:
    made = runtime(
        tmp_path,
        admin_issuer=jwks_server.issuer,
        admin_audience=AUDIENCE,
        admin_openid_config_url=jwks_server.config_url,
    )
    yield made
    made.close()


@pytest.fixture
def api(rt: Runtime) -> AdminApi:
    return build_admin(rt)


def test_global_and_tenant_switches_are_set_read_back_and_audited(
    api: AdminApi, rt: Runtime, jwks_server: JwksServer
) -> None:
    admin = auth(jwks_server.token(roles=("Tenants.Admin",)))
    for tenant in ("acme", "globex"):
        api.create(admin, json.dumps({"id": tenant}).encode())
    reply = api.kill_switch(admin, None, ON)
    assert reply.status == 200
    assert reply.body["scope"] == "global" and reply.body["on"] is True
    assert reply.body["audited"] == ["acme", "globex"]
    assert reply.body["told"] == ["acme", "globex"]  # each tenant's channel hears of it
    for tenant in ("acme", "globex"):
        read = kill_switch.read(rt.store, tenant, forced=False)
        assert read.global_on and read.global_note.startswith("set by U-OPS at ")
        chain = rt.store.query(Container.AUDIT, tenant)
        flips = [d for d in chain if d["action"] == "autonomy.kill_switch.on"]
        assert len(flips) == 1 and flips[0]["actor"].startswith("entra:")
        assert flips[0]["detail"]["via"] == "admin API"
        assert verify(rt.store, tenant).ok
    off = json.dumps({"on": False, "reason": "fixed"}).encode()
    reply = api.kill_switch(admin, "acme", off)
    assert reply.body["scope"] == "acme" and reply.body["on"] is False
    assert reply.body["by"].startswith("entra:")  # no 'by': the caller
    assert reply.body["audited"] == ["acme"] and reply.body["told"] == ["acme"]
    api.kill_switch(admin, "globex", ON)
    assert kill_switch.read(rt.store, "globex", forced=False).tenant_on
    assert not kill_switch.read(rt.store, "acme", forced=False).tenant_on


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "body must be a JSON object"),
        (b'{"on": "yes", "reason": "x"}', "field 'on': true or false"),
        (b'{"on": true}', "field 'reason': required text"),
        (b'{"on": true, "reason": "x", "tenant": "all"}', "field 'tenant': not something"),
        (b'{"on": true, "by": 7, "reason": "x"}', "field 'by': required text"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(
    api: AdminApi, jwks_server: JwksServer, body: bytes, message: str
) -> None:
    admin = auth(jwks_server.token(roles=("Tenants.Admin",)))
    api.create(admin, b'{"id": "acme"}')
    with pytest.raises(BadInput, match=message) as caught:
        api.kill_switch(admin, None, body)
    assert caught.value.http_status == 400
    with pytest.raises(BadInput, match=message):
        api.kill_switch(admin, "acme", body)


def test_a_reader_may_not_flip_and_an_unknown_tenant_is_404(
    api: AdminApi, rt: Runtime, jwks_server: JwksServer
) -> None:
    admin = auth(jwks_server.token(roles=("Tenants.Admin",)))
    reader = auth(jwks_server.token(roles=("Tenants.Read",)))
    api.create(admin, b'{"id": "acme"}')
    with pytest.raises(Forbidden, match=r"'Tenants\.Admin'"):
        api.kill_switch(reader, None, ON)
    with pytest.raises(NotFound, match="unknown tenant 'nobody'"):
        api.kill_switch(admin, "nobody", ON)
    read = kill_switch.read(rt.store, "acme", forced=False)
    assert not read.global_on and not read.tenant_on


def test_readers_see_the_switches_as_the_engine_reads_them(
    api: AdminApi, tmp_path: Path, jwks_server: JwksServer
) -> None:
    admin = auth(jwks_server.token(roles=("Tenants.Admin",)))
    reader = auth(jwks_server.token(roles=("Tenants.Read",)))
    api.create(admin, b'{"id": "acme"}')
    assert api.kill_switch_state(reader, None).body == {
        "global": {"on": False, "forced_by_setting": False, "switch": None}
    }
    api.kill_switch(admin, "acme", ON)
    shown = api.kill_switch_state(reader, "acme").body
    assert shown["tenant"]["on"] is True and shown["tenant"]["switch"]["by"] == "U-OPS"
    assert shown["global"]["on"] is False
    with pytest.raises(NotFound):
        api.kill_switch_state(reader, "nobody")
    forced = runtime(
        tmp_path / "forced",
        admin_issuer=jwks_server.issuer,
        admin_audience=AUDIENCE,
        admin_openid_config_url=jwks_server.config_url,
        autonomy_kill_switch=True,
    )
    try:
        shown = build_admin(forced).kill_switch_state(reader, None).body["global"]
        assert shown["on"] is True and shown["forced_by_setting"] is True
    finally:
        forced.close()


def test_the_routes_exist_under_manage() -> None:
    routes = http_routes()
    assert routes["manage_kill_switch"][0] == "manage/kill-switch"
    assert routes["manage_tenant_kill_switch"][0] == "manage/tenants/{tenant}/kill-switch"
    for name in ("manage_kill_switch", "manage_tenant_kill_switch"):
        assert {str(m).rpartition(".")[2] for m in routes[name][1]} == {"GET", "PUT"}
