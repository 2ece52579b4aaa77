"""slack-sdk's OAuth stores (state and installation) on the product's document store.

``DocumentStateStore`` keeps each OAuth ``state`` as a document in the system
partition of ``dedup``: issued when the install starts, good for 10 minutes,
redeemed once (a compare-and-swap on the ETag, so two callbacks racing with
one state cannot both win). It outlives its expiry by an hour so that a late
or replayed callback is told "expired" or "already used" rather than
"unknown".

``DocumentInstallationStore`` maps a Slack workspace to a tenant. An install
from a workspace that a tenant already names (``slack_team_id``) updates that
tenant's bot token and, when the installer picked one, its channel; an install
from an unknown workspace creates a tenant named after the workspace. The
installation itself (tokens, scopes, installer) is kept in the tenant's own
partition, as slack-sdk's ``Installation`` describes it.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr
from slack_sdk.oauth.installation_store import InstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store import OAuthStateStore

from shared.clock import Clock
from shared.errors import BadInput, Conflict, PreconditionFailed, Unauthorized
from shared.models.base import iso
from shared.models.tenant import Tenant
from shared.ports.store import SYSTEM_TENANT, Container, DocumentStore
from shared.tenants.registry import TenantRegistry

log = logging.getLogger("sre_copilot.slack.oauth")

STATE_EXPIRY_SECONDS = 10 * 60
_STATE_GRACE_SECONDS = 60 * 60
"""How long a state is kept past its expiry, to tell "expired" from "unknown"."""
_STATE_PREFIX = "oauth-state:"
_STATE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")

INSTALLATION_ID = "slack-installation"
"""The installation document's id, in the tenant's partition of ``tenants``."""


class DocumentStateStore(OAuthStateStore):
    """Single-use OAuth states with a 10-minute life."""

    def __init__(
        self,
        store: DocumentStore,
        clock: Clock,
        *,
        expiration_seconds: int = STATE_EXPIRY_SECONDS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._expiry = timedelta(seconds=expiration_seconds)

    @property
    def logger(self) -> logging.Logger:
        return log

    def issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        now = self._clock.now()
        self._store.create(
            Container.DEDUP,
            SYSTEM_TENANT,
            {
                "id": _STATE_PREFIX + state,
                "kind": "slack_oauth_state",
                "issuedAt": iso(now),
                "validUntil": iso(now + self._expiry),
                "consumedAt": None,
                "ttl": int(self._expiry.total_seconds()) + _STATE_GRACE_SECONDS,
            },
        )
        return state

    def consume(self, state: str) -> bool:
        """slack-sdk's interface: True once for a live state, False otherwise."""
        try:
            self.redeem(state)
        except (BadInput, Unauthorized) as exc:
            log.info("OAuth state refused: %s", exc.reason)
            return False
        return True

    def redeem(self, state: str | None) -> None:
        """Use up ``state``, or say why it cannot be used (``BadInput``/``Unauthorized``)."""
        if not state:
            raise BadInput("the OAuth callback has no state: start the install again")
        if not _STATE_SHAPE.match(state):
            raise Unauthorized("unknown OAuth state: start the install again")
        doc = self._store.get(Container.DEDUP, SYSTEM_TENANT, _STATE_PREFIX + state)
        if doc is None:
            raise Unauthorized("unknown or long-expired OAuth state: start the install again")
        if doc.get("consumedAt"):
            raise Unauthorized("this OAuth state was used already: start the install again")
        now = self._clock.now()
        if now >= datetime.fromisoformat(doc["validUntil"]):
            raise Unauthorized(
                f"the OAuth state expired ({int(self._expiry.total_seconds() // 60)} minutes): "
                "start the install again"
            )
        etag = doc.pop("_etag")
        doc["consumedAt"] = iso(now)
        try:
            self._store.replace(Container.DEDUP, SYSTEM_TENANT, doc, etag=etag)
        except PreconditionFailed:
            raise Unauthorized(
                "this OAuth state was used already: start the install again"
            ) from None


@dataclass(frozen=True, slots=True)
class InstalledTenant:
    """Where an installation landed."""

    tenant: Tenant
    created: bool


