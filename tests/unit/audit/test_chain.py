"""The pure core: canonical hashing and the judgement of one stored record."""

from __future__ import annotations

from typing import Any

from shared.audit.chain import (
    GENESIS,
    Reason,
    canonical,
    judge,
    link,
    record_hash,
    record_id,
)

CONTENT = {"tenantId": "acme", "actor": "a", "detail": {"w": 1.5, "n": 2}}


def test_ids_sort_as_their_sequence_numbers() -> None:
    ids = [record_id(n) for n in (1, 2, 10, 100, 12345)]
    assert ids == sorted(ids)


def test_the_hash_ignores_key_order_the_stores_fields_and_integral_floats() -> None:
    doc = link(CONTENT, seq=1, prev_hash=GENESIS)
    as_read_back: dict[str, Any] = {
        "_etag": "e1",
        **{k: doc[k] for k in reversed(list(doc))},
        "detail": {"n": 2.0, "w": 1.5},  # Cosmos DB (JavaScript) has one number type
    }
    assert record_hash(as_read_back) == doc["hash"]
    assert b'"hash"' not in canonical(doc)


def test_every_content_change_changes_the_hash() -> None:
    doc = link(CONTENT, seq=1, prev_hash=GENESIS)
    for changed in (
        {**doc, "actor": "b"},
        {**doc, "detail": {"w": 1.5, "n": 3}},
        {**doc, "seq": 2},
        {**doc, "prev_hash": "1" * 64},
        {**doc, "extra": None},
    ):
        assert record_hash(changed) != doc["hash"]


def test_judge_names_each_way_a_record_breaks_the_chain() -> None:
    first = link(CONTENT, seq=1, prev_hash=GENESIS)
    second = link(CONTENT, seq=2, prev_hash=first["hash"])
    ok = {"later_exists": False, "head_seq": 2}

    assert judge(2, second, prev_hash=first["hash"], **ok) is None
    cases = [
        (judge(2, None, prev_hash=first["hash"], later_exists=True, head_seq=3), Reason.MISSING),
        (judge(2, None, prev_hash=first["hash"], **ok), Reason.HEAD_BEYOND),
        (judge(2, first, prev_hash=first["hash"], **ok), Reason.REORDERED),
        (judge(2, {**second, "actor": "b"}, prev_hash=first["hash"], **ok), Reason.EDITED),
        (judge(2, second, prev_hash=GENESIS, **ok), Reason.BROKEN_LINK),
        (judge(2, second, prev_hash=first["hash"], head_hash="f" * 64, **ok), Reason.EDITED),
        (judge(2, second, prev_hash=first["hash"], claimed_by="audit-x", **ok), Reason.REORDERED),
    ]
    for broken, reason in cases:
        assert broken is not None
        assert (broken.seq, broken.reason) == (2, reason)
