"""Bearer tokens at rest: hashed on write, compared as hashes, legacy plain ones still work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from shared.adapters.store.sqlite import SqliteStore
from shared.errors import NotFound, Unauthorized
from shared.ingestion.auth import verify_bearer
from shared.models.tenant import Tenant, TokenHash
from shared.ports.store import Container
from shared.tenants.registry import TenantDisabled, TenantRegistry

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.sqlite3")
    yield s
    s.close()


def tenant(**fields: object) -> Tenant:
    return Tenant.model_validate({"id": "acme", "tenantId": "acme", "name": "Acme", **fields})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_hash_matches_only_its_token() -> None:
    h = TokenHash.of("s3cret-token", at=T0)
    assert h.matches(b"s3cret-token")
    assert not h.matches(b"s3cret-token ")
    assert not h.matches(b"")
    assert TokenHash.of("s3cret-token").sha256 != h.sha256  # salted anew each time
    assert "s3cret" not in h.model_dump_json()
    assert not h.model_copy(update={"salt": "zz"}).matches(b"s3cret-token")


def test_add_stores_hashes_and_returns_the_tenant_as_given(store: SqliteStore) -> None:
    registry = TenantRegistry(store, cache_seconds=0)
    given = tenant(
        alertmanager_token="am-token", change_token="chg-token", pagerduty_secrets=["pd"]
    )
    assert registry.add(given, now=T0) is given  # the caller keeps its plain tokens
    raw = store.get(Container.TENANTS, "acme", "acme")
    assert raw is not None
    assert "am-token" not in json.dumps(raw) and "chg-token" not in json.dumps(raw)
    assert raw["alertmanager_token"] is None and raw["alertmanager_token_hash"]["set_at"]
    stored = registry.get("acme")
    assert stored.alertmanager_token is None
    verify_bearer(
        bearer("am-token"), None, hashed=stored.alertmanager_token_hash, what="Alertmanager"
    )
    with pytest.raises(Unauthorized, match="wrong Alertmanager token"):
        verify_bearer(
            bearer("chg-token"), None, hashed=stored.alertmanager_token_hash, what="Alertmanager"
        )


def test_a_legacy_plain_token_keeps_working_until_the_tenant_is_rewritten(
    store: SqliteStore,
) -> None:
    legacy = {
        "id": "acme",
        "tenantId": "acme",
        "name": "Acme",
        "alertmanager_token": "old-plain",
        "change_token": "old-change",
    }
    store.upsert(Container.TENANTS, "acme", legacy)  # as written before hashing
    registry = TenantRegistry(store, cache_seconds=0)
    t = registry.get("acme")
    assert t.alertmanager_token_hash is None
    verify_bearer(bearer("old-plain"), t.alertmanager_token, hashed=None, what="Alertmanager")
    with pytest.raises(Unauthorized):
        verify_bearer(bearer("wrong"), t.alertmanager_token, hashed=None, what="Alertmanager")

    registry.update("acme", lambda current: current.model_copy(update={"name": "Acme Corp"}))
    raw = store.get(Container.TENANTS, "acme", "acme")
    assert raw is not None and "old-plain" not in json.dumps(raw)  # sealed on write
    sealed = registry.get("acme")
    assert sealed.alertmanager_token_hash is not None
    assert sealed.alertmanager_token_hash.set_at is None  # hashed, not rotated
    verify_bearer(
        bearer("old-plain"),
        sealed.alertmanager_token,
        hashed=sealed.alertmanager_token_hash,
        what="Alertmanager",
    )
    assert sealed.change_token_hash is not None and sealed.change_token_hash.matches(b"old-change")


def test_a_stored_hash_wins_over_a_stale_plain_token() -> None:
    hashed = TokenHash.of("new")
    with pytest.raises(Unauthorized):
        verify_bearer(bearer("old"), SecretStr("old"), hashed=hashed, what="Alertmanager")
    verify_bearer(bearer("new"), SecretStr("old"), hashed=hashed, what="Alertmanager")


def test_no_token_at_all_is_refused() -> None:
    with pytest.raises(Unauthorized, match="no change-feed token is configured"):
        verify_bearer(bearer("x"), None, hashed=None, what="change-feed")
    with pytest.raises(Unauthorized, match="no change-feed token is configured"):
        verify_bearer(bearer("x"), SecretStr(""), hashed=None, what="change-feed")


def test_get_active_refuses_a_disabled_tenant(store: SqliteStore) -> None:
    registry = TenantRegistry(store, cache_seconds=0)
    registry.add(tenant())
    assert registry.get_active("acme").id == "acme"
    registry.update("acme", lambda t: t.model_copy(update={"disabled_at": T0}))
    with pytest.raises(TenantDisabled, match="is disabled"):
        registry.get_active("acme")
    assert registry.get("acme").disabled  # the admin API still reads it
    with pytest.raises(NotFound):
        registry.update("nobody", lambda t: t)
