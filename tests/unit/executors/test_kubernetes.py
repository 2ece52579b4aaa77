"""The Kubernetes executor, driven through the official ``kubernetes`` client.

No Kubernetes API server runs on these machines, so the real SDK is tested
against a wire-faithful local server (``tests.fixtures.k8s_server``): the same
REST paths, patch content types, ``Status`` errors and JSON shapes, with the
deployment and ReplicaSet controllers modelled as far as the executor relies
on them. The server counts mutating calls, so "acts once" is checked on the
wire. ``tests/contract/executor`` runs the port's contract on this adapter and
the dry run; this module checks what only Kubernetes does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared import bootstrap
from shared.adapters.executors.kubernetes import KubernetesApi, KubernetesExecutor
from shared.adapters.executors.ledger import CONTAINER
from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.errors import ExecutorUnavailable, StoreUnavailable
from shared.models.tenant import Tenant
from shared.ports.executor import ActionRequest, ExecutionStatus
from shared.ports.store import Container, Document
from shared.settings import Settings
from tests.contract.executor.conftest import NOW, shop
from tests.fixtures.k8s_server import REVISION, TOKEN, Cluster, serve


@dataclass
class World:
    cluster: Cluster
    store: SqliteStore
    executor: KubernetesExecutor
    url: str

    def deployment(self) -> dict[str, Any]:
        return self.cluster.deployments[("shop", "checkout")]

    def image(self) -> str:
        return str(self.deployment()["spec"]["template"]["spec"]["containers"][0]["image"])

    def pod_names(self, node: str | None = None) -> set[str]:
        return {
            name
            for (_, name), pod in self.cluster.pods.items()
            if node is None or pod["spec"]["nodeName"] == node
        }


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    cluster = shop()
    store = SqliteStore(tmp_path / "store.sqlite3")
    with serve(cluster) as url:
        api = KubernetesApi(url, TOKEN, timeout_seconds=5)
        yield World(cluster, store, KubernetesExecutor(api, store, FixedClock(NOW)), url)
        api.close()
    store.close()


def req(action: str, target: str, key: str = "key-00000001", **params: Any) -> ActionRequest:
    return ActionRequest(
        tenant_id="acme",
        incident_id="inc-1",
        action=action,
        target=target,
        params=params,
        idempotency_key=key,
    )


# --- each action and its undo ------------------------------------------------------------


def test_restart_pod_deletes_the_pod_and_its_replicaset_replaces_it(world: World) -> None:
    pod = sorted(n for n in world.pod_names() if n.startswith("checkout-"))[0]
    request = req("restart_pod", f"shop/{pod}")

    plan = world.executor.plan(request)
    result = world.executor.execute(request)

    assert plan.summary.startswith(f"delete pod shop/{pod}; its ReplicaSet checkout-")
    assert result.status is ExecutionStatus.SUCCEEDED
    assert pod not in world.pod_names()
    assert len([n for n in world.pod_names() if n.startswith("checkout-")]) == 3
    assert world.executor.readiness(request, result).done
    assert world.executor.undo(request, result).detail.startswith("nothing to undo")


def test_a_pod_without_a_controller_is_not_restarted(world: World) -> None:
    world.cluster.add_pod("shop", "debug-shell", node="node-1")

    plan = world.executor.plan(req("restart_pod", "shop/debug-shell"))

    assert not plan.feasible and "no controller" in plan.reason


def test_rollout_restart_patches_the_restarted_at_annotation(world: World) -> None:
    world.cluster.auto_settle = False
    request = req("restart_pod", "shop/checkout", kind="deployment")

    result = world.executor.execute(request)

    template = world.deployment()["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/restartedAt": "2026-03-02T10:00:00Z"
    }
    assert world.deployment()["metadata"]["annotations"][REVISION] == "3"
    readiness = world.executor.readiness(request, result)
    assert not readiness.done and "not seen it yet" in readiness.detail
    world.cluster.settle()
    assert world.executor.readiness(request, result).done


def test_scale_by_a_delta_and_undo_restores_the_count(world: World) -> None:
    request = req("scale_replicas", "shop/checkout", delta=2)

    assert world.executor.plan(request).summary == "scale shop/checkout from 3 to 5 replicas"
    result = world.executor.execute(request)
    assert world.deployment()["spec"]["replicas"] == 5
    assert result.undo_state["from"] == 3

    undone = world.executor.undo(request, result)

    assert undone.status is ExecutionStatus.SUCCEEDED
    assert world.deployment()["spec"]["replicas"] == 3
    scale_patches = [c for c in world.cluster.calls if c.path.endswith("/scale")]
    assert {c.content_type for c in scale_patches if c.method == "PATCH"} == {
        "application/strategic-merge-patch+json"
    }


def test_scale_outside_the_bounds_is_not_feasible(world: World) -> None:
    plan = world.executor.plan(req("scale_replicas", "shop/checkout", delta=-3))
    result = world.executor.execute(req("scale_replicas", "shop/checkout", delta=-3))

    assert not plan.feasible and "outside 1..50" in plan.reason
    assert result.status is ExecutionStatus.FAILED and world.cluster.mutations == 0


def test_undo_of_a_scale_leaves_a_count_someone_else_changed(world: World) -> None:
    request = req("scale_replicas", "shop/checkout", delta=1)
    result = world.executor.execute(request)
    world.deployment()["spec"]["replicas"] = 7  # an autoscaler moved it since

    undone = world.executor.undo(request, result)

    assert undone.status is ExecutionStatus.FAILED and "someone else" in undone.detail
    assert world.deployment()["spec"]["replicas"] == 7


def test_rollback_returns_to_the_previous_revisions_template_and_undo_rolls_forward(
    world: World,
) -> None:
    request = req("rollback_deployment", "shop/checkout")

    plan = world.executor.plan(request)
    result = world.executor.execute(request)

    assert plan.summary == "roll shop/checkout back from revision 2 (app:2) to revision 1 (app:1)"
    assert world.image() == "app:1"
    assert world.deployment()["metadata"]["annotations"][REVISION] == "3"
    assert "pod-template-hash" not in world.deployment()["spec"]["template"]["metadata"]["labels"]
    (patch,) = [c for c in world.cluster.calls if c.method == "PATCH"]
    assert patch.content_type == "application/json-patch+json"
    assert world.executor.readiness(request, result).done

    undone = world.executor.undo(request, result)

    assert undone.status is ExecutionStatus.SUCCEEDED, undone.detail
    assert world.image() == "app:2"
    assert world.deployment()["metadata"]["annotations"][REVISION] == "4"


def test_rollback_with_no_earlier_revision_is_not_feasible(world: World) -> None:
    world.cluster.add_deployment("shop", "cart", image="cart:1", replicas=2)

    plan = world.executor.plan(req("rollback_deployment", "shop/cart"))

    assert not plan.feasible and "no revision before 1" in plan.reason


def test_drain_cordons_evicts_and_leaves_daemonset_pods(world: World) -> None:
    request = req("drain_node", "node-2")
    before = world.pod_names("node-2")

    plan = world.executor.plan(request)
    result = world.executor.execute(request)

    assert (
        plan.summary == "cordon node node-2 and evict its 1 pods (1 DaemonSet or mirror pods stay)"
    )
    assert result.status is ExecutionStatus.SUCCEEDED, result.detail
    assert world.cluster.nodes["node-2"]["spec"]["unschedulable"] is True
    assert world.pod_names("node-2") == {"node-exporter-node-2"}
    assert len(before) == 2
    evictions = [c for c in world.cluster.calls if c.path.endswith("/eviction")]
    assert len(evictions) == 1 and evictions[0].body["kind"] == "Eviction"
    assert world.executor.readiness(request, result).done

    world.executor.undo(request, result)

    assert world.cluster.nodes["node-2"]["spec"]["unschedulable"] is False


def test_a_disruption_budget_fails_the_drain_and_undo_still_uncordons(world: World) -> None:
    (pod,) = world.pod_names("node-2") - {"node-exporter-node-2"}
    world.cluster.block_eviction("shop", pod)
    request = req("drain_node", "node-2")

    result = world.executor.execute(request)

    assert result.status is ExecutionStatus.FAILED
    assert "could not evict 1" in result.detail and "disruption budget" in result.detail
    assert not world.executor.readiness(request, result).done
    assert world.executor.undo(request, result).detail == "uncordoned node node-2"
    assert world.cluster.nodes["node-2"]["spec"]["unschedulable"] is False


@pytest.mark.parametrize("action", ["clear_cache", "failover_database"])
def test_non_kubernetes_actions_are_not_feasible(world: World, action: str) -> None:
    plan = world.executor.plan(req(action, "shop/checkout"))

    assert not plan.feasible and "not a Kubernetes action" in plan.reason
    assert world.executor.execute(req(action, "shop/checkout")).status is ExecutionStatus.FAILED


# --- errors --------------------------------------------------------------------------------


def test_a_missing_object_is_a_failed_result_with_the_reason(world: World) -> None:
    request = req("scale_replicas", "shop/nope", delta=1)

    plan = world.executor.plan(request)
    result = world.executor.execute(request)

    assert not plan.feasible and plan.reason == "deployment shop/nope not found"
    assert result.status is ExecutionStatus.FAILED and "not found" in result.detail
    assert world.executor.execute(request).repeated


def test_a_server_error_is_unavailable_and_the_retry_acts_once(world: World) -> None:
    request = req("scale_replicas", "shop/checkout", delta=1)
    world.cluster.fail_next(503)

    with pytest.raises(ExecutorUnavailable, match="503"):
        world.executor.execute(request)
    assert world.cluster.mutations == 0
    result = world.executor.execute(request)

    assert result.status is ExecutionStatus.SUCCEEDED and world.cluster.mutations == 1
    assert world.deployment()["spec"]["replicas"] == 4


def test_an_unreachable_server_is_unavailable(world: World) -> None:
    api = KubernetesApi("http://127.0.0.1:9", TOKEN, timeout_seconds=2)
    executor = KubernetesExecutor(api, world.store, FixedClock(NOW))

    with pytest.raises(ExecutorUnavailable, match="unreachable"):
        executor.plan(req("scale_replicas", "shop/checkout", delta=1))
    api.close()
    assert world.store.query(CONTAINER, "acme") == []


def test_a_conflict_re_reads_and_retries_once(world: World) -> None:
    world.cluster.conflict_next_patch()

    result = world.executor.execute(req("scale_replicas", "shop/checkout", delta=1))

    assert result.status is ExecutionStatus.SUCCEEDED
    assert world.deployment()["spec"]["replicas"] == 4
    assert [c.method for c in world.cluster.calls].count("PATCH") == 2


def test_a_second_conflict_is_unavailable(world: World) -> None:
    world.cluster.conflict_next_patch(times=2)

    with pytest.raises(ExecutorUnavailable, match="409"):
        world.executor.execute(req("scale_replicas", "shop/checkout", delta=1))
    assert world.deployment()["spec"]["replicas"] == 3


def test_a_wrong_token_is_a_refusal(world: World) -> None:
    api = KubernetesApi(world.url, "wrong", timeout_seconds=2)
    executor = KubernetesExecutor(api, world.store, FixedClock(NOW))

    plan = executor.plan(req("scale_replicas", "shop/checkout", delta=1))

    assert not plan.feasible and plan.reason == "Unauthorized"
    api.close()


# --- a crash between acting and recording ---------------------------------------------------


class _LosesTheNextResult(SqliteStore):
    """A store whose next write of a result fails, as if the activity died right after acting."""

    armed = True

    def upsert(self, container: Container, tenant_id: str, doc: Document) -> Document:
        if self.armed and container is CONTAINER and "result" in doc:
            self.armed = False
            raise StoreUnavailable("host stopped")
        return super().upsert(container, tenant_id, doc)


@pytest.mark.parametrize(
    ("action", "target", "params"),
    [
        ("scale_replicas", "shop/checkout", {"delta": 2}),
        ("rollback_deployment", "shop/checkout", {}),
        ("restart_pod", "shop/checkout", {"kind": "deployment"}),
        ("drain_node", "node-2", {}),
    ],
)
def test_a_retry_after_acting_unrecorded_re_applies_the_intent_and_changes_nothing(
    world: World, tmp_path: Path, action: str, target: str, params: dict[str, Any]
) -> None:
    store = _LosesTheNextResult(tmp_path / "crash.sqlite3")
    api = KubernetesApi(world.url, TOKEN, timeout_seconds=5)
    executor = KubernetesExecutor(api, store, FixedClock(NOW))
    request = req(action, target, **params)

    with pytest.raises(StoreUnavailable):
        executor.execute(request)
    acted = world.cluster.mutations
    spec = world.deployment()["spec"]
    result = executor.execute(request)

    assert result.status is ExecutionStatus.SUCCEEDED, result.detail
    assert world.deployment()["spec"] == spec
    # Scale and rollback see their target state and write nothing; a restart sends the
    # same restartedAt and a drain the same cordon again, patches that change nothing.
    rewrites = {"scale_replicas": 0, "rollback_deployment": 0, "restart_pod": 1, "drain_node": 1}
    assert world.cluster.mutations - acted == rewrites[action]
    assert world.deployment()["metadata"]["annotations"][REVISION] == (
        "2" if action in ("scale_replicas", "drain_node") else "3"
    )
    assert world.image() == ("app:1" if action == "rollback_deployment" else "app:2")
    api.close()
    store.close()


# --- wiring --------------------------------------------------------------------------------


def test_the_runtime_builds_the_kubernetes_executor_from_settings(
    world: World, tmp_path: Path
) -> None:
    settings = Settings(
        home=tmp_path,
        executor="kubernetes",
        kubernetes_api_url=world.url,
        kubernetes_token=TOKEN,  # type: ignore[arg-type]
        kubernetes_namespace="shop",
    )
    runtime = bootstrap.build(settings)
    try:
        executor = runtime.executor_for(Tenant(id="acme", tenantId="acme", name="Acme"))
        assert isinstance(executor, KubernetesExecutor)
        plan = executor.plan(req("scale_replicas", "checkout", delta=1))
        assert plan.summary == "scale shop/checkout from 3 to 4 replicas"
    finally:
        runtime.close()
