"""Calling user functions as the Python worker does.

Parameters are passed by binding name: the trigger's value, the durable
client's binding string (the DF SDK's wrapper turns it into a
``DurableOrchestrationClient``), and ``context`` when the function asks for
it. Coroutine functions run on the host's event loop, because the SDK's
durable client keeps one ``aiohttp`` session bound to the loop it first ran
on; plain functions run on the caller's thread.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devhost.catalog import Invocable

ClientBinding = Callable[[str | None], str]


@dataclass(frozen=True, slots=True)
class InvocationContext:
    """The part of ``azure.functions.Context`` a function here can rely on."""

    invocation_id: str
    function_name: str
    function_directory: str = ""
    trace_context: Any = None
    retry_context: Any = None
    thread_local_storage: threading.local = field(default_factory=threading.local)


class Invoker:
    """Builds the arguments of an invocation and runs it where it belongs."""

    def __init__(self, client_binding: ClientBinding) -> None:
        self._client_binding = client_binding
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop

    def arguments(self, call: Invocable, trigger_value: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {call.trigger_param: trigger_value}
        if call.client_param is not None:
            kwargs[call.client_param] = self._client_binding(call.client_task_hub)
        if call.wants_context:
            kwargs["context"] = InvocationContext(str(uuid.uuid4()), call.name)
        return kwargs

    def call_blocking(self, call: Invocable, trigger_value: Any) -> Any:
        """Run to completion from a worker thread (never from the loop itself)."""
        result = call.func(**self.arguments(call, trigger_value))
        if not inspect.isawaitable(result):
            return result
        loop = self._loop
        if loop is not None and loop.is_running():
            return asyncio.run_coroutine_threadsafe(_awaited(result), loop).result()
        return asyncio.run(_awaited(result))


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
