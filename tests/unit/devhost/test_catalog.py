"""Reading a function app the way the worker does."""

from __future__ import annotations

import logging
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import pytest

from devhost.catalog import catalog_of, load_function_app

FIXTURE = Path(__file__).parents[2] / "fixtures" / "devhost_app"


def make_app() -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(methods=["GET"])
    def health(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    @app.route(route="tenants/{tenant}/start", methods=["POST"])
    @app.durable_client_input(client_name="starter", task_hub="OtherHub")
    async def start(
        req: func.HttpRequest, starter: df.DurableOrchestrationClient
    ) -> func.HttpResponse:
        return func.HttpResponse("")

    @app.schedule(schedule="0 0 * * * *", arg_name="tick", run_on_startup=True)
    def hourly(tick: func.TimerRequest, context: func.Context) -> None:
        pass

    @app.orchestration_trigger(context_name="context", orchestration="named_flow")
    def flow(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
        yield context.call_activity("work", 1)

    @app.activity_trigger(input_name="payload", activity="work")
    def do_work(payload: int) -> int:
        return payload

    @app.queue_trigger(arg_name="msg", queue_name="q", connection="Storage")
    def queued(msg: func.QueueMessage) -> None:
        pass

    return app


def test_catalog_lists_what_the_host_serves(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        catalog = catalog_of(make_app())
    routes = {f.route: f for f in catalog.http}
    assert set(routes) == {"health", "tenants/{tenant}/start"}
    assert routes["health"].methods == frozenset({"GET"})
    start = routes["tenants/{tenant}/start"].call
    assert (start.trigger_param, start.client_param, start.client_task_hub) == (
        "req",
        "starter",
        "OtherHub",
    )
    (timer,) = catalog.timers
    assert timer.run_on_startup and timer.schedule.expression == "0 0 * * * *"
    assert timer.call.trigger_param == "tick"
    assert set(catalog.orchestrators) == {"named_flow"}
    assert catalog.activities["work"].trigger_param == "payload"
    assert "skipping queued" in caplog.text


def test_catalog_is_indexed_once_per_app() -> None:
    app = make_app()
    assert catalog_of(app) == catalog_of(app)  # get_functions() refuses a second call


def test_load_function_app_by_file_or_folder() -> None:
    app = load_function_app(FIXTURE / "function_app.py")
    assert load_function_app(FIXTURE) is app
    assert "approval_orchestrator" in catalog_of(app).orchestrators


def test_load_function_app_refuses_what_is_not_an_app(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_function_app(tmp_path / "missing.py")
    empty = tmp_path / "function_app.py"
    empty.write_text("x = 1\n")
    with pytest.raises(ImportError, match="no FunctionApp"):
        load_function_app(empty)
