"""Entra ID instead of keys: the real SDKs send the identity's token, and nothing else.

A fake ``TokenCredential`` hands out a fixed token. Against the Cosmos-protocol
server (``@zeit/cosmosdb-server`` takes any authorization, so the requests are
recorded where the SDK hands them to ``requests``) the store sends
``type=aad`` signatures and no management call; against the local Search
server with API keys off (HTTPS, as the SDK insists for tokens) the
``Authorization`` header carries the bearer token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from azure.core.credentials import AccessToken
from pydantic import SecretStr
from requests import PreparedRequest

from shared import bootstrap
from shared.adapters.search.azure_search import AzureRunbookSearch
from shared.adapters.store import cosmos as cosmos_module
from shared.adapters.store import open_store
from shared.adapters.store.cosmos import CosmosStore
from shared.errors import BadInput, SearchFailed
from shared.ports.search import RunbookQuery
from shared.ports.store import Container
from shared.runbooks.loader import load_runbooks
from shared.settings import Settings
from tests.fixtures.search_server import RunningSearchServer, search_server
from tests.fixtures.servers import COSMOS_KEY
from tests.fixtures.tls import LocalTls, make_tls

TOKEN = "fake-entra-token"
RUNBOOKS = Path(__file__).resolve().parents[3] / "samples" / "runbooks"


class FakeCredential:
    """A ``TokenCredential`` with one fixed token; remembers the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)


# --- Cosmos DB ------------------------------------------------------------------------


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[PreparedRequest]:
    """Every request the Cosmos SDK hands to ``requests`` (what goes on the wire)."""
    recorded: list[PreparedRequest] = []
    real = cosmos_module._transport

    def recording() -> Any:
        transport = real()
        session = transport.session
        assert session is not None
        send = session.send

        def record(request: PreparedRequest, **kwargs: Any) -> Any:
            recorded.append(request)
            return send(request, **kwargs)

        session.send = record  # type: ignore[method-assign]
        return transport

    monkeypatch.setattr(cosmos_module, "_transport", recording)
    return recorded


def _database(endpoint: str) -> str:
    """A fresh database with the incidents container, made with the emulator key."""
    name = f"entra-{uuid.uuid4().hex[:12]}"
    seeding = CosmosStore(endpoint, COSMOS_KEY, name, verify_tls=False, create_if_missing=True)
    seeding.create(Container.INCIDENTS, "acme", {"id": "seed"})
    seeding.close()
    return name


@pytest.mark.cosmos
def test_cosmos_sends_the_identitys_token_and_creates_nothing(
    cosmos_server: str, sent: list[PreparedRequest]
) -> None:
    database = _database(cosmos_server)
    sent.clear()
    credential = FakeCredential()
    store = open_store(
        Settings(
            store="cosmos",
            cosmos_endpoint=cosmos_server,
            cosmos_database=database,
            cosmos_verify_tls=False,
        ),
        credential=credential,  # type: ignore[arg-type]
    )
    try:
        created = store.create(Container.INCIDENTS, "acme", {"id": "i1", "n": 1})
        assert store.get(Container.INCIDENTS, "acme", "i1") == created
        assert sorted(d["id"] for d in store.query(Container.INCIDENTS, "acme")) == ["i1", "seed"]
    finally:
        store.close()

    assert sent, "no request recorded"
    signatures = [unquote(r.headers["authorization"]) for r in sent]
    assert all(s == f"type=aad&ver=1.0&sig={TOKEN}" for s in signatures), signatures
    assert credential.scopes and all(s[0].endswith("/.default") for s in credential.scopes)
    creations = [
        f"{r.method} {r.path_url}" for r in sent if r.method == "POST" and r.path_url.rstrip("/")
        in ("/dbs", f"/dbs/{database}/colls")
    ]  # fmt: skip
    assert creations == []


