"""Webhook receivers: Alertmanager, PagerDuty, and the change feed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import azure.durable_functions as df
import azure.functions as func

from functions.http import error_response, headers_of, json_response
from functions.incident import signal_incidents
from shared.bootstrap import Runtime, runtime
from shared.errors import StoreUnavailable
from shared.ingestion.service import Receipt

bp = df.Blueprint()
log = logging.getLogger("sre_copilot.webhooks")

Receiver = Callable[[Runtime], Callable[[str, Mapping[str, str], bytes], Receipt]]


async def _receive(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, pick: Receiver
) -> func.HttpResponse:
    tenant_id = req.route_params.get("tenant", "")
    try:
        rt = runtime()
        receiver = pick(rt)
        receipt = await asyncio.to_thread(receiver, tenant_id, headers_of(req), req.get_body())
    except StoreUnavailable as exc:
        return error_response(exc)
    except Exception as exc:  # noqa: BLE001 - the edge maps every failure to a response
        return error_response(exc)
    if receipt.to_signal:
        await signal_incidents(client, tenant_id, receipt.to_signal)
    return json_response(receipt.to_json(), 202)


@bp.route(route="tenants/{tenant}/webhooks/alertmanager", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def alertmanager_webhook(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await _receive(req, client, lambda rt: rt.ingest.alertmanager)


@bp.route(route="tenants/{tenant}/webhooks/pagerduty", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def pagerduty_webhook(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await _receive(req, client, lambda rt: rt.ingest.pagerduty)


@bp.route(route="tenants/{tenant}/changes", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def change_events(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await _receive(req, client, lambda rt: rt.ingest.changes)
