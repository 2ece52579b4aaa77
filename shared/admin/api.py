"""The admin API as the edge calls it: authorise the caller, then one use case.

``admin_api(runtime)`` builds it from settings once per runtime (the signing
key cache must outlive a request). Without ``SRE_COPILOT_ADMIN_ISSUER`` and
``SRE_COPILOT_ADMIN_AUDIENCE`` every call raises ``AdminDisabled`` (404 with
the reason): the API is off, never open.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.admin.errors import AdminDisabled
from shared.admin.keys import SigningKeys
from shared.admin.tenants import TenantAdmin
from shared.admin.tokens import Caller, Role, TokenValidator, require
from shared.autonomy import kill_switch
from shared.bootstrap import Runtime
from shared.settings import Settings

Headers = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: its HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


class AdminApi:
    """Each method checks the bearer token and app role, then runs one use case."""

    def __init__(self, validator: TokenValidator | None, tenants: TenantAdmin, *, off: str) -> None:
        self._validator = validator
        self._tenants = tenants
        self._off = off

    def list(self, headers: Headers) -> Reply:
        self._caller(headers, Role.READ)
        return Reply(200, self._tenants.list())

    def create(self, headers: Headers, body: bytes) -> Reply:
        caller = self._caller(headers, Role.ADMIN)
        return Reply(201, self._tenants.create(body, actor=caller.actor))

    def read(self, headers: Headers, tenant: str) -> Reply:
        self._caller(headers, Role.READ)
        return Reply(200, self._tenants.read(tenant))

    def update(self, headers: Headers, tenant: str, body: bytes) -> Reply:
        caller = self._caller(headers, Role.ADMIN)
        return Reply(200, self._tenants.update(tenant, body, actor=caller.actor))

    def rotate(self, headers: Headers, tenant: str, body: bytes) -> Reply:
        caller = self._caller(headers, Role.ADMIN)
        return Reply(200, self._tenants.rotate(tenant, body, actor=caller.actor))

    def set_policy(self, headers: Headers, tenant: str, body: bytes) -> Reply:
        caller = self._caller(headers, Role.ADMIN)
        return Reply(200, self._tenants.set_policy(tenant, body, actor=caller.actor))

    def disable(self, headers: Headers, tenant: str, body: bytes) -> Reply:
        caller = self._caller(headers, Role.ADMIN)
        return Reply(200, self._tenants.disable(tenant, body, actor=caller.actor))

    def kill_switch_state(self, headers: Headers, tenant: str | None) -> Reply:
        """``tenant`` None: the global switch alone."""
        self._caller(headers, Role.READ)
        return Reply(200, self._tenants.kill_switches(tenant))

    def kill_switch(self, headers: Headers, tenant: str | None, body: bytes) -> Reply:
        """``tenant`` None: the global switch."""
        caller = self._caller(headers, Role.ADMIN)
        return Reply(200, self._tenants.set_kill_switch(tenant, body, actor=caller.actor))

    def _caller(self, headers: Headers, role: Role) -> Caller:
        if self._validator is None:
            raise AdminDisabled(self._off)
        caller = self._validator.caller(headers)
        require(caller, role)
        return caller


def off_reason(settings: Settings) -> str | None:
    """Why the admin API is off with these settings, or None when it is on."""
    missing = [
        name
        for name, value in (
            ("SRE_COPILOT_ADMIN_ISSUER", settings.admin_issuer),
            ("SRE_COPILOT_ADMIN_AUDIENCE", settings.admin_audience),
        )
        if not value.strip()
    ]
    if not missing:
        return None
    return (
        f"the tenant admin API is disabled: {' and '.join(missing)} not set "
        "(README, 'Tenant admin API')"
    )


def openid_config_url(settings: Settings) -> str:
    return settings.admin_openid_config_url.strip() or (
        settings.admin_issuer.strip().rstrip("/") + "/.well-known/openid-configuration"
    )


def build_admin(rt: Runtime, *, keys: SigningKeys | None = None) -> AdminApi:
    """The admin API over ``rt``'s store, tenants and clock, from its settings."""
    settings = rt.settings
    tenants = TenantAdmin(
        rt.store,
        rt.tenants,
        rt.clock,
        kill_switch_setting=settings.autonomy_kill_switch,
        announce=lambda stopped, done: kill_switch.announce(rt.chat_for, stopped, done),
    )
    off = off_reason(settings)
    if off is not None:
        return AdminApi(None, tenants, off=off)
    validator = TokenValidator(
        issuer=settings.admin_issuer.strip(),
        audiences=[a.strip() for a in settings.admin_audience.split(",") if a.strip()],
        keys=keys
        or SigningKeys(openid_config_url(settings), ttl_seconds=settings.admin_jwks_cache_seconds),
    )
    return AdminApi(validator, tenants, off="")


_lock = threading.Lock()
_built: tuple[weakref.ref[Runtime], AdminApi] | None = None


def admin_api(rt: Runtime) -> AdminApi:
    """The admin API of ``rt``, built on first use and kept while ``rt`` is current."""
    global _built
    with _lock:
        if _built is not None and _built[0]() is rt:
            return _built[1]
        api = build_admin(rt)
        _built = (weakref.ref(rt), api)
        return api
