"""The dry run records each request and its result in the tenant's partition, and is the default."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from shared import bootstrap
from shared.adapters.executors.dry_run import DryRunExecutor
from shared.adapters.executors.ledger import CONTAINER
from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.models.tenant import Tenant
from shared.ports.executor import ActionRequest, ExecutionStatus
from shared.settings import Settings

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def scale(key: str = "exec-000001") -> ActionRequest:
    return ActionRequest(
        tenant_id="acme",
        incident_id="inc-7",
        action="scale_replicas",
        target="shop/checkout",
        params={"delta": 2},
        idempotency_key=key,
    )


def test_execute_records_the_request_and_its_result(store: SqliteStore) -> None:
    executor = DryRunExecutor(store, FixedClock(NOW))

    result = executor.execute(scale())

    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.detail == "dry run: would scale shop/checkout by +2 replicas"
    assert result.started_at == NOW
    (doc,) = store.query(CONTAINER, "acme")
    assert doc["id"] == "exec:exec-000001"
    assert doc["incidentId"] == "inc-7" and doc["executor"] == "dry_run"
    assert (doc["action"], doc["target"], doc["params"]) == (
        "scale_replicas",
        "shop/checkout",
        {"delta": 2},
    )
    assert doc["result"]["status"] == "succeeded"
    assert store.query(CONTAINER, "globex") == []


def test_a_new_executor_on_the_same_store_finds_the_recorded_result(store: SqliteStore) -> None:
    first = DryRunExecutor(store, FixedClock(NOW)).execute(scale())
    later = DryRunExecutor(store, FixedClock(NOW.replace(hour=11))).execute(scale())

    assert later.repeated and later.started_at == first.started_at


def test_undo_is_recorded_apart_from_the_execution(store: SqliteStore) -> None:
    executor = DryRunExecutor(store, FixedClock(NOW))
    done = executor.execute(scale())

    undone = executor.undo(scale(), done)

    assert undone.detail.startswith("dry run: would undo: scale shop/checkout back")
    assert {d["id"] for d in store.query(CONTAINER, "acme")} == {
        "exec:exec-000001",
        "undo:exec-000001",
    }


def test_plan_says_it_is_a_dry_run(store: SqliteStore) -> None:
    plan = DryRunExecutor(store, FixedClock(NOW)).plan(scale())

    assert plan.summary == "dry run: would scale shop/checkout by +2 replicas"
    assert plan.expected_impact.startswith("none (dry run)")
    assert store.query(CONTAINER, "acme") == []


def test_the_runtime_chooses_the_dry_run_by_default(tmp_path: Path) -> None:
    runtime = bootstrap.build(Settings(home=tmp_path))
    try:
        executor = runtime.executor_for(Tenant(id="acme", tenantId="acme", name="Acme"))
        assert isinstance(executor, DryRunExecutor)
    finally:
        runtime.close()


def test_kubernetes_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRE_COPILOT_EXECUTOR", "kubernetes")
    monkeypatch.setenv("SRE_COPILOT_KUBERNETES_API_URL", "https://k8s.example:6443")
    monkeypatch.setenv("SRE_COPILOT_KUBERNETES_TOKEN", "s3cret")
    monkeypatch.setenv("SRE_COPILOT_KUBERNETES_VERIFY_TLS", "false")
    monkeypatch.setenv("SRE_COPILOT_KUBERNETES_NAMESPACE", "shop")

    settings = Settings()

    assert settings.executor == "kubernetes"
    assert settings.kubernetes_api_url == "https://k8s.example:6443"
    assert settings.kubernetes_token == SecretStr("s3cret")
    assert "s3cret" not in repr(settings)
    assert not settings.kubernetes_verify_tls and settings.kubernetes_namespace == "shop"
