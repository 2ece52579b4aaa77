"""The durable client's binding string and payloads, checked against the SDK's own client."""

from __future__ import annotations

import json

import azure.functions as func
import pytest
from azure.durable_functions import DurableOrchestrationClient
from azure.durable_functions.models.RpcManagementOptions import RpcManagementOptions

from devhost.durable_api import client_binding, payload_text

BASE = "http://127.0.0.1:7071"
KEY = "k3y"
RPC = f"http://durable:{KEY}@127.0.0.1:7071/runtime/webhooks/durabletask/"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"", None),
        (b"  ", None),
        (json.dumps(json.dumps({"a": 1})).encode(), '{"a": 1}'),  # what the Python SDK posts
        (b'{"a": 1}', '{"a": 1}'),  # a raw JSON body
        (json.dumps(json.dumps("approved")).encode(), '"approved"'),
        (json.dumps("plain words").encode(), '"plain words"'),
        (json.dumps("null").encode(), "null"),
        (b"5", "5"),
    ],
)
def test_payload_text(body: bytes, text: str | None) -> None:
    assert payload_text(body) == text


def test_payload_text_refuses_bad_json() -> None:
    with pytest.raises(ValueError):
        payload_text(b"{nope")


def client() -> DurableOrchestrationClient:
    return DurableOrchestrationClient(client_binding(BASE, "Hub", KEY))


def test_the_sdk_client_builds_urls_we_serve() -> None:
    c = client()
    assert c._get_start_new_url("i-1", "flow") == f"{RPC}orchestrators/flow/i-1"
    assert c._get_start_new_url(None, "flow") == f"{RPC}orchestrators/flow"
    assert c._get_raise_event_url("i-1", "go", None, None) == f"{RPC}instances/i-1/raiseEvent/go"
    assert RpcManagementOptions(instance_id="i-1").to_url(RPC) == f"{RPC}instances/i-1"


def test_check_status_response_points_at_the_request_origin() -> None:
    request = func.HttpRequest("POST", "http://localhost:9999/api/start", body=b"")
    response = client().create_check_status_response(request, "abc")
    assert response.status_code == 202
    links = json.loads(response.get_body())
    assert links["id"] == "abc"
    webhook = "http://localhost:9999/runtime/webhooks/durabletask/instances/abc"
    assert links["statusQueryGetUri"] == f"{webhook}?taskHub=Hub&connection=Storage&code={KEY}"
    assert links["sendEventPostUri"].startswith(f"{webhook}/raiseEvent/{{eventName}}?")
    assert links["terminatePostUri"].startswith(f"{webhook}/terminate?reason={{text}}&")
    assert response.headers["Location"] == links["statusQueryGetUri"]
