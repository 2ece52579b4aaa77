"""The local stand-in for the Azure Functions host (see DESIGN.md, "The local host").

Azure Functions Core Tools cannot be installed here, so ``DevHost`` runs the
same ``function_app.py``: it serves the HTTP routes, runs timer triggers on
their NCRONTAB schedules, runs durable orchestrations through the SDK's own
replay engine with their history in the document store (a restarted host
resumes every unfinished instance), and serves the Durable HTTP API that the
SDK's ``DurableOrchestrationClient`` talks to.

This package is the one place in ``shared`` that imports ``azure.functions``:
a host has to build the ``HttpRequest``, ``TimerRequest`` and
``OrchestrationContext`` objects the worker would pass.
"""

from shared.devhost.catalog import load_function_app
from shared.devhost.clock import Clock, ManualClock, SystemClock
from shared.devhost.server import DEFAULT_MAX_BODY_BYTES, DevHost, serve_forever

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "Clock",
    "DevHost",
    "ManualClock",
    "SystemClock",
    "load_function_app",
    "serve_forever",
]
