"""The local host: serves ``function_app.py`` over HTTP with durable orchestrations.

One event loop per process runs every host, as one worker process does in
Azure: the SDK's durable client keeps a module-level ``aiohttp`` session bound
to the loop it first ran on, so a second loop (or a restarted one) would break
it. Coroutine functions run on that loop; plain ones on a thread pool.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import gc
import json
import logging
import signal
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from aiohttp import web
from multidict import CIMultiDict

from devhost.catalog import (
    FunctionCatalog,
    HttpFunction,
    TimerFunction,
    catalog_of,
    load_function_app,
)
from devhost.clock import Clock, ObservableClock, SystemClock
from devhost.durable_api import WEBHOOK_PATH, DurableApi
from devhost.http_input import read_body, valid_text
from devhost.invoke import Invoker
from devhost.orchestrations import OrchestrationEngine
from devhost.routes import MethodNotAllowed, RouteTable
from devhost.worker import FunctionFailed, bridge
from shared.errors import BadInput, SreCopilotError
from shared.ports.store import DocumentStore

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_PAST_DUE = timedelta(seconds=1)
_MAX_SLEEP = 1.0
_STRIPPED_RESPONSE_HEADERS = frozenset({"content-length", "transfer-encoding"})

_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def host_loop() -> asyncio.AbstractEventLoop:
    """The process's host event loop, started on first use in a daemon thread."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="devhost-loop", daemon=True).start()
            ready.wait()
            atexit.register(_close_loop, loop)
            _loop = loop
        return _loop


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """At exit, close the SDK's shared client session (it has no shutdown hook of its own)."""
    try:
        from azure.durable_functions.models.utils import http_utils

        close = getattr(http_utils, "_close_session", None)
        if close is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=5)
    except Exception:  # best effort while the interpreter exits
        log.debug("could not close the durable client session", exc_info=True)
    finally:
        loop.call_soon_threadsafe(loop.stop)


