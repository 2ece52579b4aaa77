"""Route templates: matching, constraints, precedence, 404 versus 405."""

from __future__ import annotations

import pytest

from devhost.routes import (
    MethodNotAllowed,
    RouteError,
    RouteMatch,
    RouteTable,
    compile_route,
)


def test_literal_and_parameter_segments() -> None:
    route = compile_route("tenants/{tenant}/webhooks/alertmanager")
    assert route.match("tenants/acme/webhooks/alertmanager") == {"tenant": "acme"}
    assert route.match("/tenants/acme/webhooks/alertmanager/") == {"tenant": "acme"}
    assert route.match("TENANTS/acme/Webhooks/alertmanager") == {"tenant": "acme"}
    assert route.match("tenants/acme/webhooks") is None
    assert route.match("tenants/a/b/webhooks/alertmanager") is None


def test_parameters_are_percent_decoded_after_matching() -> None:
    route = compile_route("files/{name}")
    assert route.match("files/a%2Fb%20c") == {"name": "a/b c"}


def test_optional_parameter_and_default() -> None:
    optional = compile_route("incidents/{incident_id?}")
    assert optional.match("incidents") == {}
    assert optional.match("incidents/inc-1") == {"incident_id": "inc-1"}
    defaulted = compile_route("reports/{period=weekly}")
    assert defaulted.match("reports") == {"period": "weekly"}
    assert defaulted.match("reports/daily") == {"period": "daily"}


@pytest.mark.parametrize(
    ("template", "good", "bad"),
    [
        ("items/{id:int}", "items/-42", "items/4x"),
        ("names/{n:alpha}", "names/abc", "names/ab1"),
        ("flags/{f:bool}", "flags/True", "flags/yes"),
        ("ids/{g:guid}", "ids/0f8fad5b-d9cb-469f-a165-70867728950e", "ids/0f8fad5b"),
        ("pages/{p:int:min(1)}", "pages/1", "pages/0"),
        ("pages/{p:range(1,3)}", "pages/3", "pages/4"),
        ("codes/{c:length(3)}", "codes/abc", "codes/abcd"),
        ("codes/{c:regex(^[a-z]{{2}}\\d$)}", "codes/ab1", "codes/abc"),
    ],
)
def test_constraints(template: str, good: str, bad: str) -> None:
    route = compile_route(template)
    assert route.match(good) is not None
    assert route.match(bad) is None


def test_catch_all_takes_the_rest_of_the_path() -> None:
    route = compile_route("static/{*path}")
    assert route.match("static/css/site.css") == {"path": "css/site.css"}
    assert route.match("static") == {}


def test_text_around_parameters_within_a_segment() -> None:
    route = compile_route("files/{name}.{ext}")
    assert route.match("files/report.final.pdf") == {"name": "report.final", "ext": "pdf"}
    assert route.match("files/report") is None


@pytest.mark.parametrize(
    "template", ["a//b", "{x}/{x}", "{*rest}/tail", "{x:nonsense}", "{bad name}", "a{b?}c"]
)
def test_malformed_templates_are_refused(template: str) -> None:
    with pytest.raises(RouteError):
        compile_route(template)


def test_most_specific_template_wins_regardless_of_order() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("tenants/{tenant}/{thing}", None, "generic")
    table.add("tenants/{tenant}/{n:int}", None, "numbered")
    table.add("tenants/{tenant}/webhooks", None, "webhooks")
    assert table.resolve("GET", "tenants/acme/webhooks") == RouteMatch(
        "webhooks", {"tenant": "acme"}
    )
    assert table.resolve("GET", "tenants/acme/7") == RouteMatch(
        "numbered", {"tenant": "acme", "n": "7"}
    )
    assert table.resolve("GET", "tenants/acme/x") == RouteMatch(
        "generic", {"tenant": "acme", "thing": "x"}
    )


def test_wrong_method_is_405_with_the_allowed_methods_and_unknown_is_none() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("echo", ["post", "PUT"], "echo")
    table.add("any", None, "any")
    assert table.resolve("post", "echo") == RouteMatch("echo", {})
    assert table.resolve("GET", "echo") == MethodNotAllowed(("POST", "PUT"))
    assert table.resolve("DELETE", "any") == RouteMatch("any", {})
    assert table.resolve("GET", "missing") is None