@pytest.mark.cosmos
def test_cosmos_by_identity_never_creates_a_missing_database(
    cosmos_server: str, sent: list[PreparedRequest]
) -> None:
    store = CosmosStore(cosmos_server, FakeCredential(), "never-made", verify_tls=False)
    try:
        with pytest.raises(Exception, match=r"404|NotFound|not found"):
            store.create(Container.INCIDENTS, "acme", {"id": "i1"})
    finally:
        store.close()

    assert [r for r in sent if r.method == "POST" and r.path_url.rstrip("/") == "/dbs"] == []


@pytest.mark.cosmos
def test_the_emulator_path_creates_what_is_missing(cosmos_server: str) -> None:
    name = f"made-{uuid.uuid4().hex[:12]}"
    settings = Settings(
        store="cosmos",
        cosmos_endpoint=cosmos_server,
        cosmos_key=SecretStr(COSMOS_KEY),
        cosmos_database=name,
        cosmos_verify_tls=False,
        cosmos_create_if_missing=True,
    )
    store = open_store(settings, credential=FakeCredential())  # type: ignore[arg-type]
    try:
        store.create(Container.TENANTS, "acme", {"id": "t"})
        assert store.get(Container.TENANTS, "acme", "t") is not None
    finally:
        store.close()


def test_cosmos_needs_a_key_or_an_identity() -> None:
    settings = Settings(store="cosmos", cosmos_endpoint="https://127.0.0.1:1")
    with pytest.raises(BadInput, match="COSMOS_KEY or an identity"):
        open_store(settings)


def test_create_if_missing_is_off_unless_asked() -> None:
    assert Settings().cosmos_create_if_missing is False


# --- Azure AI Search -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> LocalTls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def keyless(tls: LocalTls) -> Iterator[RunningSearchServer]:
    """A search service with API keys off, over HTTPS."""
    with search_server(bearer_token=TOKEN, tls=tls) as running:
        yield running


def test_search_sends_the_bearer_token(keyless: RunningSearchServer, tls: LocalTls) -> None:
    credential = FakeCredential()
    runbooks = load_runbooks(RUNBOOKS)
    with AzureRunbookSearch(
        keyless.endpoint,
        credential,  # type: ignore[arg-type]
        "runbooks",
        ca_file=str(tls.ca_file),
        retry_total=0,
    ) as search:
        assert search.create_index_if_missing() is True
        assert search.create_index_if_missing() is False
        assert search.upload_runbooks(runbooks) == len(runbooks)
        hits = search.search(RunbookQuery(text="disk full cleanup"), top=1)

    assert hits and hits[0].id == "rb-disk-cleanup"
    assert keyless.service.authorizations
    assert set(keyless.service.authorizations) == {f"Bearer {TOKEN}"}
    assert {s for scopes in credential.scopes for s in scopes} == {
        "https://search.azure.com/.default"
    }


def test_a_key_is_refused_where_keys_are_off(keyless: RunningSearchServer, tls: LocalTls) -> None:
    with (
        AzureRunbookSearch(
            keyless.endpoint, "some-key", "runbooks", ca_file=str(tls.ca_file), retry_total=0
        ) as search,
        pytest.raises(SearchFailed, match="credential was refused") as caught,
    ):
        search.create_index_if_missing()
    assert caught.value.permanent


def test_bootstrap_uses_the_identity_when_no_search_key_is_set(
    keyless: RunningSearchServer, tls: LocalTls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_file))  # what requests trusts by default
    settings = Settings(search="azure", azure_search_endpoint=keyless.endpoint)
    with bootstrap.azure_search(settings, FakeCredential()) as search:  # type: ignore[arg-type]
        assert search.create_index_if_missing() is True
    assert set(keyless.service.authorizations) == {f"Bearer {TOKEN}"}
    with pytest.raises(BadInput, match="AZURE_SEARCH_KEY or an identity"):
        bootstrap.azure_search(settings, None)
