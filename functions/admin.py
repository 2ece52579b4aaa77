"""The tenant admin API: Entra ID bearer tokens, then one use case each.

Routes live under ``manage/`` and not ``admin/``: the Functions host keeps
every route that starts with ``admin`` for its own admin API and refuses to
load a function whose route does ("The specified route conflicts with one or
more built in routes", whatever the route prefix; azure-functions-host#1781).

::

    GET    /api/manage/tenants                    Tenants.Read   list
    POST   /api/manage/tenants                    Tenants.Admin  create (credentials returned once)
    GET    /api/manage/tenants/{tenant}           Tenants.Read   read (no secrets)
    PATCH  /api/manage/tenants/{tenant}           Tenants.Admin  update
    DELETE /api/manage/tenants/{tenant}           Tenants.Admin  disable
    POST   /api/manage/tenants/{tenant}/rotate    Tenants.Admin  rotate credentials
    PUT    /api/manage/tenants/{tenant}/policy    Tenants.Admin  set the remediation policy (YAML)
    GET    /api/manage/tenants/{tenant}/kill-switch  Tenants.Read  both switches as read for it
    PUT    /api/manage/tenants/{tenant}/kill-switch  Tenants.Admin  flip the tenant's kill switch
    GET    /api/manage/kill-switch                Tenants.Read   the global kill switch
    PUT    /api/manage/kill-switch                Tenants.Admin  flip the global kill switch
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import azure.durable_functions as df
import azure.functions as func

from functions.http import error_response, headers_of, json_response
from shared.admin.api import AdminApi, Reply, admin_api
from shared.bootstrap import runtime

bp = df.Blueprint()

Call = Callable[[AdminApi], Reply]


async def _answer(call: Call) -> func.HttpResponse:
    try:
        reply = await asyncio.to_thread(lambda: call(admin_api(runtime())))
    except Exception as exc:  # noqa: BLE001 - the edge maps every failure to a response
        response = error_response(exc)
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    return json_response(reply.body, reply.status)


@bp.route(route="manage/tenants", methods=["GET", "POST"])
async def manage_tenants(req: func.HttpRequest) -> func.HttpResponse:
    headers, body = headers_of(req), req.get_body()
    if req.method == "POST":
        return await _answer(lambda api: api.create(headers, body))
    return await _answer(lambda api: api.list(headers))


@bp.route(route="manage/tenants/{tenant}", methods=["GET", "PATCH", "DELETE"])
async def manage_tenant(req: func.HttpRequest) -> func.HttpResponse:
    headers, body = headers_of(req), req.get_body()
    tenant = req.route_params.get("tenant", "")
    if req.method == "PATCH":
        return await _answer(lambda api: api.update(headers, tenant, body))
    if req.method == "DELETE":
        return await _answer(lambda api: api.disable(headers, tenant, body))
    return await _answer(lambda api: api.read(headers, tenant))


@bp.route(route="manage/tenants/{tenant}/rotate", methods=["POST"])
async def manage_tenant_rotate(req: func.HttpRequest) -> func.HttpResponse:
    headers, body = headers_of(req), req.get_body()
    tenant = req.route_params.get("tenant", "")
    return await _answer(lambda api: api.rotate(headers, tenant, body))


@bp.route(route="manage/tenants/{tenant}/policy", methods=["PUT"])
async def manage_tenant_policy(req: func.HttpRequest) -> func.HttpResponse:
    headers, body = headers_of(req), req.get_body()
    tenant = req.route_params.get("tenant", "")
    return await _answer(lambda api: api.set_policy(headers, tenant, body))


@bp.route(route="manage/tenants/{tenant}/kill-switch", methods=["GET", "PUT"])
async def manage_tenant_kill_switch(req: func.HttpRequest) -> func.HttpResponse:
    headers, body = headers_of(req), req.get_body()
    tenant = req.route_params.get("tenant", "")
    if req.method == "PUT":
        return await _answer(lambda api: api.kill_switch(headers, tenant, body))
    return await _answer(lambda api: api.kill_switch_state(headers, tenant))


@bp.route(route="manage/kill-switch", methods=["GET", "PUT"])
async def manage_kill_switch(req: func.HttpRequest) -> func.HttpResponse:
    headers, body = headers_of(req), req.get_body()
    if req.method == "PUT":
        return await _answer(lambda api: api.kill_switch(headers, None, body))
    return await _answer(lambda api: api.kill_switch_state(headers, None))
