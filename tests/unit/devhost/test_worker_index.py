"""The app as Azure's Python worker indexes it: every function loads, or the host refuses it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest

from devhost.catalog import catalog_of, load_function_app
from devhost.worker import AppLoadError, index_app

ROOT = Path(__file__).resolve().parents[3]


def test_the_real_worker_indexes_every_function_of_the_app() -> None:
    app = load_function_app(ROOT / "function_app.py")
    indexed = index_app(app)
    declared = {f.get_function_name() for f in _declared(app)}
    assert {f.name for f in indexed} == declared
    assert len(declared) >= 20
    assert "sweep_forecasts" in declared
    assert {"manage_tenants", "manage_tenant", "manage_tenant_rotate"} <= declared  # admin API
    assert {"sweep_anomalies", "send_anomaly_digests"} <= declared
    catalog = catalog_of(app)
    assert "incident_orchestrator" in catalog.orchestrators
    assert {"plan_incident_context", "deliver_incident_message"} <= set(catalog.activities)
    assert "remediation_orchestrator" in catalog.orchestrators
    assert {"propose_remediation", "begin_remediation", "undo_remediation"} <= set(
        catalog.activities
    )


def _declared(app: Any) -> list[Any]:
    from functions.remediation import bp as remediation_bp

    functions = []
    for blueprint in (*__import__("functions").BLUEPRINTS, remediation_bp):
        functions += blueprint._function_builders
    return [b.build() for b in functions]


def test_a_function_the_worker_rejects_fails_the_whole_app() -> None:
    """Azure loads none of an app's functions when one has a binding the worker refuses."""
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.activity_trigger(input_name="payload", activity="typed_too_precisely")
    def typed_too_precisely(payload: dict[str, Any]) -> None:
        return None

    with pytest.raises(AppLoadError, match="invalid non-type annotation"):
        index_app(app)
