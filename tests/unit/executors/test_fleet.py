"""Fleet size and health from the live cluster, and the policy engine deciding on them.

The Kubernetes executor reads a deployment's ``spec.replicas`` and
``status.readyReplicas`` (the cluster's nodes for ``drain_node``) through the
official client against the local API server (``tests.fixtures.k8s_server``);
proposals prefer that figure to the topology's instance list and say which
source they used. The dry run knows no cluster: the topology is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.adapters.executors.dry_run import DryRunExecutor
from shared.adapters.executors.kubernetes import KubernetesApi, KubernetesExecutor
from shared.adapters.store.sqlite import SqliteStore
from shared.autonomy.actions import list_records
from shared.autonomy.policies import set_policy
from shared.autonomy.proposals import propose
from shared.clock import FixedClock
from shared.errors import ExecutorUnavailable
from shared.incidents import stored_analysis
from shared.models.analysis import IncidentAnalysis
from shared.models.incident import Incident
from shared.models.tenant import Service, Tenant, Topology
from shared.ports.executor import Executor, FleetObserver
from shared.ports.store import Container
from shared.settings import Settings
from shared.tenants.registry import TenantRegistry
from tests.contract.executor.conftest import NOW, shop
from tests.fixtures.k8s_server import TOKEN, Cluster, serve

T0 = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
POLICY = """\
actions:
  restart_pod: {tier: low, mode: active}
  drain_node:  {tier: low, mode: active}
"""
RUNBOOK = """\
---
id: rb-restart
title: Restart checkout
categories: [bad_deployment]
actions:
  - {action: restart_pod, target: "{target}"}
