"""The Durable extension's HTTP API, as far as the Python SDK uses it.

``DurableOrchestrationClient`` is built from a binding string whose
``rpcBaseUrl`` points here, and calls (SDK 1.7):

- ``POST orchestrators/{name}[/{instanceId}]`` with the input as a JSON
  string of JSON text: 202 and the management payload (the SDK reads ``id``);
  400 with ``ExceptionMessage`` for an unknown orchestrator; 409 when an
  instance of that id is still running (the extension's default).
- ``GET instances/{id}``: 200 when finished, 202 while running, 404 unknown.
- ``POST instances/{id}/raiseEvent/{name}`` (``application/json``): 202,
  404 unknown, 410 finished, 400 for other content types.
- ``POST instances/{id}/terminate?reason=``: 202, 404, 410.
- ``DELETE instances/{id}``: 200 ``{"instancesDeleted": 1}``, 404, 412 if running.
- ``GET instances/`` and ``DELETE instances/?createdTimeFrom=`` with filters.

The same paths are the management URLs of ``create_check_status_response``.
Suspend, resume, rewind and restart answer 501.

Every path needs the host's system key, as in Azure: the ``code`` query
parameter or the ``x-functions-key`` header; anything else is 401. The key is
generated when the host is built (``DurableApi.system_key``). The app's own
client gets it in its binding: the management and creation URLs carry
``code=``, and since SDK 1.7 builds its RPC URLs by appending paths to
``rpcBaseUrl`` with no way to add a header or a query parameter to each call,
``rpcBaseUrl`` carries the key as its userinfo (``http://durable:KEY@host/...``),
which aiohttp sends as HTTP Basic credentials; those are accepted too.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from devhost import history as h
from devhost.instances import ACTIVE, StartRejected
from devhost.orchestrations import OrchestrationEngine

RunBlocking = Callable[[Callable[[], Any]], Awaitable[Any]]
ReadBody = Callable[[web.Request], Awaitable[bytes | None]]

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_USER = "durable"
"""The user name in ``rpcBaseUrl``'s userinfo; only the password (the key) is checked."""
INSTANCE_PLACEHOLDER = "INSTANCEID"
_UNSUPPORTED_OPERATIONS = frozenset({"suspend", "resume", "rewind", "restart"})


def management_urls(base: str, instance_id: str, query: str) -> dict[str, str]:
    """The ``HttpManagementPayload`` for one instance (or the placeholder)."""
    instance = f"{base}/instances/{quote(instance_id, safe='')}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{instance}?{query}",
        "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{instance}?{query}",
        "restartPostUri": f"{instance}/restart?{query}",
        "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
    }


def client_binding(base_url: str, task_hub: str, system_key: str) -> str:
    """The ``durableClient`` binding string the Functions host hands the worker.

    ``system_key`` reaches every call the SDK makes: as ``code=`` in the
    management and creation URLs, as userinfo in ``rpcBaseUrl`` (see the module).
    """
    base = base_url + WEBHOOK_PATH
    query = _query(task_hub, system_key)
    scheme, _, rest = base.partition("://")
    rpc_base = f"{scheme}://{RPC_USER}:{quote(system_key, safe='')}@{rest}/"
    creation = f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
    return json.dumps(
        {
            "taskHubName": task_hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{creation}?{query}",
                "createAndWaitOnNewInstancePostUri": (
                    f"{creation}?timeout={{timeoutInSeconds}}"
                    f"&pollingInterval={{intervalInSeconds}}&{query}"
                ),
            },
            "managementUrls": management_urls(base, INSTANCE_PLACEHOLDER, query),
            "baseUrl": base,
            "requiredQueryStringParameters": query,
            "rpcBaseUrl": rpc_base,
            "httpBaseUrl": "",
            "maxGrpcMessageSizeInBytes": 0,
            "grpcHttpClientTimeout": "00:01:40",
        }
    )


def _query(task_hub: str, system_key: str) -> str:
    return f"taskHub={quote(task_hub)}&connection=Storage&code={quote(system_key, safe='')}"


