"""The executors under contract: each test gets a fresh store (Kubernetes: a fresh cluster)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.adapters.executors.dry_run import DryRunExecutor
from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.ports.executor import Executor
from shared.ports.store import DocumentStore

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@dataclass
class Harness:
    """One executor and a way to count what it changed in the world it acts on."""

    name: str
    executor: Executor
    store: DocumentStore
    acted: Callable[[], int]
    """Changes made so far (records for the dry run, mutating API calls for Kubernetes)."""
    targets: dict[str, str]
    """A target that exists, per action."""


def _dry_run(tmp_path: Path) -> Iterator[Harness]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    executor = DryRunExecutor(store, FixedClock(NOW))

    def acted() -> int:
        from shared.adapters.executors.ledger import CONTAINER

        return sum(len(store.query(CONTAINER, t)) for t in ("acme", "globex"))

    targets = {
        "restart_pod": "shop/checkout-7d9f-abcde",
        "scale_replicas": "shop/checkout",
        "rollback_deployment": "shop/checkout",
        "drain_node": "node-2",
    }
    yield Harness("dry_run", executor, store, acted, targets)
    store.close()


@pytest.fixture(params=["dry_run"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from _dry_run(tmp_path)
