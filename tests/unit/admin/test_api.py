"""The admin API's authorisation in front of the use cases, and its settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import bootstrap
from shared.admin.api import AdminApi, admin_api, build_admin, off_reason, openid_config_url
from shared.admin.errors import AdminDisabled, Forbidden
from shared.errors import Unauthorized
from shared.settings import Settings
from tests.fixtures.jwks_server import AUDIENCE, JwksServer
from tests.unit.admin.http_routes import http_routes

ROOT = Path(__file__).resolve().parents[3]


def runtime(tmp_path: Path, **settings: object) -> bootstrap.Runtime:
    return bootstrap.build(Settings(home=tmp_path, echo_messages=False, **settings))  # type: ignore[arg-type]


@pytest.fixture
def api(tmp_path: Path, jwks_server: JwksServer) -> Iterator[AdminApi]:
    rt = runtime(
        tmp_path,
        admin_issuer=jwks_server.issuer,
        admin_audience=f"{AUDIENCE}, 0f0e0d0c-client-id",
        admin_openid_config_url=jwks_server.config_url,
    )
    yield build_admin(rt)
    rt.close()


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_without_settings_the_api_is_off_never_open(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    try:
        api = build_admin(rt)
        with pytest.raises(
            AdminDisabled, match="SRE_COPILOT_ADMIN_ISSUER and SRE_COPILOT_ADMIN_AUDIENCE"
        ) as caught:
            api.list({})
        assert caught.value.http_status == 404
        with pytest.raises(AdminDisabled):
            api.create({"Authorization": "Bearer anything"}, b'{"id": "acme"}')
        assert rt.tenants.list() == []
    finally:
        rt.close()
    half = Settings(home=tmp_path, admin_issuer="https://login.microsoftonline.com/x/v2.0")
    reason = off_reason(half)
    assert reason is not None and "SRE_COPILOT_ADMIN_AUDIENCE not set" in reason
    assert "ISSUER" not in reason
    blank = Settings(home=tmp_path, admin_issuer="  ", admin_audience="api://x")
    assert off_reason(blank) is not None


def test_the_openid_configuration_defaults_to_the_issuers() -> None:
    s = Settings(admin_issuer="https://login.microsoftonline.com/d1/v2.0/", admin_audience="a")
    assert openid_config_url(s) == (
        "https://login.microsoftonline.com/d1/v2.0/.well-known/openid-configuration"
    )
    assert off_reason(s) is None


def test_roles_gate_each_operation(api: AdminApi, jwks_server: JwksServer) -> None:
    admin = auth(jwks_server.token(roles=("Tenants.Admin",)))
    reader = auth(jwks_server.token(roles=("Tenants.Read",)))
    made = api.create(admin, b'{"id": "acme"}')
    assert made.status == 201 and "alertmanager_token" in made.body["credentials"]
    assert api.list(reader).body["tenants"][0]["id"] == "acme"
    assert api.read(reader, "acme").status == 200
    for write in (
        lambda: api.create(reader, b'{"id": "other"}'),
        lambda: api.update(reader, "acme", b'{"name": "x"}'),
        lambda: api.rotate(reader, "acme", b""),
        lambda: api.set_policy(reader, "acme", b"actions: {}"),
        lambda: api.disable(reader, "acme", b""),
    ):
        with pytest.raises(Forbidden, match=r"'Tenants\.Admin'"):
            write()
    assert api.read(admin, "acme").body["disabled"] is False  # nothing the reader tried stuck
    with pytest.raises(Unauthorized, match="missing Authorization"):
        api.read({}, "acme")
    other_audience = auth(jwks_server.token(aud="0f0e0d0c-client-id"))  # the second audience
    assert api.read(other_audience, "acme").status == 200


def test_the_api_is_built_once_per_runtime(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    try:
        assert admin_api(rt) is admin_api(rt)
    finally:
        rt.close()
    other = runtime(tmp_path / "other")
    try:
        assert admin_api(other) is admin_api(other)
    finally:
        other.close()


def test_no_http_route_starts_with_admin() -> None:
    """The Functions host refuses routes starting with 'admin' (its own admin API)."""
    routes = {name: route for name, (route, _methods) in http_routes().items()}
    assert {
        "manage_tenants",
        "manage_tenant",
        "manage_tenant_rotate",
        "manage_tenant_policy",
    } <= set(routes)
    assert [r for r in routes.values() if r.lower().startswith("admin")] == []
    assert [n for n in routes if n.lower().startswith("admin")] == []
