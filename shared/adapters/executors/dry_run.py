"""The dry-run executor (the embedded default): records what it would do, changes nothing.

``plan`` describes the catalog action; ``execute`` and ``undo`` record the
request and their result in the tenant's ledger (``ledger``: a repeated key
returns the recorded result with ``repeated=True``) and report success;
``readiness`` is always done, and a fleet's live size is unknown (the
topology's is used). It is what runs until a tenant's operator
configures a real executor, so that every remediation flow (announce, Stop,
approval, verify, undo) can be exercised end to end without a cluster.
"""

from __future__ import annotations

from shared.adapters.executors.ledger import Ledger, Phase
from shared.clock import Clock
from shared.ports.executor import (
    ActionPlan,
    ActionRequest,
    ExecutionResult,
    ExecutionStatus,
    FleetObservation,
    Readiness,
)
from shared.ports.store import DocumentStore

EXECUTOR = "dry_run"


def describe(request: ActionRequest) -> ActionPlan:
    """What a catalog action does to ``request.target``, in words; not feasible when unknown."""
    target = request.target
    match request.action:
        case "restart_pod":
            return _plan(
                f"restart {target}",
                "its pods are recreated by their controller; capacity dips while they start",
                "nothing to undo: a restart leaves the spec as it was",
            )
        case "clear_cache":
            return _plan(
                f"clear the cache of {target}",
                "a cold cache: more latency and backend load until it warms up",
                "nothing to undo: the cache refills as it is used",
            )
        case "scale_replicas":
            delta = request.params.get("delta")
            if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
                return _not_feasible("scale_replicas needs a non-zero whole 'delta' parameter")
            return _plan(
                f"scale {target} by {delta:+d} replicas",
                f"{abs(delta)} {'more' if delta > 0 else 'fewer'} replicas serve {target}",
                f"scale {target} back to the replica count it had before",
            )
        case "rollback_deployment":
            return _plan(
                f"roll {target} back to its previous revision",
                "pods are replaced by the previous revision's, one rollout",
                f"roll {target} forward to the revision it runs now",
            )
        case "failover_database":
            return _plan(
                f"fail {target} over to its replica",
                "connections drop once and reconnect to the new primary",
                f"fail {target} back once the old primary is healthy",
            )
        case "drain_node":
            return _plan(
                f"cordon {target} and evict its pods (DaemonSet pods stay)",
                "its pods are rescheduled on other nodes",
                f"uncordon {target} (evicted pods are not moved back)",
            )
    return _not_feasible(f"{request.action!r} is not a catalog action")


def _plan(summary: str, impact: str, undo: str) -> ActionPlan:
    return ActionPlan(feasible=True, summary=summary, expected_impact=impact, undo=undo)


def _not_feasible(reason: str) -> ActionPlan:
    return ActionPlan(
        feasible=False, summary="nothing", expected_impact="none", undo="nothing", reason=reason
    )


class DryRunExecutor:
    """``Executor`` that records instead of acting; safe to share between threads."""

    def __init__(self, store: DocumentStore, clock: Clock) -> None:
        self._clock = clock
        self._ledger = Ledger(store, clock, executor=EXECUTOR)

    def plan(self, request: ActionRequest) -> ActionPlan:
        described = describe(request)
        if not described.feasible:
            return described
        return described.model_copy(
            update={
                "summary": f"dry run: would {described.summary}",
                "expected_impact": f"none (dry run); for real: {described.expected_impact}",
            }
        )

    def execute(self, request: ActionRequest) -> ExecutionResult:
        return self._run(request, Phase.EXECUTE, f"would {describe(request).summary}")

    def readiness(self, request: ActionRequest, result: ExecutionResult) -> Readiness:
        del request, result
        return Readiness(done=True, detail="dry run: nothing was changed")

    def undo(self, request: ActionRequest, result: ExecutionResult) -> ExecutionResult:
        del result
        return self._run(request, Phase.UNDO, f"would undo: {describe(request).undo}")

    def observe_fleet(self, action: str, workload: str) -> FleetObservation | None:
        """Unknown: a dry run sees no cluster, so the topology's fleet is used."""
        del action, workload
        return None

    def _run(self, request: ActionRequest, phase: Phase, would: str) -> ExecutionResult:
        entry = self._ledger.lookup(request, phase)
        if entry is not None and entry.result is not None:
            return entry.result
        described = describe(request)
        now = self._clock.now()
        if described.feasible:
            status, detail = ExecutionStatus.SUCCEEDED, f"dry run: {would}"
        else:
            status, detail = ExecutionStatus.FAILED, f"dry run: {described.reason}"
        result = ExecutionResult(
            idempotency_key=request.idempotency_key,
            status=status,
            detail=detail,
            undo_state={"dry_run": True} if phase is Phase.EXECUTE else {},
            started_at=now,
            finished_at=now,
        )
        return self._ledger.record(request, phase, result)
