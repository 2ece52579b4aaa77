"""The ``DocumentStore`` contract, run against SQLite and against a Cosmos DB server.

Every test gets an empty store (a new SQLite file, a new Cosmos database), so
tests do not depend on one another.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared.adapters.store import open_store
from shared.adapters.store.cosmos import CosmosStore
from shared.adapters.store.sqlite import SqliteStore
from shared.errors import BadInput, Conflict, PreconditionFailed
from shared.models.base import iso
from shared.ports.store import Container, DocumentStore, Filter, update_with_retry
from shared.settings import Settings
from tests.fixtures.servers import COSMOS_KEY

A, B = "tenant-a", "tenant-b"
C = Container.INCIDENTS


@pytest.fixture(params=["sqlite", pytest.param("cosmos", marks=pytest.mark.cosmos)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "sqlite":
        # A directory that does not exist yet: the adapter creates it.
        settings = Settings(store="sqlite", home=tmp_path / "home")
        expected: type = SqliteStore
    else:
        settings = Settings(
            store="cosmos",
            cosmos_endpoint=request.getfixturevalue("cosmos_server"),
            cosmos_key=SecretStr(COSMOS_KEY),
            cosmos_database=f"contract-{uuid.uuid4().hex[:12]}",
            cosmos_verify_tls=False,
            cosmos_create_if_missing=True,  # an emulator: Azure's are made by the deployment
        )
        expected = CosmosStore
    opened = open_store(settings)
    assert isinstance(opened, expected)
    yield opened
    opened.close()


def user_fields(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_etag"}


# --- single documents ------------------------------------------------------------------


def test_create_returns_the_document_with_tenant_and_etag(store: DocumentStore) -> None:
    created = store.create(C, A, {"id": "i1", "title": "disk full", "n": 1})

    assert user_fields(created) == {"id": "i1", "tenantId": A, "title": "disk full", "n": 1}
    assert isinstance(created["_etag"], str) and created["_etag"]
    assert store.get(C, A, "i1") == created


def test_documents_carry_no_system_fields_but_etag(store: DocumentStore) -> None:
    store.create(C, A, {"id": "i1", "n": 1})

    for doc in (store.get(C, A, "i1"), *store.query(C, A)):
        assert doc is not None
        assert set(doc) == {"id", "tenantId", "n", "_etag"}


def test_get_of_a_missing_document_is_none(store: DocumentStore) -> None:
    assert store.get(C, A, "nope") is None


def test_create_leaves_the_callers_dict_alone(store: DocumentStore) -> None:
    doc = {"id": "i1", "n": 1, "_etag": "made-up"}

    created = store.create(C, A, doc)

    assert doc == {"id": "i1", "n": 1, "_etag": "made-up"}
    assert created["_etag"] != "made-up"


def test_create_of_an_existing_id_conflicts_and_keeps_the_first(store: DocumentStore) -> None:
    first = store.create(C, A, {"id": "i1", "n": 1})

    with pytest.raises(Conflict):
        store.create(C, A, {"id": "i1", "n": 2})

    assert store.get(C, A, "i1") == first


def test_upsert_inserts_then_overwrites_the_whole_document(store: DocumentStore) -> None:
    first = store.upsert(C, A, {"id": "i1", "n": 1, "gone": True})
    second = store.upsert(C, A, {"id": "i1", "n": 2})

    assert user_fields(second) == {"id": "i1", "tenantId": A, "n": 2}
    assert second["_etag"] != first["_etag"]
    assert store.get(C, A, "i1") == second


def test_replace_under_the_current_etag_writes_and_moves_the_etag(store: DocumentStore) -> None:
    created = store.create(C, A, {"id": "i1", "n": 1})

    replaced = store.replace(C, A, {"id": "i1", "n": 2}, etag=created["_etag"])

    assert user_fields(replaced) == {"id": "i1", "tenantId": A, "n": 2}
    assert replaced["_etag"] != created["_etag"]
    assert store.get(C, A, "i1") == replaced


def test_replace_under_a_stale_etag_fails_and_changes_nothing(store: DocumentStore) -> None:
    created = store.create(C, A, {"id": "i1", "n": 1})
    current = store.replace(C, A, {"id": "i1", "n": 2}, etag=created["_etag"])

    with pytest.raises(PreconditionFailed):
        store.replace(C, A, {"id": "i1", "n": 3}, etag=created["_etag"])

    assert store.get(C, A, "i1") == current


def test_replace_of_a_missing_document_fails_as_a_stale_etag(store: DocumentStore) -> None:
    with pytest.raises(PreconditionFailed):
        store.replace(C, A, {"id": "nope", "n": 1}, etag="anything")
    assert store.get(C, A, "nope") is None


def test_delete_removes_once(store: DocumentStore) -> None:
    store.create(C, A, {"id": "i1"})

    assert store.delete(C, A, "i1") is True
    assert store.get(C, A, "i1") is None
    assert store.delete(C, A, "i1") is False
    store.create(C, A, {"id": "i1"})  # the id is free again


def test_containers_are_separate(store: DocumentStore) -> None:
    store.create(Container.ALERTS, A, {"id": "x", "kind": "alert"})

    assert store.get(Container.INCIDENTS, A, "x") is None
    store.create(Container.INCIDENTS, A, {"id": "x", "kind": "incident"})
    assert [d["kind"] for d in store.query(Container.ALERTS, A)] == ["alert"]


# --- tenants ---------------------------------------------------------------------------


def test_tenants_do_not_see_each_others_documents(store: DocumentStore) -> None:
    a = store.create(C, A, {"id": "same", "owner": "a"})
    store.create(C, A, {"id": "only-a", "owner": "a"})

    assert store.get(C, B, "same") is None
    assert store.query(C, B) == []
    b = store.create(C, B, {"id": "same", "owner": "b"})  # same id, no conflict across tenants

    assert store.get(C, A, "same") == a
    assert store.get(C, B, "same") == b
    assert {d["owner"] for d in store.query(C, A)} == {"a"}
    assert [d["id"] for d in store.query(C, B, [Filter("owner", "=", "a")])] == []
    with pytest.raises(PreconditionFailed):
        store.replace(C, B, {"id": "same", "owner": "b2"}, etag=a["_etag"])
    assert store.delete(C, B, "same") is True
    assert store.get(C, A, "same") == a


CALLS: dict[str, Callable[[DocumentStore, str], object]] = {
    "get": lambda s, t: s.get(C, t, "i1"),
    "create": lambda s, t: s.create(C, t, {"id": "i1"}),
    "upsert": lambda s, t: s.upsert(C, t, {"id": "i1"}),
    "replace": lambda s, t: s.replace(C, t, {"id": "i1"}, etag="e"),
    "delete": lambda s, t: s.delete(C, t, "i1"),
    "query": lambda s, t: s.query(C, t),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_no_call_without_a_tenant(store: DocumentStore, call: Callable[..., object]) -> None:
    with pytest.raises(BadInput, match="without a tenant"):
        call(store, "")


def test_a_document_of_another_tenant_is_refused(store: DocumentStore) -> None:
    with pytest.raises(BadInput):
        store.create(C, A, {"id": "i1", "tenantId": B})
    with pytest.raises(BadInput):
        store.upsert(C, A, {"id": "i1", "tenantId": B})
    assert store.get(C, A, "i1") is None
    assert store.get(C, B, "i1") is None


@pytest.mark.parametrize(
    "doc",
    [{}, {"id": ""}, {"id": 7}, {"id": "a/b"}, {"id": "a#b"}, {"id": "a?b"}, {"id": "x" * 256}],
    ids=["no id", "empty", "number", "slash", "hash", "question", "too long"],
)
def test_ids_cosmos_would_refuse_are_refused(store: DocumentStore, doc: dict[str, Any]) -> None:
    with pytest.raises(BadInput):
        store.create(C, A, doc)


@pytest.mark.parametrize("ttl", [0, -2, 1.5, "60", True])
def test_a_malformed_ttl_is_refused(store: DocumentStore, ttl: object) -> None:
    with pytest.raises(BadInput):
        store.create(C, A, {"id": "i1", "ttl": ttl})


# --- queries ---------------------------------------------------------------------------

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

SEED: list[dict[str, Any]] = [
    {
        "id": "a",
        "severity": "critical",
        "count": 1,
        "seen": iso(T0.replace(hour=8)),
        "services": ["api", "db"],
        "open": True,
        "owner": None,
    },
    {
        "id": "b",
        "severity": "warning",
        "count": 3,
        "seen": iso(T0.replace(hour=10)),
        "services": ["db"],
        "open": False,
        "owner": "ann",
    },
    {
        "id": "c",
        "severity": "critical",
        "count": 5.5,
        "seen": iso(T0.replace(hour=12)),
        "services": ["web"],
        "open": True,
    },
    # Same values as other types: a string "3", a string "db" where lists are.
    {"id": "d", "severity": "info", "count": "3", "seen": "2024", "services": "db", "open": 1},
]


@pytest.fixture
def seeded(store: DocumentStore) -> DocumentStore:
    for doc in SEED:
        store.create(C, A, doc)
    store.create(C, B, {"id": "other", "severity": "critical", "count": 1, "services": ["db"]})
    return store


FILTERS: list[tuple[list[Filter], set[str]]] = [
    ([Filter("severity", "=", "critical")], {"a", "c"}),
    ([Filter("severity", "!=", "critical")], {"b", "d"}),
    ([Filter("count", "=", 3)], {"b"}),
    ([Filter("count", "!=", 3)], {"a", "c"}),
    ([Filter("count", "<", 3)], {"a"}),
    ([Filter("count", "<=", 3)], {"a", "b"}),
    ([Filter("count", ">", 3)], {"c"}),
    ([Filter("count", ">=", 3)], {"b", "c"}),
    ([Filter("count", ">", 1.5)], {"b", "c"}),
    ([Filter("count", "=", "3")], {"d"}),
    ([Filter("seen", ">=", iso(T0))], {"b", "c"}),
    ([Filter("seen", "<", iso(T0))], {"a", "d"}),
    ([Filter("seen", ">", T0)], {"c"}),
    ([Filter("seen", "<=", T0), Filter("seen", ">", "2024-05")], {"a", "b"}),
    ([Filter("services", "contains", "db")], {"a", "b"}),
    ([Filter("services", "contains", "web")], {"c"}),
    ([Filter("services", "contains", "nothing")], set()),
    ([Filter("open", "=", True)], {"a", "c"}),
    ([Filter("open", "!=", True)], {"b"}),
    ([Filter("owner", "=", None)], {"a"}),
    ([Filter("owner", "!=", None)], {"b"}),
    ([Filter("missing", "=", "x")], set()),
    ([Filter("severity", "=", "critical"), Filter("services", "contains", "db")], {"a"}),
    ([], {"a", "b", "c", "d"}),
]


@pytest.mark.parametrize(("filters", "expected"), FILTERS, ids=[str(f) for f, _ in FILTERS])
def test_filters_match_as_in_cosmos(
    seeded: DocumentStore, filters: list[Filter], expected: set[str]
) -> None:
    assert {d["id"] for d in seeded.query(C, A, filters)} == expected


def test_order_by_limit_and_descending(seeded: DocumentStore) -> None:
    critical_or_warning = [Filter("severity", "!=", "info")]

    def ids(**kwargs: Any) -> list[str]:
        return [d["id"] for d in seeded.query(C, A, critical_or_warning, **kwargs)]

    assert ids(order_by="seen") == ["a", "b", "c"]
    assert ids(order_by="seen", descending=True) == ["c", "b", "a"]
    assert ids(order_by="seen", descending=True, limit=2) == ["c", "b"]
    assert ids(order_by="count", limit=1) == ["a"]
    assert len(ids(limit=2)) == 2
    assert ids(limit=0) == []
    assert [d["id"] for d in seeded.query(C, A, order_by="id", descending=True)] == [
        "d",
        "c",
        "b",
        "a",
    ]


@pytest.mark.parametrize(
    ("filters", "order_by"),
    [
        ([Filter("a.b", "=", 1)], None),
        ([Filter('x"]', "=", 1)], None),
        ([Filter("x", "like", 1)], None),  # type: ignore[arg-type]
        ([Filter("x", "=", [1])], None),
        ([Filter("x", "<", None)], None),
        ([], "seen desc"),
    ],
)
def test_unsafe_fields_and_values_are_refused(
    store: DocumentStore, filters: list[Filter], order_by: str | None
) -> None:
    with pytest.raises(BadInput):
        store.query(C, A, filters, order_by=order_by)


# --- time to live ----------------------------------------------------------------------


def test_ttl_documents_vanish_and_their_ids_are_free_again(store: DocumentStore) -> None:
    # A few seconds of life, and the wait counted from the first write: the
    # emulator opens a TLS connection per call, which takes long on a busy machine.
    ttl = 4
    started = time.monotonic()
    store.create(C, A, {"id": "short", "ttl": ttl, "services": ["api"]})
    store.upsert(C, A, {"id": "upserted", "ttl": ttl})
    renewed = store.create(C, A, {"id": "renewed", "ttl": ttl})
    store.replace(C, A, {"id": "renewed"}, etag=renewed["_etag"])  # no ttl: kept for good
    store.create(C, A, {"id": "forever", "ttl": -1})
    store.create(C, A, {"id": "plain"})
    assert store.get(C, A, "short") is not None
    everything = {"short", "upserted", "renewed", "forever", "plain"}
    assert {d["id"] for d in store.query(C, A)} == everything

    time.sleep(max(0.0, started + ttl + 1.1 - time.monotonic()))

    assert store.get(C, A, "short") is None
    assert store.get(C, A, "upserted") is None
    assert {d["id"] for d in store.query(C, A)} == {"renewed", "forever", "plain"}
    assert store.query(C, A, [Filter("services", "contains", "api")]) == []
    recreated = store.create(C, A, {"id": "short", "n": 2})
    assert store.get(C, A, "short") == recreated


# --- concurrency -----------------------------------------------------------------------

WRITERS = 20


def test_concurrent_updates_lose_nothing(store: DocumentStore) -> None:
    """All writers read the same version, then race to write it back.

    The barrier in ``mutate`` holds every writer until all have read, so 19 of
    the first 20 writes must be refused and retried: a store without a working
    compare-and-swap keeps only some of the items.
    """
    store.create(C, A, {"id": "incident", "items": []})
    all_read = threading.Barrier(WRITERS)
    calls = []

    def append(item: str) -> dict[str, Any] | None:
        first = True

        def mutate(doc: dict[str, Any]) -> dict[str, Any]:
            nonlocal first
            calls.append(item)
            if first:
                first = False
                all_read.wait(timeout=30)
            return {**doc, "items": [*doc["items"], item]}

        return update_with_retry(store, C, A, "incident", mutate)

    items = [f"alert-{n}" for n in range(WRITERS)]
    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(append, items))

    final = store.get(C, A, "incident")
    assert final is not None
    assert sorted(final["items"]) == sorted(items)
    assert all(r is not None and item in r["items"] for r, item in zip(results, items, strict=True))
    assert len(calls) >= 2 * WRITERS - 1  # the race really happened


def test_a_sqlite_store_dropped_without_close_closes_its_pooled_connections(
    tmp_path: Path,
) -> None:
    import gc
    import sqlite3
    import warnings

    store = SqliteStore(tmp_path / "dropped.sqlite3")
    store.query(Container.INCIDENTS, "acme")  # leaves a connection in the pool
    (pooled,) = store._idle
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del store
        gc.collect()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        pooled.execute("SELECT 1")