class DevHost:
    """Runs a Durable Functions app locally: HTTP routes, timers, orchestrations.

    ``max_body_bytes`` caps request bodies (413 beyond it); ``route_prefix`` is
    host.json's ``routePrefix``; ``workers`` is how many orchestration episodes
    run at once (replays are CPU-bound, so more threads mostly add contention
    for the GIL that the HTTP acknowledgements need). Start it once; to
    restart, build a new host on the same store.
    """

    def __init__(
        self,
        app: Any,
        store: DocumentStore,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        task_hub: str = "SreCopilotHub",
        run_timers: bool = True,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        route_prefix: str = "api",
        workers: int = 2,
    ) -> None:
        self._catalog: FunctionCatalog = catalog_of(app)
        self._clock: Clock = clock or SystemClock()
        self._host = host
        self._port = port
        self._task_hub = task_hub
        self._run_timers = run_timers
        self._max_body = max_body_bytes
        self._prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self._routes: RouteTable[HttpFunction] = RouteTable()
        for function in self._catalog.http:
            self._routes.add(function.route, function.methods, function)
        self._bindings: dict[str, str] = {}
        self._invoker = Invoker(self._client_binding)
        self._engine = OrchestrationEngine(
            self._catalog, store, self._clock, self._invoker, task_hub=task_hub, workers=workers
        )
        self._blocking = ThreadPoolExecutor(32, thread_name_prefix="devhost-io")
        self._durable = DurableApi(self._engine, self._run_blocking, self._read_body)
        self._base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._sleeper: asyncio.Future[None] | None = None
        self._woken = False
        self._cron_next: dict[str, datetime] = {}
        self._cron_last: dict[str, datetime] = {}
        self._cron_running: set[str] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._starting: concurrent.futures.Future[None] | None = None
        self._state = "new"

    # -- public API --------------------------------------------------------------

    def start(self) -> None:
        """Serve in the background; returns once listening and resumed."""
        if self._state != "new":
            raise RuntimeError("a DevHost starts once; build a new one to restart")
        self._state = "starting"
        loop = host_loop()
        self._loop = loop
        self._invoker.attach_loop(loop)
        self._starting = asyncio.run_coroutine_threadsafe(self._astart(), loop)
        try:
            self._starting.result()
        except Exception:
            self._state = "failed"
            self._engine.shutdown(grace=0)
            self._blocking.shutdown(wait=False, cancel_futures=True)
            raise
        self._started()

    def _started(self) -> None:
        if isinstance(self._clock, ObservableClock):
            self._unsubscribe = self._clock.subscribe(self._on_clock_jump)
        self._state = "running"

    def stop(self) -> None:
        """Stop serving; finishes running work, leaves the rest in the store."""
        if self._state == "starting" and self._starting is not None:
            # Interrupted while starting (Ctrl-C): let the start finish, then stop.
            try:
                self._starting.result()
            except Exception:
                log.warning("the host failed while starting", exc_info=True)
                self._state = "failed"
                return
            self._started()
        if self._state != "running":
            return
        self._state = "stopping"
        if self._unsubscribe is not None:
            self._unsubscribe()
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._astop(), self._loop).result()
        self._engine.shutdown()
        self._blocking.shutdown(wait=False, cancel_futures=True)
        self._state = "stopped"

    @property
    def base_url(self) -> str:
        if not self._base_url:
            raise RuntimeError("the host is not started")
        return self._base_url

    @property
    def system_key(self) -> str:
        """The key the Durable management API requires (``code=`` or ``x-functions-key``)."""
        return self._durable.system_key

    def wait_for_idle(self, timeout: float = 10.0) -> bool:
        """True once no orchestration episode, activity or timer function is in flight."""
        return self._engine.wait_for_idle(timeout)

    def instance_status(
        self, instance_id: str, *, show_history: bool = False
    ) -> dict[str, Any] | None:
        """The instance's status as the Durable API reports it, or None."""
        return self._engine.status(instance_id, show_history=show_history)

    def raised_events(self, instance_id: str) -> list[dict[str, Any]] | None:
        """Events raised to the instance, ``{"name", "input", "delivered"}``; None if unknown.

        ``delivered`` is False while the event waits for the orchestrator to ask for it.
        """
        return self._engine.raised_events(instance_id)

    def __enter__(self) -> DevHost:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving -------------------------------------------------------------------

    async def _astart(self) -> None:
        app = web.Application(client_max_size=self._max_body + 1)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=5.0, lingering_time=1.0
        )
        await runner.setup()
        self._runner = runner
        # Bind first (the port is needed for the client binding), resume the
        # stored instances, and only then listen: nobody connects too early.
        sock = _bound_socket(self._host, self._port)
        try:
            self._base_url = _url_for(self._host, sock.getsockname()[1])
            loop = asyncio.get_running_loop()

            def timer_scheduled() -> None:
                loop.call_soon_threadsafe(self._wake_up)

            self._engine.on_timer_scheduled = timer_scheduled
            await self._run_blocking(self._engine.recover)
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._schedule_crons()
        self._scheduler = loop.create_task(self._timer_loop())

    async def _astop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
        if self._runner is not None:
            await self._runner.cleanup()
        self._engine.on_timer_scheduled = lambda: None

    async def _run_blocking(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._blocking, fn)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        if path == WEBHOOK_PATH or path.startswith(WEBHOOK_PATH + "/"):
            try:
                return await self._durable.handle(request, path[len(WEBHOOK_PATH) :])
            except SreCopilotError as exc:
                log.warning("durable API %s %s: %s", request.method, path, exc.reason)
                return _problem(exc.http_status, type(exc).__name__, exc.reason)
            except Exception:
                log.exception("durable API %s %s failed", request.method, path)
                return _problem(500, "internal", "internal error")
        if self._prefix and path != self._prefix and not path.startswith(self._prefix + "/"):
            return _problem(404, "NotFound", f"no function serves {path}")
        found = self._routes.resolve(request.method, path[len(self._prefix) :])
        if found is None:
            return _problem(404, "NotFound", f"no function serves {path}")
        if isinstance(found, MethodNotAllowed):
            response = _problem(
                405, "MethodNotAllowed", f"{request.method} is not allowed on {path}", found.allowed
            )
            response.headers["Allow"] = ", ".join(found.allowed)
            return response
        try:
            body = await self._read_body(request)
        except BadInput as exc:
            return _problem(exc.http_status, "BadInput", exc.reason)
        if body is None:
            response = _problem(
                413, "PayloadTooLarge", f"the request body is over {self._max_body} bytes"
            )
            response.force_close()
            return response
        call = found.target.call
        data = bridge.typed_http(
            method=request.method,
            url=str(request.url),
            headers=_request_headers(request),
            query=dict(request.query),
            route_params=found.params,
            body=body,
        )
        try:
            return _response(await self._invoker.call(call, data))
        except FunctionFailed as exc:
            log.error("function %s failed on %s %s: %s", call.name, request.method, path, exc)
            return _problem(500, "internal", "internal error")

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The decoded body, None once over the limit; ``BadInput`` if it cannot be decoded."""
        return await read_body(request, self._max_body)

    def _client_binding(self, task_hub: str | None) -> str:
        hub = task_hub or self._task_hub
        binding = self._bindings.get(hub)
        if binding is None:
            binding = self._durable.binding(self.base_url, hub)
            self._bindings[hub] = binding
        return binding

    # -- timers ----------------------------------------------------------------------

    def _wake_up(self) -> None:
        """Cut the timer loop's sleep short (on the loop)."""
        self._woken = True
        if self._sleeper is not None and not self._sleeper.done():
            self._sleeper.set_result(None)

    async def _sleep(self, delay: float) -> None:
        # A bare future rather than asyncio.wait_for: on 3.11 wait_for can
        # swallow the cancellation that stops the host.
        if self._woken:
            self._woken = False
            return
        loop = asyncio.get_running_loop()
        sleeper: asyncio.Future[None] = loop.create_future()
        self._sleeper = sleeper

        def ring() -> None:
            if not sleeper.done():
                sleeper.set_result(None)

        timer = loop.call_later(delay, ring)
        try:
            await sleeper
        finally:
            timer.cancel()
            self._sleeper = None
            self._woken = False

    def _on_clock_jump(self) -> None:
        """Runs in the thread that advanced the clock: due timers are queued before it returns."""
        tracker = self._engine.tracker
        tracker.begin()
        try:
            self._engine.fire_due_timers(self._clock.now())
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._cron_tick_then_end)
        except BaseException:
            tracker.end()
            raise

    def _cron_tick_then_end(self) -> None:
        try:
            self._fire_due_crons(self._clock.now())
            self._wake_up()
        finally:
            self._engine.tracker.end()

    def _schedule_crons(self) -> None:
        """First occurrences, decided before ``start`` returns so no clock jump is missed."""
        if not self._run_timers:
            return
        now = self._clock.now()
        for timer in self._catalog.timers:
            self._cron_next[timer.call.name] = timer.schedule.next_after(now)
            if timer.run_on_startup:
                self._fire_cron(timer, now, now)

    async def _timer_loop(self) -> None:
        while True:
            try:
                now = self._clock.now()
                due = self._engine.next_timer_due()
                if due is not None and due <= now:
                    await self._run_blocking(functools.partial(self._engine.fire_due_timers, now))
                self._fire_due_crons(now)
                delay = self._seconds_to_next(self._clock.now())
            except Exception:
                log.exception("timer loop")
                delay = _MAX_SLEEP
            await self._sleep(delay)

    def _seconds_to_next(self, now: datetime) -> float:
        candidates = list(self._cron_next.values())
        due = self._engine.next_timer_due()
        if due is not None:
            candidates.append(due)
        if not candidates:
            return _MAX_SLEEP
        return max(0.0, min(_MAX_SLEEP, (min(candidates) - now).total_seconds()))

    def _fire_due_crons(self, now: datetime) -> None:
        if not self._run_timers:
            return
        for timer in self._catalog.timers:
            name = timer.call.name
            scheduled = self._cron_next.get(name)
            if scheduled is None or scheduled > now or name in self._cron_running:
                continue
            self._cron_next[name] = timer.schedule.next_after(now)
            self._fire_cron(timer, scheduled, now)

    def _fire_cron(self, timer: TimerFunction, scheduled: datetime, now: datetime) -> None:
        name = timer.call.name
        last = self._cron_last.get(name)
        self._cron_last[name] = now
        request = {
            "Schedule": {"AdjustForDST": True},
            "ScheduleStatus": {
                "Last": (last or now).isoformat(),
                "Next": self._cron_next.get(name, now).isoformat(),
                "LastUpdated": now.isoformat(),
            },
            "IsPastDue": now - scheduled > _PAST_DUE,
        }
        self._cron_running.add(name)
        self._engine.tracker.begin()
        assert self._loop is not None
        self._loop.create_task(self._run_cron(timer, json.dumps(request)))

    async def _run_cron(self, timer: TimerFunction, request: str) -> None:
        call = timer.call
        try:
            await self._invoker.call(call, bridge.typed_json(request))
        except FunctionFailed as exc:
            log.error("timer function %s failed: %s", call.name, exc)
        finally:
            self._cron_running.discard(call.name)
            self._engine.tracker.end()