class DocumentInstallationStore(InstallationStore):
    """Installations per tenant; a workspace is found through ``TenantRegistry.by_slack_team``."""

    def __init__(self, store: DocumentStore, tenants: TenantRegistry) -> None:
        self._store = store
        self._tenants = tenants

    @property
    def logger(self) -> logging.Logger:
        return log

    def save(self, installation: Installation) -> None:
        self.install(installation)

    def install(self, installation: Installation) -> InstalledTenant:
        """Record ``installation`` and point its workspace's tenant at it."""
        if installation.is_enterprise_install:
            raise BadInput("org-wide installs are not supported: install into a workspace")
        team_id = installation.team_id
        if not team_id or not installation.bot_token:
            raise BadInput("the installation has no workspace or no bot token")
        existing = self._tenants.by_slack_team(team_id)
        if existing is None:
            tenant, created = self._create_tenant(installation, team_id), True
        else:
            tenant, created = self._update_tenant(existing, installation), False
        self._store.upsert(
            Container.TENANTS, tenant.id, {"id": INSTALLATION_ID, **_to_json(installation)}
        )
        log.info("Slack workspace %s installed for tenant %s", team_id, tenant.id)
        return InstalledTenant(tenant=tenant, created=created)

    def _update_tenant(self, tenant: Tenant, installation: Installation) -> Tenant:
        updated = tenant.model_copy(
            update={
                "slack_bot_token": SecretStr(installation.bot_token or ""),
                "slack_channel_id": installation.incoming_webhook_channel_id
                or tenant.slack_channel_id,
            }
        )
        return self._tenants.add(updated, replace=True)

    def _create_tenant(self, installation: Installation, team_id: str) -> Tenant:
        base = slugify(installation.team_name or "") or f"slack-{team_id.lower()}"
        for attempt in range(1, 100):
            name = base if attempt == 1 else f"{base[: 63 - len(str(attempt)) - 1]}-{attempt}"
            tenant = Tenant(
                id=name,
                tenant_id=name,
                name=installation.team_name or team_id,
                slack_team_id=team_id,
                slack_channel_id=installation.incoming_webhook_channel_id,
                slack_bot_token=SecretStr(installation.bot_token or ""),
            )
            try:
                return self._tenants.add(tenant)
            except Conflict:
                continue
        raise Conflict(f"no free tenant name for workspace {installation.team_name!r}")

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        tenant = self._tenants.by_slack_team(team_id) if team_id else None
        if tenant is None:
            return None
        doc = self._store.get(Container.TENANTS, tenant.id, INSTALLATION_ID)
        if doc is None:
            return None
        fields = {k: v for k, v in doc.items() if k not in ("id", "tenantId", "_etag")}
        installation = Installation(**fields)
        if user_id is not None and installation.user_id != user_id:
            return None
        return installation

    def find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        installation = self.find_installation(enterprise_id=enterprise_id, team_id=team_id)
        if installation is None or not installation.bot_token:
            return None
        return installation.to_bot()

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """The app was uninstalled or its token revoked: forget the token, keep the tenant."""
        tenant = self._tenants.by_slack_team(team_id) if team_id else None
        if tenant is None:
            return
        self._tenants.add(tenant.model_copy(update={"slack_bot_token": None}), replace=True)

    def delete_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> None:
        tenant = self._tenants.by_slack_team(team_id) if team_id else None
        if tenant is None:
            return
        self._store.delete(Container.TENANTS, tenant.id, INSTALLATION_ID)
        self.delete_bot(enterprise_id=enterprise_id, team_id=team_id)


def slugify(name: str) -> str:
    """A tenant name from a workspace name: ``"Acme Corp!"`` -> ``"acme-corp"``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:63].rstrip("-")


def _to_json(installation: Installation) -> dict[str, Any]:
    """``Installation`` fields as JSON; times as Unix seconds, which its constructor takes back."""
    fields = installation.to_dict_for_copying()
    for key, value in list(fields.items()):
        if isinstance(value, datetime):
            seconds = value.timestamp()
            fields[key] = seconds if key == "installed_at" else int(seconds)
    return fields
