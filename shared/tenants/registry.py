"""The tenant registry.

A tenant's document lives in its own partition (``tenantId == id``). A small
directory in the system partition lists tenants and maps Slack teams to them,
so that no store call ever has to scan across partitions.

Bearer tokens are written as hashes only: ``add`` and ``update`` seal any
plain token the tenant carries (``Tenant.sealed``) before the document is
written. A document from before hashing keeps its plain token until it is
next written here, which seals it (the token itself is unchanged).
"""

from __future__ import annotations

import builtins
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.errors import BadInput, Conflict, NotFound, SreCopilotError
from shared.models.tenant import Tenant
from shared.ports.store import SYSTEM_TENANT, Container, DocumentStore, Filter, update_with_retry

TENANT_NAME = re.compile(r"^(?!.*--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
"""No ``--`` and no trailing ``-``: ``--`` separates tenant and incident in durable
instance ids, so ``{tenant}--{incident}`` splits one way only."""


class TenantDisabled(SreCopilotError):
    """The tenant exists but was disabled: what it sends is refused (403).

    Kept beside the registry rather than in ``shared.errors`` (a file outside
    this change); it belongs under ``SreCopilotError`` there as a 403 branch.
    """

    http_status = 403


class TenantRegistry:
    """Reads tenants through a short-lived cache (every webhook needs one)."""

    def __init__(self, store: DocumentStore, *, cache_seconds: float = 5.0) -> None:
        self._store = store
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Tenant]] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: str) -> Tenant:
        if not TENANT_NAME.match(tenant_id):
            raise NotFound(f"unknown tenant '{tenant_id[:64]}'")
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(tenant_id)
        if cached and now - cached[0] < self._cache_seconds:
            return cached[1]
        doc = self._store.get(Container.TENANTS, tenant_id, tenant_id)
        if doc is None:
            raise NotFound(f"unknown tenant '{tenant_id}'")
        tenant = Tenant.from_doc(doc)
        with self._lock:
            self._cache[tenant_id] = (now, tenant)
        return tenant

    def get_active(self, tenant_id: str) -> Tenant:
        """``get``, refusing a disabled tenant with ``TenantDisabled`` (ingestion's lookup)."""
        tenant = self.get(tenant_id)
        if tenant.disabled:
            raise TenantDisabled(f"tenant '{tenant_id}' is disabled: its deliveries are refused")
        return tenant

    def add(self, tenant: Tenant, *, replace: bool = False, now: datetime | None = None) -> Tenant:
        """Store ``tenant`` (its plain tokens as hashes set at ``now``); returns it as given.

        The caller keeps the plain tokens it passed in (to print or send them
        once); the store never holds them.
        """
        if not TENANT_NAME.match(tenant.id):
            raise BadInput(
                f"tenant name '{tenant.id}' must be lower-case letters, digits and '-' "
                "(at most 63, starting and ending with a letter or digit, no '--')"
            )
        if tenant.tenant_id != tenant.id:
            raise BadInput("a tenant's tenantId must equal its id")
        doc = tenant.sealed(at=now).to_doc()
        if replace:
            self._store.upsert(Container.TENANTS, tenant.id, doc)
        else:
            try:
                self._store.create(Container.TENANTS, tenant.id, doc)
            except Conflict:
                raise Conflict(f"tenant '{tenant.id}' exists already") from None
        self._store.upsert(Container.TENANTS, SYSTEM_TENANT, _directory_entry(tenant))
        self._forget(tenant.id)
        return tenant

    def update(
        self, tenant_id: str, change: Callable[[Tenant], Tenant], *, now: datetime | None = None
    ) -> Tenant:
        """Apply ``change`` to the stored tenant under its ETag (retried on a race).

        ``change`` may run more than once; it gets the tenant as stored and
        returns the new one, which is sealed before it is written. Returns the
        tenant as stored. ``NotFound`` for an unknown tenant.
        """
        if not TENANT_NAME.match(tenant_id):
            raise NotFound(f"unknown tenant '{tenant_id[:64]}'")

        def mutate(doc: dict[str, Any]) -> dict[str, Any]:
            changed = change(Tenant.from_doc(doc)).sealed(at=now)
            if changed.id != tenant_id or changed.tenant_id != tenant_id:
                raise BadInput("a tenant's id cannot change")
            return changed.to_doc()

        stored = update_with_retry(self._store, Container.TENANTS, tenant_id, tenant_id, mutate)
        if stored is None:
            raise NotFound(f"unknown tenant '{tenant_id}'")
        tenant = Tenant.from_doc(stored)
        self._store.upsert(Container.TENANTS, SYSTEM_TENANT, _directory_entry(tenant))
        self._forget(tenant_id)
        return tenant

    def list(self) -> list[Tenant]:
        entries = self._store.query(Container.TENANTS, SYSTEM_TENANT, order_by="id")
        tenants = []
        for entry in entries:
            doc = self._store.get(Container.TENANTS, entry["id"], entry["id"])
            if doc is not None:
                tenants.append(Tenant.from_doc(doc))
        return tenants

    def active(self) -> builtins.list[Tenant]:
        """The tenants not disabled: what the timers (sweeps, reports, digests) work for."""
        return [t for t in self.list() if not t.disabled]

    def by_slack_team(self, team_id: str) -> Tenant | None:
        entries = self._store.query(
            Container.TENANTS, SYSTEM_TENANT, [Filter("slackTeamId", "=", team_id)], limit=1
        )
        return self.get(entries[0]["id"]) if entries else None

    def _forget(self, tenant_id: str) -> None:
        with self._lock:
            self._cache.pop(tenant_id, None)


def _directory_entry(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "tenantId": SYSTEM_TENANT,
        "name": tenant.name,
        "slackTeamId": tenant.slack_team_id,
    }
