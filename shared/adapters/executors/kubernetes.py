"""The Kubernetes executor: catalog actions through the official ``kubernetes`` client.

=====================  ==================================================================
``restart_pod``        a pod: delete it (its controller recreates it; ``preconditions.uid``
                       so a retry never deletes the replacement); a deployment
                       (``params.kind: deployment``, or no pod of that name): a rollout
                       restart, i.e. patch ``spec.template.metadata.annotations
                       ["kubectl.kubernetes.io/restartedAt"]``
``scale_replicas``     patch the deployment's ``scale`` subresource by ``params.delta``,
                       within ``min_replicas`` .. ``max_replicas``; undo restores the count
``rollback_deployment`` what ``kubectl rollout undo`` does: the ReplicaSet owned by the
                       deployment with the highest ``deployment.kubernetes.io/revision``
                       below the current one gives its pod template back to the deployment
                       (a JSON patch that replaces ``spec.template``); undo rolls forward
``drain_node``         cordon (``spec.unschedulable``), then evict every pod on the node
                       through ``policy/v1`` Eviction (DaemonSet and mirror pods stay, as
                       ``kubectl drain`` leaves them); undo uncordons a node it cordoned
``clear_cache``,       not Kubernetes actions: ``plan`` says not feasible, ``execute`` fails
``failover_database``
=====================  ==================================================================

A target is ``namespace/name`` (``name`` alone: the configured default
namespace); a node is named alone. Every execution goes through the ledger
(``ledger``): the state read right before acting is recorded as an absolute
intent ("replicas 3 -> 5", "template of checkout-6f7d", "node-2 was
schedulable") before the first write, and the result before returning, so a
retried activity either returns the result or re-applies the same absolute
intent, which changes nothing twice.

``observe_fleet`` reads, for the policy engine's fleet limits, a
deployment's ``spec.replicas`` (size) and ``status.readyReplicas`` (healthy),
and for ``drain_node`` the cluster's nodes (size) and those Ready and
schedulable (healthy); a missing deployment is unknown (None).

Every write that depends on what was read carries the ``resourceVersion`` it
read: a 409 Conflict re-reads once and retries if the object still is what the
intent expects, and fails as a value when someone else changed it meanwhile
(the executor never fights another writer). A missing object (404), a refusal
(400, 401, 403, 422) or a disruption budget (429 on eviction) is a ``FAILED``
result or a plan that is not feasible, with the API's reason. A 5xx, another
429 or a connection failure raises ``ExecutorUnavailable``: nothing was
recorded as done, and the retry is safe.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from shared.adapters.executors.ledger import Ledger, Phase
from shared.clock import Clock
from shared.errors import ExecutorUnavailable
from shared.ports.executor import (
    ActionPlan,
    ActionRequest,
    ExecutionResult,
    ExecutionStatus,
    FleetObservation,
    Readiness,
)
from shared.ports.store import DocumentStore
from shared.settings import Settings

EXECUTOR = "kubernetes"
REVISION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
NOT_KUBERNETES = {
    "clear_cache": "clearing a cache is done through the cache itself, not the Kubernetes API",
    "failover_database": "a database failover is done through the database, not Kubernetes",
}

Obj = dict[str, Any]


class KubernetesApi:
    """One API server connection (pooled), shared by every executor; built on first use."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        ca_file: str = "",
        verify_tls: bool = True,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._url = url
        self._token = token
        self._ca_file = ca_file
        self._verify_tls = verify_tls
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        self._client: k8s.ApiClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> KubernetesApi:
        return cls(
            settings.kubernetes_api_url,
            settings.kubernetes_token.get_secret_value(),
            ca_file=settings.kubernetes_ca_file,
            verify_tls=settings.kubernetes_verify_tls,
            timeout_seconds=settings.kubernetes_timeout_seconds,
        )

    @property
    def client(self) -> k8s.ApiClient:
        with self._lock:
            if self._client is None:
                if not self._url:
                    raise ExecutorUnavailable("SRE_COPILOT_KUBERNETES_API_URL is not set")
                config = k8s.Configuration(host=self._url)
                config.api_key = {"BearerToken": self._token}
                config.api_key_prefix = {"BearerToken": "Bearer"}
                config.verify_ssl = self._verify_tls
                config.ssl_ca_cert = self._ca_file or None
                # No urllib3 retries: a failed call surfaces as ExecutorUnavailable and the
                # activity is retried under the same idempotency key, which is safe.
                config.retries = False
                self._client = k8s.ApiClient(config)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()  # type: ignore[no-untyped-call]
                self._client = None


