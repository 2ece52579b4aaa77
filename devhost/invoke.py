"""Calling functions as the host does: through the worker library.

The host sends each input binding as ``TypedData``: the trigger's value, and
the durable client's binding string (the SDK's wrapper turns it into a
``DurableOrchestrationClient``). The worker decodes them with its own
converters, runs coroutine functions on the host's event loop and plain ones
in its thread pool, and encodes the return value; a failure comes back as the
worker's failure status (``FunctionFailed``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from devhost.catalog import Invocable
from devhost.worker import bridge

ClientBinding = Callable[[str | None], str]


class Invoker:
    """Builds an invocation's inputs and runs it on the host's loop."""

    def __init__(self, client_binding: ClientBinding) -> None:
        self._client_binding = client_binding
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop

    def inputs(self, call: Invocable, trigger_value: Any) -> dict[str, Any]:
        inputs: dict[str, Any] = {call.trigger_param: trigger_value}
        if call.client_param is not None:
            inputs[call.client_param] = bridge.typed_string(
                self._client_binding(call.client_task_hub)
            )
        return inputs

    async def call(self, call: Invocable, trigger_value: Any) -> Any:
        """Invoke on the running loop; the worker's ``return_value`` (``TypedData``) or None."""
        return await bridge.invoke(call.function, self.inputs(call, trigger_value))

    def call_blocking(self, call: Invocable, trigger_value: Any) -> Any:
        """Invoke from a host thread (never from the loop itself) and wait for the result."""
        loop = self._loop
        if loop is None or not loop.is_running():  # an engine driven without a host (tests)
            return asyncio.run(self.call(call, trigger_value))
        return asyncio.run_coroutine_threadsafe(self.call(call, trigger_value), loop).result()

    def call_json(self, call: Invocable, input_text: str | None) -> str | None:
        """An activity or orchestrator turn: JSON text in, the returned JSON text out."""
        return bridge.text_of(self.call_blocking(call, bridge.typed_json(input_text)))
