"""The runtime closes what it opened, and only that."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.errors import StoreUnavailable
from shared.ports.store import Container
from shared.settings import Settings


def test_reset_closes_the_store_the_runtime_opened(tmp_path: Path) -> None:
    rt = bootstrap.configure(bootstrap.build(Settings(home=tmp_path, store="sqlite")))
    rt.store.get(Container.TENANTS, "acme", "x")  # opens a connection
    bootstrap.reset()
    with pytest.raises(StoreUnavailable, match="closed"):
        rt.store.get(Container.TENANTS, "acme", "x")


def test_a_store_passed_in_stays_open(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    try:
        bootstrap.configure(bootstrap.build(Settings(home=tmp_path), store=store))
        bootstrap.reset()
        assert store.get(Container.TENANTS, "acme", "x") is None
    finally:
        store.close()