---
"""


@dataclass
class Live:
    cluster: Cluster
    store: SqliteStore
    executor: KubernetesExecutor


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    cluster = shop()
    store = SqliteStore(tmp_path / "ledger.sqlite3")
    with serve(cluster) as url:
        api = KubernetesApi(url, TOKEN, timeout_seconds=5)
        yield Live(cluster, store, KubernetesExecutor(api, store, FixedClock(NOW)))
        api.close()
    store.close()


# --- the adapters ------------------------------------------------------------------------


def test_kubernetes_reads_replicas_and_ready_replicas(live: Live) -> None:
    assert isinstance(live.executor, FleetObserver)
    healthy = live.executor.observe_fleet("restart_pod", "shop/checkout")
    live.cluster.degrade("shop", "checkout", ready=1)
    degraded = live.executor.observe_fleet("restart_pod", "shop/checkout")
    live.cluster.degrade("shop", "checkout", ready=0)  # the API omits readyReplicas
    down = live.executor.observe_fleet("restart_pod", "shop/checkout")

    assert healthy is not None and (healthy.size, healthy.ready) == (3, 3)
    assert degraded is not None and (degraded.size, degraded.ready) == (3, 1)
    assert degraded.source == "deployment shop/checkout: 3 replicas, 1 ready"
    assert down is not None and down.ready == 0
    gets = [c.path for c in live.cluster.calls if c.method == "GET"]
    assert gets == ["/apis/apps/v1/namespaces/shop/deployments/checkout"] * 3
    assert live.cluster.mutations == 0  # read-only


def test_drain_node_counts_ready_schedulable_nodes(live: Live) -> None:
    live.cluster.node_not_ready("node-3")
    live.cluster.nodes["node-2"]["spec"]["unschedulable"] = True  # cordoned: takes no pods

    seen = live.executor.observe_fleet("drain_node", "node-1")

    assert seen is not None and (seen.size, seen.ready) == (3, 1)
    assert live.cluster.calls[-1].path == "/api/v1/nodes"


def test_unknown_deployment_is_unknown_and_a_5xx_is_transient(live: Live) -> None:
    assert live.executor.observe_fleet("restart_pod", "shop/nothing-here") is None
    live.cluster.fail_next(503)
    with pytest.raises(ExecutorUnavailable):
        live.executor.observe_fleet("restart_pod", "shop/checkout")


def test_the_dry_run_knows_no_fleet(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        assert DryRunExecutor(store, FixedClock(NOW)).observe_fleet("restart_pod", "a/b") is None
    finally:
        store.close()


# --- proposals decide on the live figure ---------------------------------------------------


@dataclass
class Deps:
    store: SqliteStore
    tenants: TenantRegistry
    clock: FixedClock
    settings: Settings
    executor: Executor

    def executor_for(self, tenant: Tenant) -> Executor:
        return self.executor


def deps_with(tmp_path: Path, executor: Executor) -> Deps:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir(exist_ok=True)
    (runbooks / "rb-restart.md").write_text(RUNBOOK)
    settings = Settings(
        home=tmp_path / "home",
        runbooks_dir=runbooks,
        echo_messages=False,
        kubernetes_namespace="shop",
    )
    store = SqliteStore(settings.sqlite_path)
    tenants = TenantRegistry(store)
    tenants.add(
        Tenant(
            id="acme",
            tenant_id="acme",
            name="Acme",
            topology=Topology(
                services=(Service(name="checkout", instances=("node-1", "node-2", "node-3")),)
            ),
        )
    )
    set_policy(store, "acme", POLICY, now=T0, actor="test")
    incident = Incident(
        id="INC-1",
        tenant_id="acme",
        title="checkout errors",
        services=("checkout",),
        first_seen=T0,
        last_seen=T0,
        created_at=T0,
        updated_at=T0,
    )
    store.create(Container.INCIDENTS, "acme", incident.to_doc())
    top = {
        "rank": 1,
        "category": "bad_deployment",
        "target": "checkout",
        "title": "Release of checkout",
        "confidence": 0.8,
        "origins": ["detector"],
    }
    stored_analysis.save(
        store,
        "acme",
        IncidentAnalysis(
            incident_id="INC-1",
            hypotheses=(top,),
            runbooks=({"id": "rb-restart", "title": "Restart", "score": 0.9},),
            model_version="test",
            at=T0,
        ),
    )
    return Deps(store, tenants, FixedClock(T0), settings, executor)


def test_ready_replicas_under_the_floor_refuse_with_the_live_figure(
    live: Live, tmp_path: Path
) -> None:
    live.cluster.degrade("shop", "checkout", ready=1)
    deps = deps_with(tmp_path, live.executor)
    try:
        proposed = propose(deps, "acme", "INC-1")
        refusals = [
            d
            for d in deps.store.query(Container.AUDIT, "acme")
            if d["action"] == "remediation.refused"
        ]
    finally:
        deps.store.close()

    assert proposed.started == ()  # the topology alone (3 instances, none named) would allow it
    (line,) = proposed.skipped
    assert "would leave 0 healthy of 3 in checkout (floor 1)" in line
    assert "read from the cluster (deployment shop/checkout: 3 replicas, 1 ready)" in line
    assert any("1 ready" in reason for reason in refusals[0]["detail"]["reasons"])


def test_a_healthy_cluster_allows_it_and_says_the_source(live: Live, tmp_path: Path) -> None:
    deps = deps_with(tmp_path, live.executor)
    try:
        proposed = propose(deps, "acme", "INC-1")
        (record,) = list_records(deps.store, "acme")
    finally:
        deps.store.close()

    assert [r.action for r in proposed.started] == ["restart_pod"]
    assert "2 of 3 stay healthy (floor 1)" in record.reasons
    assert any("read from the cluster" in r and "3 ready" in r for r in record.reasons)


def test_without_live_figures_the_topology_is_used_and_named(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "ledger.sqlite3")
    deps = deps_with(tmp_path, DryRunExecutor(store, FixedClock(T0)))
    try:
        propose(deps, "acme", "INC-1")
        (record,) = list_records(deps.store, "acme")
    finally:
        deps.store.close()
        store.close()

    assert any(
        r.startswith("fleet of checkout from the topology (3 instances") for r in record.reasons
    )


def test_an_unreachable_cluster_falls_back_to_the_topology_and_says_so(
    live: Live, tmp_path: Path
) -> None:
    live.cluster.fail_next(503)
    deps = deps_with(tmp_path, live.executor)
    try:
        proposed = propose(deps, "acme", "INC-1")
        (record,) = list_records(deps.store, "acme")
    finally:
        deps.store.close()

    assert len(proposed.started) == 1
    assert any("from the topology" in r and "live figures unavailable" in r for r in record.reasons)
