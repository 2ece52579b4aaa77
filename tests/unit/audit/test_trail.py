"""The audit chain over the embedded store: appends link up, tampering shows."""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from pathlib import Path

import pytest

from shared.adapters.store.sqlite import SqliteStore
from shared.audit import GENESIS, Reason, append, export, verify
from shared.audit import trail as trail_module
from shared.audit.chain import HEAD_ID, record_hash, record_id
from shared.ports.store import Container
from tests.unit.audit.support import body, record, set_body, sql

N = 10


def chain(store: SqliteStore, n: int = N, tenant: str = "acme") -> None:
    for i in range(1, n + 1):
        append(store, tenant, record(i, tenant=tenant))


def path_of(store: SqliteStore) -> Path:
    return store._path


def test_appends_are_numbered_linked_and_verify(store: SqliteStore) -> None:
    stored = [append(store, "acme", record(i)) for i in range(1, N + 1)]

    assert [r.seq for r in stored] == list(range(1, N + 1))
    assert [r.id for r in stored] == [record_id(i) for i in range(1, N + 1)]
    assert stored[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(stored):
        assert after.prev_hash == before.hash
    docs = store.query(Container.AUDIT, "acme", order_by="seq")
    assert all(doc["hash"] == record_hash(doc) for doc in docs)
    assert [doc["detail"]["n"] for doc in docs] == list(range(1, N + 1))  # content kept
    result = verify(store, "acme")
    assert (result.ok, result.count, result.head_seq, result.unchained) == (True, N, N, 0)
    assert result.summary() == f"audit chain of acme intact: {N} records"


def test_an_empty_trail_verifies(store: SqliteStore) -> None:
    result = verify(store, "acme")
    assert (result.ok, result.count, result.head_seq) == (True, 0, 0)


EDITS = {
    "at": ("'$.at'", "'2020-01-01T00:00:00.000000Z'", Reason.EDITED),
    "actor": ("'$.actor'", "'slack:UMALLORY'", Reason.EDITED),
    "action": ("'$.action'", "'feedback.not_it'", Reason.EDITED),
    "subject": ("'$.subject'", "'incident:INC-OTHER'", Reason.EDITED),
    "detail": ("'$.detail.rank'", "2", Reason.EDITED),
    "detail (added field)": ("'$.detail.extra'", "'x'", Reason.EDITED),
    "tenantId": ("'$.tenantId'", "'globex'", Reason.EDITED),
    "key": ("'$.key'", "'k'", Reason.EDITED),
    "prev_hash": ("'$.prev_hash'", "'" + "1" * 64 + "'", Reason.EDITED),
    "hash": ("'$.hash'", "'" + "2" * 64 + "'", Reason.EDITED),
    "seq": ("'$.seq'", "1000", Reason.REORDERED),
    "id": ("'$.id'", "'audit-forged'", Reason.REORDERED),
}


@pytest.mark.parametrize("position", [1, N // 2, N])
@pytest.mark.parametrize("field", list(EDITS))
def test_editing_any_field_of_any_record_names_that_record(
    store: SqliteStore, field: str, position: int
) -> None:
    chain(store)
    path, value, reason = EDITS[field]
    sql(
        path_of(store),
        f"UPDATE audit SET body = json_set(body, {path}, {value}) WHERE tenant_id = ? AND id = ?",
        "acme",
        record_id(position),
    )

    result = verify(store, "acme")

    assert not result.ok
    assert result.first_broken is not None
    assert (result.first_broken.seq, result.first_broken.id) == (position, record_id(position))
    assert result.first_broken.reason is reason
    assert result.count == position - 1


def test_deleting_a_middle_record_is_a_gap(store: SqliteStore) -> None:
    chain(store)
    assert store.delete(Container.AUDIT, "acme", record_id(4))

    broken = verify(store, "acme").first_broken

    assert broken is not None
    assert (broken.seq, broken.id, broken.reason) == (4, record_id(4), Reason.MISSING)


@pytest.mark.parametrize("cut", [1, 3])
def test_deleting_the_newest_records_is_seen_through_the_head(store: SqliteStore, cut: int) -> None:
    chain(store)
    for seq in range(N - cut + 1, N + 1):
        sql(path_of(store), "DELETE FROM audit WHERE id = ?", record_id(seq))

    result = verify(store, "acme")

    assert result.first_broken is not None
    first_gone = N - cut + 1
    assert (result.first_broken.seq, result.first_broken.reason) == (first_gone, Reason.HEAD_BEYOND)
    assert f"seq {N}" in result.first_broken.detail
    assert result.count == N - cut


def test_swapping_two_stored_documents_is_a_reorder(store: SqliteStore) -> None:
    chain(store)
    path = path_of(store)
    third, seventh = body(path, "acme", record_id(3)), body(path, "acme", record_id(7))
    set_body(path, "acme", record_id(3), seventh)
    set_body(path, "acme", record_id(7), third)

    broken = verify(store, "acme").first_broken

    assert broken is not None
    assert (broken.seq, broken.id, broken.reason) == (3, record_id(3), Reason.REORDERED)


def test_swapping_two_records_contents_is_an_edit_of_the_first(store: SqliteStore) -> None:
    chain(store)
    path = path_of(store)
    third = json.loads(body(path, "acme", record_id(3)))
    seventh = json.loads(body(path, "acme", record_id(7)))
    content = ("at", "actor", "action", "subject", "detail")
    swapped_third = {**third, **{k: seventh[k] for k in content}}
    swapped_seventh = {**seventh, **{k: third[k] for k in content}}
    set_body(path, "acme", record_id(3), json.dumps(swapped_third))
    set_body(path, "acme", record_id(7), json.dumps(swapped_seventh))

    broken = verify(store, "acme").first_broken

    assert broken is not None
    assert (broken.seq, broken.reason) == (3, Reason.EDITED)


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(store: SqliteStore) -> None:
    chain(store)
    path = path_of(store)
    forged = {**json.loads(body(path, "acme", record_id(4))), "actor": "slack:UMALLORY"}
    set_body(path, "acme", record_id(4), json.dumps({**forged, "hash": record_hash(forged)}))

    broken = verify(store, "acme").first_broken

    assert broken is not None
    assert (broken.seq, broken.reason) == (5, Reason.BROKEN_LINK)


def test_the_newest_record_rewritten_with_its_hash_is_caught_by_the_head(
    store: SqliteStore,
) -> None:
    chain(store)
    path = path_of(store)
    forged = {**json.loads(body(path, "acme", record_id(N))), "actor": "slack:UMALLORY"}
    set_body(path, "acme", record_id(N), json.dumps({**forged, "hash": record_hash(forged)}))

    broken = verify(store, "acme").first_broken

    assert broken is not None
    assert (broken.seq, broken.reason) == (N, Reason.EDITED)
    assert "head" in broken.detail


def test_a_forged_record_claiming_a_taken_seq_is_named(store: SqliteStore) -> None:
    chain(store)
    genuine = store.get(Container.AUDIT, "acme", record_id(6))
    assert genuine is not None
    store.create(Container.AUDIT, "acme", {**genuine, "id": "audit-extra", "actor": "x"})

    broken = verify(store, "acme").first_broken

    assert broken is not None
    assert (broken.seq, broken.id, broken.reason) == (6, "audit-extra", Reason.REORDERED)


def test_concurrent_appends_make_one_gapless_chain(store: SqliteStore) -> None:
    threads, each = 8, 50
    start = threading.Barrier(threads)
    seqs: list[int] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        start.wait()
        for i in range(each):
            stored = append(store, "acme", record(w * 1000 + i, actor=f"writer-{w}"))
            assert stored.seq is not None
            with lock:
                seqs.append(stored.seq)

    workers = [threading.Thread(target=writer, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert sorted(seqs) == list(range(1, threads * each + 1))
    result = verify(store, "acme")
    assert (result.ok, result.count, result.head_seq) == (True, threads * each, threads * each)
    actors = Counter(doc["actor"] for doc in export(store, "acme"))
    assert actors == {f"writer-{w}": each for w in range(threads)}


def test_tenants_have_separate_chains(store: SqliteStore) -> None:
    for i in range(1, 6):
        append(store, "acme", record(i, tenant="acme"))
        append(store, "globex", record(i, tenant="globex"))
    append(store, "globex", record(6, tenant="globex"))

    assert [d["seq"] for d in export(store, "acme")] == [1, 2, 3, 4, 5]
    assert [d["seq"] for d in export(store, "globex")] == [1, 2, 3, 4, 5, 6]
    assert {d["tenantId"] for d in export(store, "globex")} == {"globex"}
    store.delete(Container.AUDIT, "acme", record_id(2))

    assert verify(store, "acme").first_broken is not None
    assert verify(store, "globex").ok


def test_a_head_left_behind_or_lost_only_costs_a_lookup(store: SqliteStore) -> None:
    chain(store, 5)
    third = store.get(Container.AUDIT, "acme", record_id(3))
    assert third is not None
    store.upsert(
        Container.DEDUP, "acme", {"id": HEAD_ID, "seq": 3, "hash": third["hash"]}
    )  # a writer stopped before moving the head
    assert append(store, "acme", record(6)).seq == 6
    store.delete(Container.DEDUP, "acme", HEAD_ID)
    assert append(store, "acme", record(7)).seq == 7

    result = verify(store, "acme")
    assert (result.ok, result.count, result.head_seq) == (True, 7, 7)


def test_an_idempotency_key_appends_once(store: SqliteStore) -> None:
    first = append(store, "acme", record(1), key="work-1")
    again = append(store, "acme", record(1), key="work-1")
    other = append(store, "acme", record(2), key="work-2")

    assert (first.seq, again.seq, other.seq) == (1, 1, 2)
    assert again == first
    assert verify(store, "acme").count == 2


def test_records_from_before_the_chain_are_counted_and_exported_first(
    store: SqliteStore,
) -> None:
    store.create(Container.AUDIT, "acme", record(0).to_doc())  # written ad hoc, no seq
    chain(store, 3)

    result = verify(store, "acme")
    assert (result.ok, result.count, result.unchained) == (True, 3, 1)
    assert "1 unchained" in result.summary()
    assert [d["id"] for d in export(store, "acme")] == [
        "audit-draft-0",
        *(record_id(i) for i in (1, 2, 3)),
    ]


def test_export_pages_through_long_chains_oldest_first(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trail_module, "_PAGE", 4)
    chain(store, 11)

    exported = list(export(store, "acme"))

    assert [d["seq"] for d in exported] == list(range(1, 12))
    assert all("_etag" not in d for d in exported)
    assert verify(store, "acme").count == 11
