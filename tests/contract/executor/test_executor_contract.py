"""The ``Executor`` contract, run on every adapter.

What every executor promises its caller (the remediation orchestration):
``plan`` changes nothing; ``execute`` and ``undo`` act once per idempotency key
and give the recorded result back, marked ``repeated``, to a retry; a key's
records stay in its tenant's partition; a key reused for another object is
refused; an unknown action is a value (not feasible, failed), not an error.
"""

from __future__ import annotations

import pytest

from shared.errors import BadInput
from shared.ports.executor import ActionRequest, ExecutionStatus
from tests.contract.executor.conftest import Harness

ACTIONS = ["restart_pod", "scale_replicas", "rollback_deployment", "drain_node"]


def request(
    harness: Harness, action: str, *, key: str = "key-00000001", tenant: str = "acme"
) -> ActionRequest:
    params = {"delta": 1} if action == "scale_replicas" else {}
    return ActionRequest(
        tenant_id=tenant,
        incident_id="inc-1",
        action=action,
        target=harness.targets[action],
        params=params,
        idempotency_key=key,
    )


@pytest.mark.parametrize("action", ACTIONS)
def test_plan_describes_the_action_and_changes_nothing(harness: Harness, action: str) -> None:
    plan = harness.executor.plan(request(harness, action))

    assert plan.feasible, plan.reason
    assert plan.summary and plan.expected_impact and plan.undo
    assert harness.acted() == 0


@pytest.mark.parametrize("action", ACTIONS)
def test_execute_acts_once_per_key(harness: Harness, action: str) -> None:
    req = request(harness, action)

    first = harness.executor.execute(req)
    acted = harness.acted()
    again = harness.executor.execute(req)

    assert first.status is ExecutionStatus.SUCCEEDED, first.detail
    assert first.idempotency_key == req.idempotency_key and not first.repeated
    assert acted > 0
    assert again.repeated
    assert again.model_copy(update={"repeated": False}) == first
    assert harness.acted() == acted


@pytest.mark.parametrize("action", ACTIONS)
def test_readiness_after_execute(harness: Harness, action: str) -> None:
    req = request(harness, action)
    result = harness.executor.execute(req)

    assert harness.executor.readiness(req, result).done


@pytest.mark.parametrize("action", ["scale_replicas", "rollback_deployment", "drain_node"])
def test_undo_acts_once_per_key(harness: Harness, action: str) -> None:
    req = request(harness, action)
    done = harness.executor.execute(req)

    undone = harness.executor.undo(req, done)
    acted = harness.acted()
    again = harness.executor.undo(req, done)

    assert undone.status is ExecutionStatus.SUCCEEDED, undone.detail
    assert not undone.repeated and again.repeated
    assert again.model_copy(update={"repeated": False}) == undone
    assert harness.acted() == acted


def test_the_same_key_in_another_tenant_is_another_execution(harness: Harness) -> None:
    first = harness.executor.execute(request(harness, "scale_replicas", tenant="acme"))
    other = harness.executor.execute(request(harness, "scale_replicas", tenant="globex"))

    assert not first.repeated and not other.repeated


def test_a_key_reused_for_another_action_is_refused(harness: Harness) -> None:
    harness.executor.execute(request(harness, "scale_replicas"))

    with pytest.raises(BadInput, match="key-00000001"):
        harness.executor.execute(request(harness, "drain_node"))


def test_an_unknown_action_is_not_feasible_and_fails_as_a_value(harness: Harness) -> None:
    req = request(harness, "restart_pod").model_copy(update={"action": "reboot_datacenter"})

    plan = harness.executor.plan(req)
    result = harness.executor.execute(req)

    assert not plan.feasible and "reboot_datacenter" in plan.reason
    assert result.status is ExecutionStatus.FAILED


def test_scale_without_a_delta_is_not_feasible(harness: Harness) -> None:
    req = request(harness, "scale_replicas").model_copy(update={"params": {}})

    assert not harness.executor.plan(req).feasible
    assert harness.executor.execute(req).status is ExecutionStatus.FAILED
