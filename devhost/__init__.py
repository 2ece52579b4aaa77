"""The local stand-in for the Azure Functions host (see DESIGN.md, "The local host").

Azure Functions Core Tools cannot be installed here, so ``DevHost`` runs the
same ``function_app.py``: it serves the HTTP routes, runs timer triggers on
their NCRONTAB schedules, runs durable orchestrations through the SDK's own
replay engine with their history in the document store (a restarted host
resumes every unfinished instance), and serves the Durable HTTP API that the
SDK's ``DurableOrchestrationClient`` talks to.

A tool around the app, not the product: it lives outside ``shared`` because
a host has to import ``azure.functions`` and the worker library to build and
pass what the Python worker would.
"""

from devhost.catalog import load_function_app
from devhost.clock import Clock, ManualClock, SystemClock
from devhost.server import DEFAULT_MAX_BODY_BYTES, DevHost, serve_forever

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "Clock",
    "DevHost",
    "ManualClock",
    "SystemClock",
    "load_function_app",
    "serve_forever",
]