def _bound_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _url_for(host: str, port: int) -> str:
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _request_headers(request: web.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, raw_value in request.headers.items():
        lowered, value = valid_text(key.lower()), valid_text(raw_value)
        headers[lowered] = f"{headers[lowered]}, {value}" if lowered in headers else value
    return headers


def _response(returned: Any) -> web.Response:
    """Map the worker's ``$return`` (``TypedData``) to a response, as the host does."""
    if returned is None:
        return web.Response(status=204)
    kind = returned.WhichOneof("data")
    if kind != "http":
        text = bridge.text_of(returned) or ""
        return web.Response(text=text, content_type="text/plain")
    http = returned.http
    headers: CIMultiDict[str] = CIMultiDict()
    for key, value in http.headers.items():
        if key.lower() not in _STRIPPED_RESPONSE_HEADERS:
            headers.add(key, value)
    body_kind = http.body.WhichOneof("data") if http.HasField("body") else None
    if body_kind in ("bytes", "stream"):
        body = bytes(getattr(http.body, body_kind))
    elif body_kind is not None:
        body = (bridge.text_of(http.body) or "").encode()
    else:
        body = b""
    return web.Response(body=body, status=int(http.status_code or 200), headers=headers)


def _problem(
    status: int, error: str, reason: str, allowed: tuple[str, ...] | None = None
) -> web.Response:
    """A JSON error in the product's shape; never a traceback."""
    body: dict[str, Any] = {"error": error, "reason": reason}
    if allowed is not None:
        body["allowed"] = list(allowed)
    return web.json_response(body, status=status)


def serve_forever(
    app_path: Path,
    store: DocumentStore,
    host: str,
    port: int,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    task_hub: str = "SreCopilotHub",
    ready: Callable[[DevHost], None] | None = None,
) -> None:
    """Serve until Ctrl-C (or SIGTERM), then stop cleanly; for ``sre-copilot serve``."""
    devhost = DevHost(
        load_function_app(app_path),
        store,
        host=host,
        port=port,
        task_hub=task_hub,
        max_body_bytes=max_body_bytes,
    )
    in_main = threading.current_thread() is threading.main_thread()
    previous: Any = signal.signal(signal.SIGTERM, _interrupt) if in_main else None
    forever = threading.Event()
    try:
        devhost.start()
        _tune_gc()
        log.info("serving %s at %s", app_path, devhost.base_url)
        if ready is not None:
            ready(devhost)
        while not forever.wait(0.5):
            pass
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        devhost.stop()
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _tune_gc() -> None:
    """Keep cyclic-GC pauses out of request latency, as long-running servers do.

    Everything loaded at start-up (the app, the SDKs) is frozen out of the
    collector's sight, and young-generation collections run less often; the
    product allocates few cycles, so memory stays flat.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
