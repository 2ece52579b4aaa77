"""Runbook loading (front matter), the local index, and matching runbooks to hypotheses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.adapters.search.local_index import LocalRunbookIndex
from shared.errors import BadInput
from shared.models.hypothesis import (
    FACTOR_NAMES,
    Evidence,
    EvidenceKind,
    FactorScore,
    Hypothesis,
    RootCause,
)
from shared.ports.search import RunbookQuery, SearchIndex
from shared.runbooks.loader import (
    Runbook,
    RunbookAction,
    actions_from,
    actions_json,
    load_runbooks,
    parse_runbook,
)
from shared.runbooks.match import match_runbooks
from shared.scoring.engine import MODEL_VERSION
from tests.fixtures.intelligence.builder import RUNBOOKS


def test_loads_the_fixture_corpus_sorted_by_id() -> None:
    books = load_runbooks(RUNBOOKS)
    assert [b.id for b in books] == sorted(b.id for b in books)
    disk = next(b for b in books if b.id == "rb-free-disk")
    assert disk.categories == ("disk_exhaustion", "node_failure")
    assert disk.services == ("*",)
    assert disk.body.startswith("# Free disk space")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# no front matter\n", "front matter: must start"),
        ("---\nid: x\n", "no closing"),
        ("---\nid: [unclosed\n---\n", "not valid YAML"),
        ("---\n- a\n---\n", "must be a mapping"),
        ("---\ntitle: t\n---\n", "field id"),
        ("---\nid: x\ntitle: t\ncategories: 3\n---\n", "field categories"),
    ],
)
def test_bad_runbooks_name_file_and_field(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=rf"rb-bad\.md: .*{message}"):
        parse_runbook(text, origin="rb-bad.md")


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text("---\nid: same\ntitle: t\n---\n")
    with pytest.raises(BadInput, match=r"b\.md: field id: duplicate"):
        load_runbooks(tmp_path)
    with pytest.raises(BadInput):
        load_runbooks(tmp_path / "missing")


def test_index_prefers_category_then_service_then_text() -> None:
    index: SearchIndex = LocalRunbookIndex(load_runbooks(RUNBOOKS))
    hits = index.search(RunbookQuery(text="filesystem full", categories=("disk_exhaustion",)))
    assert hits[0].id == "rb-free-disk"
    assert hits == sorted(hits, key=lambda h: -h.score)
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    # a runbook written for one service only fits that service
    for_payments = index.search(
        RunbookQuery(text="release", categories=("bad_deployment",), services=("payments",)), top=5
    )
    for_web = index.search(
        RunbookQuery(text="release", categories=("bad_deployment",), services=("web",)), top=5
    )
    score = {h.id: h.score for h in for_payments}
    score_web = {h.id: h.score for h in for_web}
    assert score["rb-payments-only"] > score_web["rb-payments-only"]
    assert for_web[0].id == "rb-rollback"
    # text alone still finds the right one
    assert index.search(RunbookQuery(text="circuit breaker fallback"), top=1)[0].id == (
        "rb-isolate-dependency"
    )
    assert LocalRunbookIndex([]).search(RunbookQuery(text="x")) == []


def hypothesis(rank: int, category: RootCause, target: str, confidence: float) -> dict[str, object]:
    factor = FactorScore(value=confidence, reason="r", uncertainty=0.0)
    return Hypothesis(
        rank=rank,
        category=category,
        target=target,
        title=f"{category.value} of {target}",
        confidence=confidence,
        confidence_range=(confidence, confidence),
        factors=dict.fromkeys(FACTOR_NAMES, factor),
        evidence=(Evidence(kind=EvidenceKind.METRIC, summary="disk full", strength=1.0),),
        model_version=MODEL_VERSION,
    ).model_dump(mode="json")


def test_runbooks_follow_the_leading_hypothesis_and_keep_the_runner_up() -> None:
    index = LocalRunbookIndex(load_runbooks(RUNBOOKS))
    matched = match_runbooks(
        [
            hypothesis(1, RootCause.DISK_EXHAUSTION, "h4", 0.8),
            hypothesis(2, RootCause.DEPENDENCY_FAILURE, "db", 0.5),
        ],
        index=index,
    )
    assert [m["id"] for m in matched][:2] == ["rb-free-disk", "rb-isolate-dependency"]
    assert len(matched) == 3
    assert all(set(m) == {"id", "title", "score", "categories", "actions"} for m in matched)
    assert matched[0]["categories"] == ["disk_exhaustion", "node_failure"]
    swapped = match_runbooks(
        [
            hypothesis(1, RootCause.DEPENDENCY_FAILURE, "db", 0.8),
            hypothesis(2, RootCause.DISK_EXHAUSTION, "h4", 0.5),
        ],
        index=index,
    )
    assert swapped[0]["id"] == "rb-isolate-dependency"
    assert match_runbooks([], index=index) == []


def test_runbook_model_service_scope() -> None:
    book = Runbook(id="x", title="t", services=("a",))
    assert book.applies_to("a") and not book.applies_to("b")


WITH_ACTIONS = """\
---
id: rb-scale
title: Scale out a saturated service
categories: [cpu_saturation, traffic_surge]
actions:
  - {action: scale_replicas, target: "{namespace}/{deployment}", params: {delta: 2}}
  - {action: restart_pod, target: "{target}"}
---
Add replicas when CPU is saturated.
"""


def test_local_index_hits_carry_the_runbooks_categories_and_actions() -> None:
    book = parse_runbook(WITH_ACTIONS, origin="rb-scale.md")
    index = LocalRunbookIndex([book, *load_runbooks(RUNBOOKS)])
    hit = index.search(RunbookQuery(text="cpu", categories=("traffic_surge",)), top=1)[0]
    assert hit.id == "rb-scale"
    assert hit.categories == ("cpu_saturation", "traffic_surge")
    assert hit.actions == book.actions and len(hit.actions) == 2
    # what the analysis stores reads back as the same actions
    matched = match_runbooks([hypothesis(1, RootCause.TRAFFIC_SURGE, "web", 0.8)], index=index)
    stored = next(m for m in matched if m["id"] == "rb-scale")
    assert actions_from(stored["actions"], origin="test") == book.actions
    assert actions_from(actions_json(book.actions), origin="test") == book.actions


def test_stored_actions_keep_the_valid_and_drop_the_rest_with_a_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = {"action": "restart_pod", "target": "{target}"}
    items = [
        good,
        {"action": "Restart Pod", "target": "{target}"},
        {"action": "restart_pod", "target": "{alert_text}"},
        {"action": "scale_replicas", "target": "x", "params": {"delta": {"nested": 1}}},
        {"target": "{target}"},
        42,
    ]
    with caplog.at_level("WARNING"):
        kept = actions_from(json.dumps(items), origin="index runbooks, runbook rb-x")
    assert kept == (RunbookAction(action="restart_pod", target="{target}"),)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == len(items) - 1
    assert all(line.startswith("index runbooks, runbook rb-x: action ") for line in lines)
    assert any("unknown placeholder" in line for line in lines)
    caplog.clear()
    with caplog.at_level("WARNING"):
        for malformed in ("{not json", '{"action": "restart_pod"}'):
            assert actions_from(malformed, origin="rb-y") == ()
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["rb-y", "rb-y"]
    assert actions_from(None, origin="rb-z") == () == actions_from("[]", origin="rb-z")
