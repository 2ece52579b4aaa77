"""The executor port: what carries out a remediation action, and undoes it.

Adapters: ``shared.adapters.executors.dry_run.DryRunExecutor`` (the embedded
default: records what it would do and reports success) and
``shared.adapters.executors.kubernetes.KubernetesExecutor`` (the official
``kubernetes`` client). Chosen in ``shared.bootstrap`` from settings.

Every call is keyed: ``ActionRequest.idempotency_key`` names one execution, so
an activity retried after a crash or a timeout finds the first attempt's
result instead of acting twice (``execute`` and ``undo`` must both honour it).
Expected outcomes are values (``ExecutionResult.status``); only a transient
fault of the executor's own backend (a 5xx, a connection reset) raises
``shared.errors.ExecutorUnavailable`` so the orchestration retries.

The LLM never reaches this port: requests are built from runbook actions and
the tenant's policy only (``shared.autonomy``), and ``target`` is always one
explicitly named object, never a selector.

An executor may also observe a fleet (``FleetObserver``, optional): the live
size and health of what an action would take capacity from, which the policy
engine's fleet limits prefer over the topology's instance list (the topology
says what was deployed, the cluster what runs and is ready now). None means
unknown, and the topology is used.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import Field

from shared.models.base import Model, UtcDatetime


class ActionRequest(Model):
    """One catalog action on one named object."""

    tenant_id: str
    incident_id: str
    action: str
    """A catalog name (``restart_pod``, ``scale_replicas``, ``rollback_deployment``, ...)."""
    target: str = Field(min_length=1)
    """``namespace/name`` of the object the action works on (a deployment, pod or node)."""
    params: dict[str, Any] = {}
    idempotency_key: str = Field(min_length=8)


class ActionPlan(Model):
    """What ``execute`` would do, shown before anything runs."""

    feasible: bool
    summary: str
    """One line: "scale checkout from 3 to 5 replicas"."""
    expected_impact: str
    undo: str
    """How the action is undone ("scale checkout back to 3 replicas"), or why it cannot be."""
    reason: str = ""
    """Why it is not feasible (object missing, nothing to roll back to), when so."""


class ExecutionStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ExecutionResult(Model):
    """What an ``execute`` or ``undo`` did (the same value again for a repeated key)."""

    idempotency_key: str
    status: ExecutionStatus
    detail: str
    undo_state: dict[str, Any] = {}
    """What ``undo`` needs to restore the object (the replica count before, the revision)."""
    started_at: UtcDatetime
    finished_at: UtcDatetime
    repeated: bool = False
    """True when this key had run already and this is its recorded result."""


class Readiness(Model):
    """Whether the object reached the state the action meant (a rollout complete, a pod ready)."""

    done: bool
    detail: str


class Executor(Protocol):
    def plan(self, request: ActionRequest) -> ActionPlan:
        """What would happen, read-only; never changes anything."""
        ...

    def execute(self, request: ActionRequest) -> ExecutionResult:
        """Carry the action out once per idempotency key."""
        ...

    def readiness(self, request: ActionRequest, result: ExecutionResult) -> Readiness:
        """Whether the executed action took effect (metrics judge whether it helped)."""
        ...

    def undo(self, request: ActionRequest, result: ExecutionResult) -> ExecutionResult:
        """Restore what ``result`` changed, once per ``request.idempotency_key``."""
        ...


class FleetObservation(Model):
    """A fleet as the executor's backend sees it now: members wanted and members ready."""

    size: int = Field(ge=0)
    ready: int = Field(ge=0)
    source: str
    """Where the figures were read, in words ("deployment prod/checkout: 3 replicas, 1 ready")."""


@runtime_checkable
class FleetObserver(Protocol):
    """Optional: an executor that can read a fleet's live size and health, read-only."""

    def observe_fleet(self, action: str, workload: str) -> FleetObservation | None:
        """The fleet ``action`` would take capacity from; None when unknown.

        ``workload`` is the ``namespace/name`` of the service's deployment for
        workload actions, the node's name for node actions (``drain_node``,
        whose fleet is the cluster's nodes). Raises ``ExecutorUnavailable``
        only for a transient fault of the backend, as the other calls do.
        """
        ...
