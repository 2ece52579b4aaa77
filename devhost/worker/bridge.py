"""The local host's half of the worker protocol: the worker library does the rest.

Azure runs a Python 3.13 app through the worker library
``azure-functions-runtime``: its loader imports ``function_app.py`` and its
registry decides which functions load (rejecting, for example, a parameter
annotated ``dict[str, Any]``); on each invocation its binding converters turn
the host's ``TypedData`` into arguments and the return value back. The local
host calls the same handlers (``worker_init_request``,
``functions_metadata_request``, ``invocation_request``) with the protocol's
own messages, so whatever the worker would reject or convert differently in
Azure does so here too. Only the transport differs: in-process calls instead
of a gRPC stream.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import shutil
import sys
import tempfile
import threading
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from devhost.worker.protos import protos


class AppLoadError(Exception):
    """The worker refused the app: in Azure none of its functions would load."""


class FunctionFailed(Exception):
    """An invocation ended with the worker's failure status; the message is the worker's."""


@dataclass(frozen=True, slots=True)
class IndexedFunction:
    """One function as the worker indexed it: its id for invocations and its bindings."""

    name: str
    function_id: str
    bindings: tuple[Mapping[str, Any], ...]
    directory: str


_lock = threading.Lock()
_Indexed = tuple[IndexedFunction, ...] | AppLoadError
_indexed: weakref.WeakKeyDictionary[Any, _Indexed] = weakref.WeakKeyDictionary()
_threadpool_started = False


def _worker() -> ModuleType:
    import azure_functions_runtime

    module: ModuleType = azure_functions_runtime
    return module


def _request(**messages: Any) -> SimpleNamespace:
    """The envelope the worker's handlers read: ``request.<message>`` and ``properties``."""
    return SimpleNamespace(
        request=SimpleNamespace(**messages),
        properties={"host": "127.0.0.1", "protos": protos()},
    )


def _run(coro: Any) -> Any:
    """Run a worker coroutine to completion from synchronous code.

    In a thread of its own when this thread already runs a loop (a host built
    from async code), since ``asyncio.run`` refuses to nest.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="devhost-index")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def index_app(app: Any) -> tuple[IndexedFunction, ...]:
    """Index ``app``'s module with the worker library, once per app per process.

    The worker imports ``function_app`` by name from the app's folder; the
    module that defines ``app`` is put under that name for the call so an
    app loaded from elsewhere (a test fixture) is the one indexed.
    """
    with _lock:
        found: _Indexed | None = _indexed.get(app)
        if found is None:
            # ``get_functions`` refuses a second call on an app, so a refusal is kept too.
            try:
                found = _index(app)
            except AppLoadError as exc:
                found = exc
            _indexed[app] = found
    if isinstance(found, AppLoadError):
        raise found
    return found


def _index(app: Any) -> tuple[IndexedFunction, ...]:
    """The app's functions as the worker indexed them; raises ``AppLoadError`` if refused."""
    global _threadpool_started
    worker = _worker()
    folder = _app_folder(app)
    # The worker imports ``function_app`` by name and takes the one function
    # app at its top level: hand it a module holding just this app.
    module = ModuleType("function_app")
    module.app = app  # type: ignore[attr-defined]
    module.__file__ = str(Path(folder) / "function_app.py")
    previous = sys.modules.get("function_app")
    sys.modules["function_app"] = module
    try:
        init = protos().WorkerInitRequest(
            host_version="4.0.0-devhost", function_app_directory=folder
        )
        response = _run(worker.worker_init_request(_request(worker_init_request=init)))
        if response.result.status != protos().StatusResult.Success:
            raise AppLoadError(response.result.exception.message or "the worker refused the app")
        metadata = _run(worker.functions_metadata_request(_request()))
    finally:
        if previous is None:
            sys.modules.pop("function_app", None)
        else:
            sys.modules["function_app"] = previous
    if metadata.result.status != protos().StatusResult.Success:
        raise AppLoadError(metadata.result.exception.message or "indexing failed")
    if not _threadpool_started:
        worker.start_threadpool_executor()
        _threadpool_started = True
    return tuple(
        IndexedFunction(
            name=item.name,
            function_id=item.function_id,
            bindings=tuple(json.loads(raw) for raw in item.raw_bindings),
            directory=item.directory,
        )
        for item in metadata.function_metadata_results
    )


def _app_folder(app: Any) -> str:
    """The folder of the ``function_app.py`` that defines ``app``.

    An app built in code (tests) gets a folder with an empty
    ``function_app.py``: the worker only indexes a folder that has one.
    """
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if Path(path).name == "function_app.py" and getattr(module, "app", None) is app:
            return str(Path(path).resolve().parent)
    folder = Path(tempfile.mkdtemp(prefix="sre-copilot-app-"))
    atexit.register(shutil.rmtree, folder, True)
    (folder / "function_app.py").write_text('"""An app built in code; indexed from memory."""\n')
    return str(folder)


# -- invocations -------------------------------------------------------------------------


def typed_json(text: str | None) -> Any:
    """``TypedData`` holding a JSON text (``null`` for no value), as the host sends inputs."""
    return protos().TypedData(json="null" if text is None else text)


def typed_string(text: str) -> Any:
    return protos().TypedData(string=text)


def typed_http(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    route_params: Mapping[str, str],
    body: bytes,
) -> Any:
    """An HTTP trigger's input, as the host sends it (the worker builds the ``HttpRequest``)."""
    p = protos()
    return p.TypedData(
        http=p.RpcHttp(
            method=method,
            url=url,
            headers=dict(headers),
            query=dict(query),
            params=dict(route_params),
            body=p.TypedData(bytes=body),
        )
    )


async def invoke(
    function: IndexedFunction,
    inputs: Mapping[str, Any],
    *,
    trigger_metadata: Mapping[str, Any] | None = None,
) -> Any:
    """Invoke through the worker; returns the ``return_value`` ``TypedData`` (or None).

    Must run on the host's event loop: the worker runs coroutine functions on
    it and plain functions in its own thread pool, as in Azure.
    """
    p = protos()
    request = p.InvocationRequest(
        invocation_id=str(uuid.uuid4()),
        function_id=function.function_id,
        input_data=[p.ParameterBinding(name=name, data=data) for name, data in inputs.items()],
    )
    for key, value in (trigger_metadata or {}).items():
        request.trigger_metadata[key].CopyFrom(value)
    response = await _worker().invocation_request(_request(invocation_request=request))
    if response.result.status != p.StatusResult.Success:
        raise FunctionFailed(response.result.exception.message or "the function failed")
    return response.return_value if response.HasField("return_value") else None


def text_of(data: Any) -> str | None:
    """The text a ``TypedData`` carries (JSON, string or UTF-8 bytes), None when empty."""
    if data is None:
        return None
    kind = data.WhichOneof("data")
    if kind in ("json", "string"):
        return str(getattr(data, kind))
    if kind in ("bytes", "stream"):
        return bytes(getattr(data, kind)).decode("utf-8", errors="replace")
    if kind == "int":
        return str(data.int)
    if kind == "double":
        return json.dumps(data.double)
    return None