def offered_keys(request: web.Request) -> list[str]:
    """Every system key the request offers: ``code=``, ``x-functions-key``, Basic password."""
    keys = [request.query.get("code", ""), request.headers.get("x-functions-key", "")]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic" and token.strip():
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        keys.append(decoded.partition(":")[2])
    return [k for k in keys if k]


def _same(offered: str, key: str) -> bool:
    return hmac.compare_digest(offered.encode("utf-8", "surrogatepass"), key.encode())


def payload_text(body: bytes) -> str | None:
    """The JSON text of an orchestration input or event payload.

    The Python SDK serialises the value and then posts that text as a JSON
    string, so a body that decodes to a string holding JSON is used as is;
    any other JSON body is the value itself.
    """
    if not body.strip():
        return None
    try:
        value = json.loads(body)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return json.dumps(value)
        return value
    return json.dumps(value)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _error(status: int, message: str) -> web.Response:
    return _json(status, {"Message": message, "ExceptionMessage": message})


class DurableApi:
    """Serves the Durable HTTP API under ``/runtime/webhooks/durabletask``."""

    def __init__(
        self,
        engine: OrchestrationEngine,
        run_blocking: RunBlocking,
        read_body: ReadBody,
        *,
        system_key: str | None = None,
    ) -> None:
        self._engine = engine
        self._run = run_blocking
        self._read = read_body
        self.system_key = system_key or secrets.token_urlsafe(32)
        """Required on every request (generated unless given)."""

    def binding(self, base_url: str, task_hub: str) -> str:
        """The client binding for this API: ``client_binding`` with this host's key."""
        return client_binding(base_url, task_hub, self.system_key)

    def _urls(self, request: web.Request, instance_id: str) -> dict[str, str]:
        base = f"{request.scheme}://{request.host}{WEBHOOK_PATH}"
        return management_urls(base, instance_id, _query(self._engine.task_hub, self.system_key))

    async def handle(self, request: web.Request, subpath: str) -> web.StreamResponse:
        if not any(_same(k, self.system_key) for k in offered_keys(request)):
            return _error(
                401,
                "The Durable management API needs the host's system key "
                "(the 'code' query parameter or the x-functions-key header).",
            )
        parts = [unquote(p) for p in subpath.strip("/").split("/")] if subpath.strip("/") else []
        method = request.method.upper()
        if parts[:1] == ["orchestrators"] and len(parts) in (2, 3):
            if method != "POST":
                return _error(404, "Start an orchestration with POST.")
            return await self._start(request, parts[1], parts[2] if len(parts) == 3 else None)
        if parts[:1] != ["instances"]:
            return _error(404, f"No Durable API at {WEBHOOK_PATH}{subpath}.")
        if len(parts) == 1:
            if method == "GET":
                return await self._list(request)
            if method == "DELETE":
                return await self._purge_many(request)
        elif len(parts) == 2:
            if method == "GET":
                return await self._status(request, parts[1])
            if method == "DELETE":
                return await self._purge(parts[1])
        elif len(parts) == 4 and parts[2] == "raiseEvent" and method == "POST":
            return await self._raise_event(request, parts[1], parts[3])
        elif len(parts) == 3 and method == "POST":
            operation = parts[2].lower()
            if operation == "terminate":
                return await self._terminate(request, parts[1])
            if operation in _UNSUPPORTED_OPERATIONS:
                return _error(501, f"The local host does not support {operation}.")
        return _error(404, f"No Durable API for {method} {WEBHOOK_PATH}{subpath}.")

    async def _payload(self, request: web.Request, too_large: str) -> str | web.Response | None:
        """The request's JSON payload text, or the 413/400 answer that refuses it."""
        body = await self._read(request)
        if body is None:
            return _error(413, too_large)
        try:
            return payload_text(body)
        except ValueError as exc:
            return _error(400, f"Invalid JSON content: {exc}")

    async def _start(
        self, request: web.Request, name: str, instance_id: str | None
    ) -> web.StreamResponse:
        input_text = await self._payload(request, "The input is too large.")
        if isinstance(input_text, web.StreamResponse):
            return input_text
        version = request.query.get("version")
        try:
            iid = await self._run(
                lambda: self._engine.start(name, instance_id or None, input_text, version)
            )
        except StartRejected as exc:
            return _error(exc.status, exc.message)
        urls = self._urls(request, iid)
        return _json(202, urls, {"Location": urls["statusQueryGetUri"], "Retry-After": "10"})

    async def _status(self, request: web.Request, instance_id: str) -> web.StreamResponse:
        query = request.query
        show_history = _flag(query.get("showHistory"), False)
        show_input = _flag(query.get("showInput"), True)
        status = await self._run(
            lambda: self._engine.status(
                instance_id, show_history=show_history, show_input=show_input
            )
        )
        if status is None:
            return _error(404, f"No instance with ID {instance_id} found.")
        runtime = status["runtimeStatus"]
        if runtime in ACTIVE:
            return _json(202, status, {"Location": str(request.url), "Retry-After": "5"})
        if runtime == "Failed" and _flag(query.get("returnInternalServerErrorOnFailure"), False):
            return _json(500, status)
        return _json(200, status)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        try:
            created_from = _time(query.get("createdTimeFrom"))
            created_to = _time(query.get("createdTimeTo"))
        except ValueError as exc:
            return _error(400, str(exc))
        statuses = _statuses(query.get("runtimeStatus"))
        prefix = query.get("instanceIdPrefix")
        found = await self._run(
            lambda: self._engine.statuses(
                created_from=created_from,
                created_to=created_to,
                runtime_statuses=statuses,
                prefix=prefix,
            )
        )
        return _json(200, found)

    async def _raise_event(
        self, request: web.Request, instance_id: str, event: str
    ) -> web.StreamResponse:
        if request.content_type.lower() != "application/json":
            return _error(400, "Only application/json request content is supported")
        input_text = await self._payload(request, "The event data is too large.")
        if isinstance(input_text, web.StreamResponse):
            return input_text
        outcome = await self._run(lambda: self._engine.raise_event(instance_id, event, input_text))
        return _outcome(outcome, instance_id)

    async def _terminate(self, request: web.Request, instance_id: str) -> web.StreamResponse:
        reason = request.query.get("reason")
        outcome = await self._run(lambda: self._engine.terminate(instance_id, reason))
        return _outcome(outcome, instance_id)

    async def _purge(self, instance_id: str) -> web.StreamResponse:
        outcome = await self._run(lambda: self._engine.purge(instance_id))
        if outcome == "deleted":
            return _json(200, {"instancesDeleted": 1})
        if outcome == "missing":
            return _error(404, f"No instance with ID {instance_id} found.")
        return _error(
            412, f"Only orchestrations in a terminal state can be purged; {instance_id} is running."
        )

    async def _purge_many(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        try:
            created_from = _time(query.get("createdTimeFrom"))
            created_to = _time(query.get("createdTimeTo"))
        except ValueError as exc:
            return _error(400, str(exc))
        if created_from is None:
            return _error(400, "Please provide value for 'createdTimeFrom' parameter.")
        statuses = _statuses(query.get("runtimeStatus"))
        deleted = await self._run(
            lambda: self._engine.purge_many(
                created_from=created_from, created_to=created_to, runtime_statuses=statuses
            )
        )
        if not deleted:
            return _error(404, "No instances matched.")
        return _json(200, {"instancesDeleted": deleted})


def _outcome(outcome: str, instance_id: str) -> web.Response:
    if outcome == "accepted":
        return _json(202, {"id": instance_id})
    if outcome == "missing":
        return _error(404, f"No instance with ID {instance_id} found.")
    return _error(410, f"Instance with ID {instance_id} is gone: either completed or failed")


def _flag(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() == "true"


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return h.parse_time(value)
    except ValueError as exc:
        raise ValueError(f"Bad date {value!r}") from exc


def _statuses(value: str | None) -> list[str]:
    return [s for s in (value or "").split(",") if s]
