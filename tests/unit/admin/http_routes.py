"""The HTTP routes the Functions app declares, read from its blueprints as the host indexes them."""

from __future__ import annotations

from typing import Any


def http_routes() -> dict[str, tuple[str, tuple[Any, ...]]]:
    """Function name -> (route, HTTP methods) for every HTTP-triggered function."""
    from functions import BLUEPRINTS

    routes = {}
    for blueprint in BLUEPRINTS:
        for builder in blueprint._function_builders:
            function = builder.build()
            for binding in function.get_bindings():
                route = getattr(binding, "route", None)
                if route is not None:
                    routes[function.get_function_name()] = (route, tuple(binding.methods))
    return routes
