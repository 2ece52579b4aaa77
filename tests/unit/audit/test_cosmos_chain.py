"""One chain on the Cosmos-protocol server: the same appends and checks as on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.adapters.store.cosmos import CosmosStore
from shared.audit import Reason, append, export, verify
from shared.audit.chain import record_id
from shared.ports.store import Container
from tests.fixtures.servers import COSMOS_KEY
from tests.unit.audit.support import record

pytestmark = pytest.mark.cosmos


@pytest.fixture
def cosmos(cosmos_server: str) -> Iterator[CosmosStore]:
    store = CosmosStore(
        cosmos_server,
        COSMOS_KEY,
        f"audit-{uuid.uuid4().hex[:12]}",
        verify_tls=False,
        create_if_missing=True,
    )
    yield store
    store.close()


def test_a_concurrent_chain_verifies_and_an_edit_shows(cosmos: CosmosStore) -> None:
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda n: append(cosmos, "acme", record(n)), range(1, 7)))

    result = verify(cosmos, "acme")
    assert (result.ok, result.count, result.head_seq) == (True, 6, 6)
    assert [d["seq"] for d in export(cosmos, "acme")] == list(range(1, 7))

    fourth = cosmos.get(Container.AUDIT, "acme", record_id(4))
    assert fourth is not None
    cosmos.upsert(Container.AUDIT, "acme", {**fourth, "actor": "slack:UMALLORY"})
    broken = verify(cosmos, "acme").first_broken
    assert broken is not None
    assert (broken.seq, broken.reason) == (4, Reason.EDITED)
