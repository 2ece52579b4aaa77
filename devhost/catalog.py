"""What the function app declares, as the worker library indexed it.

The worker (``devhost.worker``) imports the app and returns each function's
metadata: its id and its bindings as the ``function.json`` it sends the host.
From them we keep what the local host serves: HTTP routes, timer schedules,
orchestrators and activities by their durable names, and the parameter that
receives the durable client's binding string. A function the worker rejects
fails the whole app (``AppLoadError``), as it does in Azure; a binding this
host cannot serve is skipped with a warning.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import azure.functions as func

from devhost.ncrontab import CronSchedule, IntervalSchedule, parse_schedule
from devhost.worker import IndexedFunction, index_app

log = logging.getLogger(__name__)

_SERVED_BINDINGS = frozenset(
    {
        "httpTrigger",
        "http",
        "timerTrigger",
        "orchestrationTrigger",
        "activityTrigger",
        "durableClient",
    }
)


@dataclass(frozen=True, slots=True)
class Invocable:
    """A function as the worker knows it, and the names of its input bindings."""

    name: str
    function: IndexedFunction
    trigger_param: str
    client_param: str | None
    client_task_hub: str | None


@dataclass(frozen=True, slots=True)
class HttpFunction:
    route: str
    methods: frozenset[str] | None
    call: Invocable


@dataclass(frozen=True, slots=True)
class TimerFunction:
    schedule: CronSchedule | IntervalSchedule
    run_on_startup: bool
    call: Invocable


@dataclass(frozen=True, slots=True)
class FunctionCatalog:
    """Everything the host dispatches to, by trigger."""

    http: tuple[HttpFunction, ...]
    timers: tuple[TimerFunction, ...]
    orchestrators: Mapping[str, Invocable]
    activities: Mapping[str, Invocable]


def catalog_of(app: Any) -> FunctionCatalog:
    """Index a ``FunctionApp``/``DFApp`` through the worker library (once per app)."""
    return _build_catalog(index_app(app))


def _build_catalog(functions: tuple[IndexedFunction, ...]) -> FunctionCatalog:
    http: list[HttpFunction] = []
    timers: list[TimerFunction] = []
    orchestrators: dict[str, Invocable] = {}
    activities: dict[str, Invocable] = {}
    for function in functions:
        name = function.name
        bindings = list(function.bindings)
        unserved = sorted({str(b.get("type")) for b in bindings} - _SERVED_BINDINGS)
        if unserved:
            log.warning("skipping %s: the local host has no %s binding", name, ", ".join(unserved))
            continue
        trigger = next(
            (
                b
                for b in bindings
                if str(b.get("direction", "")).upper() != "OUT"
                and str(b.get("type", "")).endswith("Trigger")
            ),
            None,
        )
        if trigger is None:
            log.warning("skipping %s: it has no trigger", name)
            continue
        client = next((b for b in bindings if b.get("type") == "durableClient"), None)
        call = Invocable(
            name=name,
            function=function,
            trigger_param=str(trigger["name"]),
            client_param=None if client is None else str(client["name"]),
            client_task_hub=None if client is None else client.get("taskHub"),
        )
        kind = trigger["type"]
        if kind == "httpTrigger":
            methods = trigger.get("methods")
            http.append(
                HttpFunction(
                    route=str(trigger.get("route") or name),
                    methods=None if not methods else frozenset(_text(m).upper() for m in methods),
                    call=call,
                )
            )
        elif kind == "timerTrigger":
            try:
                schedule = parse_schedule(str(trigger["schedule"]))
            except ValueError as exc:
                log.warning("skipping %s: %s", name, exc)
                continue
            timers.append(TimerFunction(schedule, bool(trigger.get("runOnStartup")), call))
        elif kind == "orchestrationTrigger":
            orchestrators[str(trigger.get("orchestration") or name)] = call
        elif kind == "activityTrigger":
            activities[str(trigger.get("activity") or name)] = call
        else:
            log.warning("skipping %s: the local host has no %s trigger", name, kind)
    return FunctionCatalog(tuple(http), tuple(timers), orchestrators, activities)


def _text(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def load_function_app(path: Path) -> Any:
    """Import ``function_app.py`` by path, as the worker does, and return its app.

    The file's folder goes on ``sys.path`` so the app's own packages import.
    The module is registered as ``function_app`` unless another file already
    holds that name, in which case it gets a name of its own.
    """
    path = Path(path).resolve()
    if path.is_dir():
        path = path / "function_app.py"
    if not path.is_file():
        raise FileNotFoundError(f"no function app at {path}")
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = "function_app"
    existing = sys.modules.get(module_name)
    if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() != path:
        module_name = "function_app_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        existing = sys.modules.get(module_name)
    module = existing
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if not apps:
        raise ImportError(f"{path} defines no FunctionApp or DFApp")
    if len(apps) > 1:
        named = getattr(module, "app", None)
        if isinstance(named, func.FunctionRegister):
            return named
        raise ImportError(f"{path} defines several function apps; name the one to serve `app`")
    return apps[0]
