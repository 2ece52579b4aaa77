"""The store layout: a state document with the newest history, older history in chunks."""

from __future__ import annotations

from typing import Any

from devhost.archive import SPILL, InstanceArchive, Saved, chunk_id
from shared.ports.store import Container, Filter
from tests.fixtures.devhost_app.memory_store import MemoryStore

PARTITION = "_taskhub:T"


def new_doc(**fields: Any) -> dict[str, Any]:
    return {
        "id": "i",
        "kind": "instance",
        "executionId": "e1",
        "active": True,
        "createdTime": "2024-01-01T00:00:00Z",
        "chunks": 0,
        "history": [],
        "leaves": [],
        **fields,
    }


def chunks(store: MemoryStore) -> list[dict[str, Any]]:
    found = store.query(Container.ORCHESTRATIONS, PARTITION, [Filter("kind", "=", "history")])
    return sorted(found, key=lambda c: (c["executionId"], c["seq"]))


def test_short_histories_stay_in_the_state_and_long_ones_spill_into_chunks() -> None:
    store = MemoryStore()
    archive = InstanceArchive(store, PARTITION)
    doc, saved = new_doc(), Saved()
    doc["history"] += [{"n": i} for i in range(SPILL - 2)]
    doc["leaves"].append({"type": 0})
    archive.save(doc, saved)
    assert chunks(store) == [] and store.writes == 1  # one write while short
    doc["history"].append({"n": "spill"})
    archive.save(doc, saved)
    assert [len(c["events"]) for c in chunks(store)] == [SPILL - 1]
    assert saved == Saved(SPILL - 1, 1)
    doc["history"].append({"n": "tail"})
    archive.save(doc, saved)
    assert len(chunks(store)) == 1
    state = archive.state("i")
    assert state is not None and "history" not in state and state["chunks"] == 1
    assert state["tailEvents"] == [{"n": "tail"}]
    loaded, loaded_saved = archive.load(state)
    assert loaded["history"] == doc["history"] and loaded["leaves"] == [{"type": 0}]
    assert "tailEvents" not in loaded and loaded_saved == saved
    assert [s["id"] for s in archive.active()] == ["i"]


def test_a_chunk_the_state_does_not_count_is_ignored() -> None:
    store = MemoryStore()
    archive = InstanceArchive(store, PARTITION)
    doc = new_doc(history=[{"n": 1}])
    archive.save(doc, Saved())
    orphan = {
        "id": chunk_id("i", "e1", 0),
        "kind": "history",
        "instanceId": "i",
        "executionId": "e1",
        "seq": 0,
        "events": [{"n": "lost"}],
        "leaves": [],
    }
    store.upsert(Container.ORCHESTRATIONS, PARTITION, orphan)  # written before a crash
    state = archive.state("i")
    assert state is not None
    assert archive.load(state)[0]["history"] == [{"n": 1}]


def test_delete_and_drop_execution_remove_chunks() -> None:
    store = MemoryStore()
    archive = InstanceArchive(store, PARTITION)
    long_history = [{"n": i} for i in range(SPILL)]
    archive.save(new_doc(history=list(long_history)), Saved())
    archive.save(new_doc(executionId="e2", history=list(long_history)), Saved())
    assert [c["executionId"] for c in chunks(store)] == ["e1", "e2"]
    archive.drop_execution("i", "e1")
    assert [c["executionId"] for c in chunks(store)] == ["e2"]
    assert archive.delete("i")
    assert chunks(store) == [] and archive.state("i") is None