class _Refused(Exception):
    """An expected refusal (missing object, forbidden, changed meanwhile): a value to the caller."""

    def __init__(self, reason: str, *, status: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class _Conflict(Exception):
    """409 on a write: re-read and retry once."""


@dataclass(frozen=True, slots=True)
class _Target:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def _api_message(error: ApiException) -> str:
    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or error.reason or f"HTTP {error.status}")


class KubernetesExecutor:
    """``Executor`` on one cluster; records each key's intent and result in the tenant's ledger."""

    def __init__(
        self,
        api: KubernetesApi,
        store: DocumentStore,
        clock: Clock,
        *,
        namespace: str = "default",
        min_replicas: int = 1,
        max_replicas: int = 50,
    ) -> None:
        self._api = api
        self._clock = clock
        self._namespace = namespace
        self._min_replicas = min_replicas
        self._max_replicas = max_replicas
        self._ledger = Ledger(store, clock, executor=EXECUTOR)

    # --- the port ---------------------------------------------------------------------

    def plan(self, request: ActionRequest) -> ActionPlan:
        try:
            intent = self._prepare(request, self._clock.now())
        except _Refused as refused:
            return ActionPlan(
                feasible=False,
                summary="nothing",
                expected_impact="none",
                undo="nothing",
                reason=refused.reason,
            )
        summary, impact, undo = _describe(intent)
        return ActionPlan(feasible=True, summary=summary, expected_impact=impact, undo=undo)

    def execute(self, request: ActionRequest) -> ExecutionResult:
        return self._run(request, Phase.EXECUTE, lambda now: self._prepare(request, now))

    def undo(self, request: ActionRequest, result: ExecutionResult) -> ExecutionResult:
        return self._run(request, Phase.UNDO, lambda now: self._prepare_undo(request, result))

    def readiness(self, request: ActionRequest, result: ExecutionResult) -> Readiness:
        if result.status is not ExecutionStatus.SUCCEEDED:
            return Readiness(done=False, detail=f"the action did not succeed: {result.detail}")
        entry = self._ledger.lookup(request, Phase.EXECUTE)
        if entry is None:
            return Readiness(done=False, detail="no record of this execution")
        intent = entry.intent
        try:
            match intent["op"]:
                case "delete_pod":
                    return self._pod_replaced(intent)
                case "restart" | "scale" | "rollback":
                    return self._rolled_out(_target(intent), intent.get("restarted_at"))
                case "drain":
                    return self._drained(intent["node"])
        except _Refused as refused:
            return Readiness(done=False, detail=refused.reason)
        return Readiness(done=True, detail="nothing to wait for")

    def observe_fleet(self, action: str, workload: str) -> FleetObservation | None:
        try:
            if action == "drain_node":
                return self._nodes_fleet()
            target = self._target(workload)
            found = self._read(
                lambda: self._apps.read_namespaced_deployment(
                    target.name, target.namespace, _request_timeout=self._timeout
                )
            )
        except _Refused:
            return None  # forbidden or malformed: unknown, the topology is used
        if found is None:
            return None
        size = int(found["spec"].get("replicas", 1))
        ready = int((found.get("status") or {}).get("readyReplicas") or 0)
        return FleetObservation(
            size=size,
            ready=min(ready, size),
            source=f"deployment {target}: {size} replicas, {ready} ready",
        )

    def _nodes_fleet(self) -> FleetObservation | None:
        listed = self._call(lambda: self._core.list_node(_request_timeout=self._timeout))
        nodes = listed.get("items") or []
        if not nodes:
            return None
        ready = sum(1 for node in nodes if _node_ready(node))
        return FleetObservation(
            size=len(nodes),
            ready=ready,
            source=f"cluster nodes: {len(nodes)}, {ready} ready and schedulable",
        )

    # --- one run per key ---------------------------------------------------------------

    def _run(
        self, request: ActionRequest, phase: Phase, prepare: Callable[[datetime], Obj]
    ) -> ExecutionResult:
        entry = self._ledger.lookup(request, phase)
        if entry is not None and entry.result is not None:
            return entry.result
        started = self._clock.now()
        if entry is None:
            try:
                intent = prepare(started)
            except _Refused as refused:
                return self._ledger.record(
                    request, phase, self._result(request, started, refused.reason, failed=True)
                )
            entry = self._ledger.begin(request, phase, intent)
            if entry.result is not None:
                return entry.result
        try:
            detail, undo_state = self._apply(entry.intent)
            result = self._result(request, started, detail, undo_state=undo_state)
        except _Refused as refused:
            result = self._result(
                request, started, refused.reason, failed=True, undo_state=_partial(entry.intent)
            )
        return self._ledger.finish(request, phase, entry.intent, result)

    def _result(
        self,
        request: ActionRequest,
        started: datetime,
        detail: str,
        *,
        failed: bool = False,
        undo_state: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        return ExecutionResult(
            idempotency_key=request.idempotency_key,
            status=ExecutionStatus.FAILED if failed else ExecutionStatus.SUCCEEDED,
            detail=detail,
            undo_state=undo_state or {},
            started_at=started,
            finished_at=self._clock.now(),
        )

    # --- reading the state into an absolute intent ---------------------------------------

    def _prepare(self, request: ActionRequest, now: datetime) -> Obj:
        action = request.action
        if action in NOT_KUBERNETES:
            raise _Refused(f"{action} is not a Kubernetes action: {NOT_KUBERNETES[action]}")
        match action:
            case "restart_pod":
                return self._prepare_restart(request, now)
            case "scale_replicas":
                return self._prepare_scale(request)
            case "rollback_deployment":
                return self._prepare_rollback(self._target(request.target))
            case "drain_node":
                return self._prepare_drain(request.target)
        raise _Refused(f"{action!r} is not a catalog action")

    def _target(self, raw: str) -> _Target:
        namespace, _, name = raw.rpartition("/")
        if not name or "/" in namespace:
            raise _Refused(f"{raw!r} is not namespace/name")
        return _Target(namespace or self._namespace, name)

    def _prepare_restart(self, request: ActionRequest, now: datetime) -> Obj:
        target = self._target(request.target)
        kind = request.params.get("kind")
        if kind not in (None, "pod", "deployment"):
            raise _Refused(f"restart_pod: kind must be pod or deployment, not {kind!r}")
        if kind != "deployment":
            pod = self._read(
                lambda: self._core.read_namespaced_pod(
                    target.name, target.namespace, _request_timeout=self._timeout
                )
            )
            if pod is not None:
                owners = [
                    r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")
                ]
                if not owners:
                    raise _Refused(
                        f"pod {target} has no controller: deleting it would not bring it back"
                    )
                return {
                    "op": "delete_pod",
                    **_fields(target),
                    "uid": pod["metadata"]["uid"],
                    "owner_kind": owners[0]["kind"],
                    "owner": owners[0]["name"],
                }
            if kind == "pod":
                raise _Refused(f"pod {target} not found")
        deployment = self._deployment(target)
        return {
            "op": "restart",
            **_fields(target),
            "replicas": deployment["spec"].get("replicas", 1),
            "restarted_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _prepare_scale(self, request: ActionRequest) -> Obj:
        target = self._target(request.target)
        delta = request.params.get("delta")
        if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
            raise _Refused("scale_replicas needs a non-zero whole 'delta' parameter")
        before = self._scale(target)["spec"].get("replicas", 0)
        after = before + delta
        if not self._min_replicas <= after <= self._max_replicas:
            raise _Refused(
                f"scaling {target} from {before} by {delta:+d} would leave {after} replicas, "
                f"outside {self._min_replicas}..{self._max_replicas}"
            )
        return {"op": "scale", **_fields(target), "from": before, "to": after}

    def _prepare_rollback(self, target: _Target) -> Obj:
        deployment = self._deployment(target)
        current = _revision(deployment)
        history = sorted(
            (
                (_revision(rs), rs)
                for rs in self._replicasets(deployment)
                if _revision(rs) < current
            ),
            key=lambda pair: pair[0],
        )
        if not history:
            raise _Refused(f"deployment {target} has no revision before {current} to roll back to")
        revision, previous = history[-1]
        now_rs = self._current_replicaset(deployment)
        return {
            "op": "rollback",
            **_fields(target),
            "from_rs": now_rs["metadata"]["name"] if now_rs else "",
            "from_revision": current,
            "from_image": _images(deployment["spec"]["template"]),
            "to_rs": previous["metadata"]["name"],
            "to_revision": revision,
            "to_image": _images(previous["spec"]["template"]),
        }

    def _prepare_drain(self, node_name: str) -> Obj:
        if "/" in node_name:
            raise _Refused(f"{node_name!r}: a node is named without a namespace")
        node = self._read(lambda: self._core.read_node(node_name, _request_timeout=self._timeout))
        if node is None:
            raise _Refused(f"node {node_name} not found")
        evict, stay = self._pods_on(node_name)
        return {
            "op": "drain",
            "node": node_name,
            "was_unschedulable": bool(node["spec"].get("unschedulable")),
            "pods": len(evict),
            "staying": len(stay),
        }

    def _prepare_undo(self, request: ActionRequest, result: ExecutionResult) -> Obj:
        state = result.undo_state
        match state.get("op"):
            case "scale":
                target = _target(state)
                now = self._scale(target)["spec"].get("replicas", 0)
                if now != state["to"]:
                    raise _Refused(
                        f"{target} now runs {now} replicas, not the {state['to']} it was scaled "
                        "to: someone else scaled it since; not undoing"
                    )
                return {"op": "scale", **_fields(target), "from": now, "to": state["from"]}
            case "rollback":
                target = _target(state)
                deployment = self._deployment(target)
                back = self._read(
                    lambda: self._apps.read_namespaced_replica_set(
                        state["from_rs"], target.namespace, _request_timeout=self._timeout
                    )
                )
                if back is None:
                    raise _Refused(
                        f"ReplicaSet {state['from_rs']} is gone: nothing to roll forward to"
                    )
                now_rs = self._current_replicaset(deployment)
                return {
                    "op": "rollback",
                    **_fields(target),
                    "from_rs": now_rs["metadata"]["name"] if now_rs else "",
                    "from_revision": _revision(deployment),
                    "from_image": _images(deployment["spec"]["template"]),
                    "to_rs": state["from_rs"],
                    "to_revision": _revision(back),
                    "to_image": _images(back["spec"]["template"]),
                }
            case "drain" if state.get("cordoned"):
                return {"op": "uncordon", "node": state["node"]}
        return {"op": "nothing", "action": request.action}

    # --- acting on an intent -----------------------------------------------------------

    def _apply(self, intent: Obj) -> tuple[str, dict[str, Any]]:
        """Carry the intent out; safe to repeat (absolute targets, uid preconditions)."""
        match intent["op"]:
            case "delete_pod":
                return self._delete_pod(intent), {}
            case "restart":
                return self._restart(intent), {}
            case "scale":
                return self._once_more_on_conflict(lambda: self._apply_scale(intent))
            case "rollback":
                return self._once_more_on_conflict(lambda: self._apply_rollback(intent))
            case "drain":
                return self._drain(intent)
            case "uncordon":
                self._cordon(intent["node"], False)
                return f"uncordoned node {intent['node']}", {}
        return f"nothing to undo: {intent.get('action', 'the action')} changed no spec", {}

    def _once_more_on_conflict(
        self, attempt: Callable[[], tuple[str, dict[str, Any]]]
    ) -> tuple[str, dict[str, Any]]:
        try:
            return attempt()
        except _Conflict:
            try:
                return attempt()  # re-reads first: still what the intent expects?
            except _Conflict:
                raise ExecutorUnavailable(
                    "the object kept changing under two attempts (409 Conflict); try again"
                ) from None

    def _delete_pod(self, intent: Obj) -> str:
        target = _target(intent)
        options = k8s.V1DeleteOptions(preconditions=k8s.V1Preconditions(uid=intent["uid"]))
        try:
            self._call(
                lambda: self._core.delete_namespaced_pod(
                    target.name, target.namespace, body=options, _request_timeout=self._timeout
                )
            )
        except _Refused as refused:
            if refused.status not in (404, 409):
                raise
            # Gone, or a uid mismatch: the pod we meant is gone already.
            return f"pod {target} was already gone; its {intent['owner_kind']} replaces it"
        return f"deleted pod {target}; its {intent['owner_kind']} {intent['owner']} recreates it"

    def _restart(self, intent: Obj) -> str:
        target = _target(intent)
        patch = {
            "spec": {
                "template": {"metadata": {"annotations": {RESTARTED_AT: intent["restarted_at"]}}}
            }
        }
        # The same restartedAt again changes nothing: a retried restart restarts once.
        self._write(
            lambda: self._apps.patch_namespaced_deployment(
                target.name, target.namespace, patch, _request_timeout=self._timeout
            )
        )
        return f"rollout restart of deployment {target} (restartedAt {intent['restarted_at']})"

    def _apply_scale(self, intent: Obj) -> tuple[str, dict[str, Any]]:
        target = _target(intent)
        scale = self._scale(target)
        now = scale["spec"].get("replicas", 0)
        state = {"op": "scale", **_fields(target), "from": intent["from"], "to": intent["to"]}
        if now == intent["to"]:
            return f"{target} runs {now} replicas already", state
        if now != intent["from"]:
            raise _Refused(
                f"{target} was scaled to {now} by someone else since the plan "
                f"(from {intent['from']}); not scaling"
            )
        patch = {
            "metadata": {"resourceVersion": scale["metadata"]["resourceVersion"]},
            "spec": {"replicas": intent["to"]},
        }
        self._write(
            lambda: self._apps.patch_namespaced_deployment_scale(
                target.name, target.namespace, patch, _request_timeout=self._timeout
            )
        )
        return f"scaled {target} from {intent['from']} to {intent['to']} replicas", state

    def _apply_rollback(self, intent: Obj) -> tuple[str, dict[str, Any]]:
        target = _target(intent)
        deployment = self._deployment(target)
        wanted = self._read(
            lambda: self._apps.read_namespaced_replica_set(
                intent["to_rs"], target.namespace, _request_timeout=self._timeout
            )
        )
        if wanted is None:
            raise _Refused(f"ReplicaSet {intent['to_rs']} is gone: nothing to roll back to")
        template = _without_hash(wanted["spec"]["template"])
        state = {
            "op": "rollback",
            **_fields(target),
            "from_rs": intent["from_rs"],
            "from_revision": intent["from_revision"],
        }
        done = (
            f"rolled {target} from revision {intent['from_revision']} ({intent['from_image']}) "
            f"to the template of revision {intent['to_revision']} ({intent['to_image']})"
        )
        if _without_hash(deployment["spec"]["template"]) == template:
            return done, state
        now_rs = self._current_replicaset(deployment)
        if now_rs is None or now_rs["metadata"]["name"] != intent["from_rs"]:
            raise _Refused(
                f"{target} changed since the plan (it no longer runs {intent['from_rs']}); "
                "not rolling back"
            )
        # A JSON patch replaces the template whole, as kubectl rollout undo does: a
        # strategic merge would keep fields that only the current template has.
        patch = [
            {"op": "replace", "path": "/spec/template", "value": template},
            {
                "op": "replace",
                "path": "/metadata/resourceVersion",
                "value": deployment["metadata"]["resourceVersion"],
            },
        ]
        self._write(
            lambda: self._apps.patch_namespaced_deployment(
                target.name, target.namespace, patch, _request_timeout=self._timeout
            )
        )
        return done, state

    def _drain(self, intent: Obj) -> tuple[str, dict[str, Any]]:
        node = intent["node"]
        self._cordon(node, True)
        state = {"op": "drain", "node": node, "cordoned": not intent["was_unschedulable"]}
        evict, stay = self._pods_on(node)
        blocked: list[str] = []
        for pod in evict:
            meta = pod["metadata"]
            eviction = k8s.V1Eviction(
                api_version="policy/v1",
                kind="Eviction",
                metadata=k8s.V1ObjectMeta(name=meta["name"], namespace=meta["namespace"]),
            )
            try:
                evict_one = partial(
                    self._core.create_namespaced_pod_eviction,
                    meta["name"],
                    meta["namespace"],
                    eviction,
                    _request_timeout=self._timeout,
                )
                self._call(evict_one, refuse_429=True)
            except _Refused as refused:
                if refused.status != 404:
                    blocked.append(f"{meta['namespace']}/{meta['name']} ({refused.reason})")
        done = f"cordoned node {node}; evicted {len(evict) - len(blocked)} pods"
        done += f", left {len(stay)} DaemonSet or mirror pods" if stay else ""
        if blocked:
            raise _Refused(f"{done}; could not evict {len(blocked)}: {'; '.join(blocked)}")
        return done, state

    def _cordon(self, node: str, unschedulable: bool) -> None:
        self._write(
            lambda: self._core.patch_node(
                node, {"spec": {"unschedulable": unschedulable}}, _request_timeout=self._timeout
            )
        )

    # --- readiness ----------------------------------------------------------------------

    def _pod_replaced(self, intent: Obj) -> Readiness:
        target = _target(intent)
        pod = self._read(
            lambda: self._core.read_namespaced_pod(
                target.name, target.namespace, _request_timeout=self._timeout
            )
        )
        if pod is not None and pod["metadata"]["uid"] == intent["uid"]:
            return Readiness(done=False, detail=f"pod {target} is still there")
        if intent["owner_kind"] != "ReplicaSet":
            return Readiness(done=True, detail=f"pod {target} was replaced")
        owner = self._read(
            lambda: self._apps.read_namespaced_replica_set(
                intent["owner"], target.namespace, _request_timeout=self._timeout
            )
        )
        if owner is None:
            return Readiness(done=False, detail=f"ReplicaSet {intent['owner']} is gone")
        want = owner["spec"].get("replicas", 0)
        ready = owner.get("status", {}).get("readyReplicas") or 0
        if ready < want:
            return Readiness(done=False, detail=f"{intent['owner']}: {ready} of {want} ready")
        return Readiness(done=True, detail=f"pod {target} replaced; {ready} of {want} ready")

    def _rolled_out(self, target: _Target, restarted_at: str | None) -> Readiness:
        deployment = self._deployment(target)
        spec, status = deployment["spec"], deployment.get("status") or {}
        want = spec.get("replicas", 1)
        if restarted_at is not None:
            annotations = spec["template"].get("metadata", {}).get("annotations") or {}
            if annotations.get(RESTARTED_AT, "") < restarted_at:
                return Readiness(done=False, detail=f"{target}: the restart is not in the spec")
        # What kubectl rollout status checks.
        if (status.get("observedGeneration") or 0) < deployment["metadata"]["generation"]:
            return Readiness(done=False, detail=f"{target}: the controller has not seen it yet")
        updated = status.get("updatedReplicas") or 0
        total = status.get("replicas") or 0
        available = status.get("availableReplicas") or 0
        if updated < want:
            return Readiness(done=False, detail=f"{target}: {updated} of {want} updated")
        if total > updated:
            return Readiness(done=False, detail=f"{target}: {total - updated} old replicas left")
        if available < updated:
            return Readiness(done=False, detail=f"{target}: {available} of {updated} available")
        return Readiness(done=True, detail=f"{target}: rollout complete, {available} available")

    def _drained(self, node_name: str) -> Readiness:
        node = self._read(lambda: self._core.read_node(node_name, _request_timeout=self._timeout))
        if node is None:
            return Readiness(done=False, detail=f"node {node_name} not found")
        if not node["spec"].get("unschedulable"):
            return Readiness(done=False, detail=f"node {node_name} is not cordoned")
        evict, _ = self._pods_on(node_name)
        if evict:
            return Readiness(done=False, detail=f"node {node_name}: {len(evict)} pods still on it")
        return Readiness(done=True, detail=f"node {node_name} cordoned and drained")

    # --- the API --------------------------------------------------------------------------

    @property
    def _timeout(self) -> float:
        return self._api.timeout_seconds

    @property
    def _core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self._api.client)

    @property
    def _apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(self._api.client)

    def _deployment(self, target: _Target) -> Obj:
        found = self._read(
            lambda: self._apps.read_namespaced_deployment(
                target.name, target.namespace, _request_timeout=self._timeout
            )
        )
        if found is None:
            raise _Refused(f"deployment {target} not found")
        return found

    def _scale(self, target: _Target) -> Obj:
        found = self._read(
            lambda: self._apps.read_namespaced_deployment_scale(
                target.name, target.namespace, _request_timeout=self._timeout
            )
        )
        if found is None:
            raise _Refused(f"deployment {target} not found")
        return found

    def _replicasets(self, deployment: Obj) -> list[Obj]:
        meta = deployment["metadata"]
        labels = deployment["spec"]["selector"].get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        listed = self._call(
            lambda: self._apps.list_namespaced_replica_set(
                meta["namespace"], label_selector=selector, _request_timeout=self._timeout
            )
        )
        return [
            rs
            for rs in listed.get("items") or []
            if any(r.get("uid") == meta["uid"] for r in rs["metadata"].get("ownerReferences") or [])
        ]

    def _current_replicaset(self, deployment: Obj) -> Obj | None:
        revision = _revision(deployment)
        for rs in self._replicasets(deployment):
            if _revision(rs) == revision:
                return rs
        return None

    def _pods_on(self, node: str) -> tuple[list[Obj], list[Obj]]:
        """The node's pods to evict, and those that stay (DaemonSet, mirror, finished)."""
        listed = self._call(
            lambda: self._core.list_pod_for_all_namespaces(
                field_selector=f"spec.nodeName={node}", _request_timeout=self._timeout
            )
        )
        evict, stay = [], []
        for pod in listed.get("items") or []:
            meta = pod["metadata"]
            daemon = any(r.get("kind") == "DaemonSet" for r in meta.get("ownerReferences") or [])
            mirror = "kubernetes.io/config.mirror" in (meta.get("annotations") or {})
            finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            if daemon or mirror:
                stay.append(pod)
            elif not finished:
                evict.append(pod)
        return evict, stay

    def _read(self, call: Callable[[], object]) -> Obj | None:
        """A GET: the object as JSON, or None when it does not exist."""
        try:
            return self._call(call)
        except _Refused as refused:
            if refused.status == 404:
                return None
            raise

    def _write(self, call: Callable[[], object]) -> Obj:
        return self._call(call, conflicts=True)

    def _call(
        self, call: Callable[[], object], *, conflicts: bool = False, refuse_429: bool = False
    ) -> Obj:
        """One API call; its answer as the JSON the API sent. Errors become values or retries."""
        try:
            answer = call()
        except ApiException as error:
            status = int(error.status or 0)
            message = _api_message(error)
            if status == 409 and conflicts:
                raise _Conflict(message) from None
            if status >= 500 or status == 0 or (status == 429 and not refuse_429):
                raise ExecutorUnavailable(f"Kubernetes API: {status} {message}") from None
            raise _Refused(message, status=status) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ExecutorUnavailable(f"Kubernetes API unreachable: {error}") from None
        serialised = self._api.client.sanitize_for_serialization(answer)  # type: ignore[no-untyped-call]
        return serialised if isinstance(serialised, dict) else {}


# --- helpers ---------------------------------------------------------------------------


def _fields(target: _Target) -> Obj:
    return {"namespace": target.namespace, "name": target.name}


def _target(intent: Obj) -> _Target:
    return _Target(intent["namespace"], intent["name"])


def _node_ready(node: Obj) -> bool:
    """Ready condition True and not cordoned: a node that can take the drained pods."""
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _partial(intent: Obj) -> dict[str, Any]:
    """What undo needs after a failure part-way: a drain that cordoned but could not evict."""
    if intent["op"] == "drain":
        return {"op": "drain", "node": intent["node"], "cordoned": not intent["was_unschedulable"]}
    return {}


def _revision(obj: Obj) -> int:
    annotations = obj["metadata"].get("annotations") or {}
    try:
        return int(annotations.get(REVISION, 0))
    except ValueError:
        return 0


def _images(template: Obj) -> str:
    containers = template.get("spec", {}).get("containers") or []
    return ", ".join(str(c.get("image")) for c in containers) or "no image"


def _without_hash(template: Obj) -> Obj:
    """A ReplicaSet's template as the deployment holds it (no ``pod-template-hash`` label)."""
    copied = json.loads(json.dumps(template))
    labels = copied.get("metadata", {}).get("labels") or {}
    labels.pop("pod-template-hash", None)
    return dict(copied)


def _describe(intent: Obj) -> tuple[str, str, str]:
    """Summary, expected impact and undo plan of an intent, in words."""
    match intent["op"]:
        case "delete_pod":
            target = _target(intent)
            return (
                f"delete pod {target}; its {intent['owner_kind']} {intent['owner']} recreates it",
                "one replica is out of service until its replacement is ready",
                "nothing to undo: the replacement runs the same spec",
            )
        case "restart":
            target = _target(intent)
            return (
                f"rollout restart of deployment {target} ({intent['replicas']} replicas)",
                "pods are replaced one by one under the deployment's rolling-update limits",
                "nothing to undo: the restarted pods run the same spec",
            )
        case "scale":
            target = _target(intent)
            more = intent["to"] > intent["from"]
            return (
                f"scale {target} from {intent['from']} to {intent['to']} replicas",
                f"{abs(intent['to'] - intent['from'])} {'more' if more else 'fewer'} replicas",
                f"scale {target} back to {intent['from']} replicas",
            )
        case "rollback":
            target = _target(intent)
            return (
                f"roll {target} back from revision {intent['from_revision']} "
                f"({intent['from_image']}) to revision {intent['to_revision']} "
                f"({intent['to_image']})",
                "a rolling update to the previous pod template",
                f"roll {target} forward to the template of revision {intent['from_revision']}",
            )
        case "drain":
            staying = f" ({intent['staying']} DaemonSet or mirror pods stay)"
            return (
                f"cordon node {intent['node']} and evict its {intent['pods']} pods"
                + (staying if intent["staying"] else ""),
                "its pods are rescheduled on other nodes, within their disruption budgets",
                f"uncordon node {intent['node']} (evicted pods are not moved back)"
                if not intent["was_unschedulable"]
                else f"nothing: node {intent['node']} was cordoned already",
            )
    return ("nothing", "none", "nothing")
