"""Replays: the SPEC output shape, the answer, renaming, timing, and the backtest."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import time
from pathlib import Path

import pytest

from shared.errors import BadInput
from shared.replay.backtest import backtest, find_bundles
from shared.replay.bundle import load_bundle
from shared.replay.pipeline import analyze, context_request, replay_bundle, runbook_index
from shared.scoring.engine import MODEL_VERSION
from tests.fixtures.intelligence.builder import (
    RUNBOOKS,
    BundleSpec,
    disk_full,
    more_incidents,
    payments_release,
    write_bundle,
)

HYPOTHESIS_KEYS = {
    "rank",
    "category",
    "target",
    "title",
    "confidence",
    "confidence_range",
    "factors",
    "evidence",
}


def test_replay_prints_exactly_the_spec_shape(tmp_path: Path) -> None:
    out = replay_bundle(write_bundle(tmp_path, payments_release()))
    assert set(out) == {"scenario", "incident_id", "hypotheses", "runbooks", "similar_incidents"}
    assert out["scenario"] == "payments-release"
    assert 1 <= len(out["hypotheses"]) <= 3
    for rank, hyp in enumerate(out["hypotheses"], start=1):
        assert set(hyp) == HYPOTHESIS_KEYS
        assert hyp["rank"] == rank
        low, high = hyp["confidence_range"]
        assert 0 <= low <= hyp["confidence"] <= high <= 1
        assert set(hyp["factors"]) == {
            "signal_strength",
            "temporal_correlation",
            "precedent_frequency",
            "evidence_quality",
            "human_validation",
        }
        assert all({"kind", "summary"} <= set(e) for e in hyp["evidence"])
    assert all(set(r) == {"id", "title", "score"} for r in out["runbooks"])
    assert all(set(s) == {"id", "score"} for s in out["similar_incidents"])
    json.dumps(out)  # printable as JSON


def test_replay_finds_the_release_despite_the_distractors(tmp_path: Path) -> None:
    out = replay_bundle(write_bundle(tmp_path, payments_release()))
    first = out["hypotheses"][0]
    assert (first["category"], first["target"]) == ("bad_deployment", "payments")
    assert "v2.4.0" in first["title"]
    assert any(e["kind"] == "change" for e in first["evidence"])
    assert all(h["target"] != "search" for h in out["hypotheses"])
    assert out["runbooks"][0]["id"] == "rb-rollback"
    assert out["similar_incidents"][0]["id"] == "INC-1"


def test_replay_finds_the_full_disk_under_the_database(tmp_path: Path) -> None:
    out = replay_bundle(write_bundle(tmp_path, disk_full()))
    assert (out["hypotheses"][0]["category"], out["hypotheses"][0]["target"]) == (
        "disk_exhaustion",
        "h4",
    )
    assert out["runbooks"][0]["id"] == "rb-free-disk"


@pytest.mark.parametrize("spec", more_incidents(), ids=lambda s: s.id)
def test_replay_names_each_kind_of_cause(tmp_path: Path, spec: BundleSpec) -> None:
    out = replay_bundle(write_bundle(tmp_path, spec))
    first = out["hypotheses"][0]
    assert spec.expected is not None
    assert (first["category"], first["target"]) == (
        spec.expected["category"],
        spec.expected["target"],
    )
    # the idle release beside the incident is never blamed
    assert all(h["target"] != "search" for h in out["hypotheses"])


def rename(bundle: Path, mapping: dict[str, str]) -> None:
    pattern = re.compile(
        r"(?<![\w-])("
        + "|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True))
        + r")(?![\w-])"
    )
    for path in bundle.iterdir():
        path.write_text(pattern.sub(lambda m: mapping[m.group(1)], path.read_text()))


def test_the_answer_follows_renamed_services_and_hosts(tmp_path: Path) -> None:
    original = replay_bundle(write_bundle(tmp_path / "a", disk_full()))
    bundle = write_bundle(tmp_path / "b", disk_full())
    rename(
        bundle,
        {
            "orders-db": "ledger",
            "payments": "billing-core",
            "h4": "ip-10-1-2-3",
            "dns": "resolv",
            "web": "frontdoor",
        },
    )
    renamed = replay_bundle(bundle)
    assert [(h["category"], h["confidence"]) for h in renamed["hypotheses"]] == [
        (h["category"], h["confidence"]) for h in original["hypotheses"]
    ]
    assert renamed["hypotheses"][0]["target"] == "ip-10-1-2-3"


def test_replay_is_deterministic_and_uses_alert_time_not_the_clock(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, payments_release())
    assert replay_bundle(bundle) == replay_bundle(bundle)


def test_explicit_runbooks_folder_wins_and_must_exist(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "kit", payments_release(), with_runbooks=False)
    assert replay_bundle(bundle)["runbooks"] == []  # no folder above: nothing to match
    assert replay_bundle(bundle, RUNBOOKS)["runbooks"][0]["id"] == "rb-rollback"
    with pytest.raises(BadInput, match="not a runbook folder"):
        replay_bundle(bundle, tmp_path / "nowhere")


def test_analyze_exposes_every_step_result_as_json(tmp_path: Path) -> None:
    bundle = load_bundle(write_bundle(tmp_path, payments_release()))
    result = analyze(
        context_request(bundle),
        metrics=bundle.metrics(),
        index=runbook_index(RUNBOOKS),
        llm_candidates=[
            {
                "category": "cpu_saturation",
                "target": "search",
                "title": "LLM guess",
                "origin": "llm",
                "evidence": [],
            }
        ],
    )
    assert set(result) == {"context", "candidates", "hypotheses", "runbooks"}
    assert json.loads(json.dumps(result)) == result
    assert any(c["origin"] == "llm" for c in result["candidates"])
    assert result["hypotheses"][0]["model_version"] == MODEL_VERSION


def test_one_replay_is_fast(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, payments_release())
    replay_bundle(bundle)  # start-up: imports, runbook index
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        replay_bundle(bundle)
        timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 1.5  # loose bound; the 300 ms target is benchmarked


def test_backtest_scores_a_folder_of_bundles(tmp_path: Path) -> None:
    write_bundle(tmp_path, payments_release())
    write_bundle(tmp_path, disk_full())
    broken = write_bundle(
        tmp_path, payments_release().__class__(**{**payments_release().__dict__, "id": "broken"})
    )
    (broken / "history.json").write_text("not json")
    wrong = write_bundle(
        tmp_path, disk_full().__class__(**{**disk_full().__dict__, "id": "wrong-truth"})
    )
    (wrong / "expected.json").write_text(
        json.dumps({"category": "dns_failure", "target": "dns", "runbook": "rb-nope"})
    )
    assert [p.name for p in find_bundles(tmp_path)] == [
        "broken",
        "db-disk-full",
        "payments-release",
        "wrong-truth",
    ]
    result = backtest(tmp_path)
    assert result["bundles"] == 4 and result["judged"] == 4
    assert [e["bundle"] for e in result["errors"]] == ["broken"]
    assert result["ac_at_1"] == 0.5 and result["ac_at_3"] == 0.5
    assert result["category_ac_at_1"] == 0.5
    assert result["runbook_hit_at_3"] == 0.5
    assert result["per_category"]["disk_exhaustion"] == {
        "cases": 1,
        "at_1": 1,
        "at_3": 1,
        "runbook_at_3": 1,
    }
    assert result["timings"]["median_replay_ms"] > 0
    # a single bundle folder, and an incidents/ sub-folder, are found too
    assert find_bundles(tmp_path / "db-disk-full") == [tmp_path / "db-disk-full"]
    nested = tmp_path / "kit"
    shutil.copytree(tmp_path / "db-disk-full", nested / "incidents" / "x")
    assert find_bundles(nested) == [nested / "incidents" / "x"]
