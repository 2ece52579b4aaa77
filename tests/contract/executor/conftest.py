"""The executors under contract: each test gets a fresh store (Kubernetes: a fresh cluster)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.adapters.executors.dry_run import DryRunExecutor
from shared.adapters.executors.kubernetes import KubernetesApi, KubernetesExecutor
from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.ports.executor import Executor
from shared.ports.store import DocumentStore
from tests.fixtures.k8s_server import TOKEN, Cluster, serve

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


def shop() -> Cluster:
    """Three nodes; shop/checkout at revision 2 (app:2, after app:1) with 3 replicas;
    a DaemonSet pod on every node."""
    cluster = Cluster()
    for name in ("node-1", "node-2", "node-3"):
        cluster.add_node(name)
    cluster.add_deployment("shop", "checkout", image="app:1", replicas=3)
    cluster.update_image("shop", "checkout", "app:2")
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "node-exporter", "uid": "ds-uid-1"},
    }
    for name in ("node-1", "node-2", "node-3"):
        cluster.add_pod("monitoring", f"node-exporter-{name}", node=name, owner=daemonset)
    return cluster


def _kubernetes(tmp_path: Path) -> Iterator[Harness]:
    cluster = shop()
    store = SqliteStore(tmp_path / "store.sqlite3")
    with serve(cluster) as url:
        api = KubernetesApi(url, TOKEN, timeout_seconds=5)
        executor = KubernetesExecutor(api, store, FixedClock(NOW), namespace="shop")
        pod = next(name for (ns, name) in cluster.pods if name.startswith("checkout-"))
        targets = {
            "restart_pod": f"shop/{pod}",
            "scale_replicas": "shop/checkout",
            "rollback_deployment": "checkout",
            "drain_node": "node-2",
        }
        yield Harness("kubernetes", executor, store, lambda: cluster.mutations, targets)
        api.close()
    store.close()


@pytest.fixture(params=["dry_run", "kubernetes"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "kubernetes":
        yield from _kubernetes(tmp_path)
    else:
        yield from _dry_run(tmp_path)
