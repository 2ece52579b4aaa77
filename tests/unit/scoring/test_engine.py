"""The confidence engine: properties that hold for any evidence, and its inputs."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import BadInput
from shared.hypotheses.merge import Merged
from shared.models.analysis import (
    NO_METRICS_SOURCE,
    ContextSnapshot,
    Neighbourhood,
    Precedent,
    SourceStatus,
)
from shared.models.hypothesis import (
    FACTOR_NAMES,
    Candidate,
    Evidence,
    EvidenceKind,
    Hypothesis,
    RootCause,
)
from shared.scoring.engine import (
    CEILING,
    DEFAULT_WEIGHTS,
    FACTOR_COMPATIBLE,
    MODEL_VERSION,
    SHARPNESS,
    UNSEEN_SCORE,
    Z_CAP,
    Acceptance,
    calibrate,
    calibrated,
    compete,
    evidence_quality,
    normalise_weights,
    rank_hypotheses,
    score,
    score_candidates,
    signal_strength,
    soft_or,
    standout,
    temporal_correlation,
    uncovered_share,
)

NOW = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)

evidence_items = st.builds(
    Evidence,
    kind=st.sampled_from(list(EvidenceKind)),
    summary=st.sampled_from(["a", "b", "c"]),
    source=st.sampled_from(["", "q1", "chg-1"]),
    strength=st.floats(0.0, 1.0),
)
evidence_lists = st.lists(evidence_items, max_size=8)
coverages = st.floats(0.0, 1.0)
weight_maps = st.fixed_dictionaries({n: st.floats(0.0, 10.0) for n in FACTOR_NAMES}).filter(
    lambda w: sum(w.values()) > 1e-6
)


def snapshot(
    *, precedents: tuple[Precedent, ...] = (), history: int = 0, coverage_ok: bool = True
) -> ContextSnapshot:
    return ContextSnapshot(
        tenant_id="acme",
        incident_id="inc",
        now=NOW,
        started_at=NOW,
        precedents=precedents,
        history_size=history,
        sources=(
            SourceStatus(name="metrics:error_ratio", ok=True),
            SourceStatus(name="metrics:cpu", ok=coverage_ok, reason="" if coverage_ok else "down"),
        ),
    )


def candidate(
    evidence: list[Evidence], category: RootCause = RootCause.BAD_DEPLOYMENT
) -> Candidate:
    return Candidate(category=category, target="api", title="t", evidence=tuple(evidence))


def test_default_weights_are_the_documented_ones() -> None:
    assert DEFAULT_WEIGHTS == {
        "signal_strength": 0.25,
        "temporal_correlation": 0.20,
        "precedent_frequency": 0.20,
        "evidence_quality": 0.20,
        "human_validation": 0.15,
    }
    assert sum(DEFAULT_WEIGHTS.values()) == pytest.approx(1.0)


@given(weight_maps)
def test_tenant_weights_are_normalised_to_one(weights: dict[str, float]) -> None:
    resolved = normalise_weights(weights)
    assert sum(resolved.values()) == pytest.approx(1.0)
    assert all(w >= 0 for w in resolved.values())
    assert set(resolved) == set(FACTOR_NAMES)


@pytest.mark.parametrize(
    "weights", [{"bogus": 1.0}, {"signal_strength": -1.0}, dict.fromkeys(FACTOR_NAMES, 0.0)]
)
def test_bad_weights_are_refused(weights: dict[str, float]) -> None:
    with pytest.raises(BadInput):
        normalise_weights(weights)


@settings(max_examples=200)
@given(evidence_lists, weight_maps, st.booleans(), st.integers(0, 20))
def test_confidence_lies_in_its_range_within_unit_interval(
    evidence: list[Evidence], weights: dict[str, float], coverage_ok: bool, history: int
) -> None:
    snap = snapshot(coverage_ok=coverage_ok, history=history)
    hyp = score(
        Merged(candidate(evidence), ("detector",)),
        snap,
        weights=normalise_weights(weights),
        acceptance={},
    )
    low, high = hyp.confidence_range
    assert 0.0 <= low <= hyp.confidence <= high <= 1.0
    assert set(hyp.factors) == set(FACTOR_NAMES)
    assert all(0.0 <= f.value <= 1.0 and f.reason for f in hyp.factors.values())
    assert hyp.model_version == MODEL_VERSION


@settings(max_examples=200)
@given(evidence_lists, evidence_items, coverages)
def test_more_evidence_never_lowers_a_factor(
    evidence: list[Evidence], extra: Evidence, coverage: float
) -> None:
    for factor in (signal_strength, temporal_correlation, evidence_quality):
        before = factor(evidence, coverage).value
        after = factor([*evidence, extra], coverage).value
        assert after >= before - 1e-9, factor.__name__


@settings(max_examples=200)
@given(evidence_lists.filter(bool), st.data(), coverages)
def test_stronger_evidence_never_lowers_a_factor(
    evidence: list[Evidence], data: st.DataObject, coverage: float
) -> None:
    index = data.draw(st.integers(0, len(evidence) - 1))
    boosted = list(evidence)
    item = boosted[index]
    boosted[index] = item.model_copy(update={"strength": data.draw(st.floats(item.strength, 1.0))})
    for factor in (signal_strength, temporal_correlation, evidence_quality):
        assert factor(boosted, coverage).value >= factor(evidence, coverage).value - 1e-9


@given(st.lists(st.floats(0.0, 1.0), max_size=10))
def test_soft_or_is_bounded_by_its_best_and_one(values: list[float]) -> None:
    combined = soft_or(values)
    assert max(values, default=0.0) - 1e-12 <= combined <= 1.0


def test_missing_metric_sources_widen_the_range() -> None:
    evidence = [
        Evidence(kind=EvidenceKind.METRIC, summary="m", strength=0.8),
        Evidence(kind=EvidenceKind.TEMPORAL, summary="t", strength=0.9),
    ]
    full = score(
        Merged(candidate(evidence), ("detector",)),
        snapshot(),
        weights=normalise_weights(None),
        acceptance={},
    )
    partial = score(
        Merged(candidate(evidence), ("detector",)),
        snapshot(coverage_ok=False),
        weights=normalise_weights(None),
        acceptance={},
    )
    unconfigured = score(
        Merged(candidate(evidence), ("detector",)),
        snapshot().model_copy(
            update={"sources": (SourceStatus(name="metrics", ok=False, reason=NO_METRICS_SOURCE),)}
        ),
        weights=normalise_weights(None),
        acceptance={},
    )
    width = lambda h: h.confidence_range[1] - h.confidence_range[0]  # noqa: E731
    assert width(partial) > width(full)
    # No metrics source at all is the widest: nothing could be measured.
    assert width(unconfigured) > width(partial)
    assert unconfigured.confidence == full.confidence  # the range says it, not the value


def test_precedents_raise_precedent_frequency_and_history_narrows_it() -> None:
    cand = Merged(candidate([]), ("detector",))
    weights = normalise_weights(None)
    none = score(cand, snapshot(history=10), weights=weights, acceptance={})
    one = score(
        cand,
        snapshot(
            history=10, precedents=(Precedent(category="bad_deployment", target="API", count=1),)
        ),
        weights=weights,
        acceptance={},
    )
    three = score(
        cand,
        snapshot(
            history=10, precedents=(Precedent(category="bad_deployment", target="api", count=3),)
        ),
        weights=weights,
        acceptance={},
    )
    other = score(
        cand,
        snapshot(
            history=10, precedents=(Precedent(category="bad_deployment", target="web", count=3),)
        ),
        weights=weights,
        acceptance={},
    )
    values = [h.factors["precedent_frequency"].value for h in (none, other, one, three)]
    assert values == sorted(values) and values[0] < values[1] < values[2] < values[3]
    empty = score(cand, snapshot(history=0), weights=weights, acceptance={})
    assert (
        empty.factors["precedent_frequency"].uncertainty
        > none.factors["precedent_frequency"].uncertainty
    )


def test_human_validation_is_a_prior_until_feedback_then_follows_it() -> None:
    cand = Merged(candidate([]), ("detector",))
    weights = normalise_weights(None)
    prior = score(cand, snapshot(), weights=weights, acceptance={})
    assert prior.factors["human_validation"].value == 0.5
    liked = score(
        cand,
        snapshot(),
        weights=weights,
        acceptance={"bad_deployment": Acceptance(accepted=9, rejected=1)},
    )
    disliked = score(
        cand,
        snapshot(),
        weights=weights,
        acceptance={"bad_deployment": Acceptance(accepted=1, rejected=9)},
    )
    assert (
        disliked.factors["human_validation"].value < 0.5 < liked.factors["human_validation"].value
    )
    assert (
        liked.factors["human_validation"].uncertainty
        < prior.factors["human_validation"].uncertainty
    )
    assert liked.confidence > prior.confidence > disliked.confidence


def test_acceptance_as_a_rate_over_a_count() -> None:
    assert Acceptance.model_validate({"rate": 0.75, "count": 8}) == Acceptance(
        accepted=6, rejected=2
    )
    context = snapshot().model_dump(mode="json", by_alias=True)
    with pytest.raises(BadInput, match="acceptance"):
        score_candidates(context, [], acceptance={"bad_deployment": {"rate": 2.0, "count": 3}})


def test_top_three_best_first_with_detector_and_llm_merged() -> None:
    strong = [Evidence(kind=EvidenceKind.METRIC, summary="m", source="q", strength=0.9)]
    cands = [
        candidate(strong, RootCause.CPU_SATURATION),
        Candidate(
            category=RootCause.CPU_SATURATION,
            target="API",
            title="llm says cpu",
            origin="llm",
            evidence=(Evidence(kind=EvidenceKind.HISTORY, summary="h", strength=0.6),),
        ),
        candidate(
            [Evidence(kind=EvidenceKind.METRIC, summary="m2", strength=0.3)], RootCause.MEMORY_LEAK
        ),
        candidate([], RootCause.NODE_FAILURE),
        candidate([], RootCause.DNS_FAILURE),
    ]
    ranked = rank_hypotheses(cands, snapshot())
    assert [h.rank for h in ranked] == [1, 2, 3]
    assert ranked[0].category is RootCause.CPU_SATURATION
    assert ranked[0].origins == ("detector", "llm")
    assert ranked[0].title == "t"  # the detector's words lead
    assert {e.kind for e in ranked[0].evidence} == {EvidenceKind.METRIC, EvidenceKind.HISTORY}
    confidences = [h.confidence for h in ranked]
    assert confidences == sorted(confidences, reverse=True)


def test_score_candidates_is_json_in_json_out_and_round_trips() -> None:
    context = snapshot().model_dump(mode="json", by_alias=True)
    cand = candidate(
        [Evidence(kind=EvidenceKind.CHANGE, summary="deploy", source="chg-1", at=NOW, strength=0.9)]
    )
    out = score_candidates(
        context,
        [cand.model_dump(mode="json")],
        acceptance={"bad_deployment": {"accepted": 2, "rejected": 0}},
        weights={"human_validation": 0.0},
    )
    assert len(out) == 1
    hyp = Hypothesis.model_validate(out[0])
    assert hyp.model_dump(mode="json") == out[0]
    assert hyp.model_version == MODEL_VERSION
    assert hyp.evidence[0].source == "chg-1"


def test_hypothesis_refuses_a_range_that_misses_its_confidence() -> None:
    hyp = rank_hypotheses([candidate([])], snapshot())[0]
    data = hyp.model_dump(mode="json")
    data["confidence_range"] = [hyp.confidence + 0.01, 1.0]
    with pytest.raises(ValueError, match="confidence_range"):
        Hypothesis.model_validate(data)


def scored(value: float, target: str = "api", spread: float = 0.1) -> Hypothesis:
    """A hypothesis whose score is ``value`` (as ``score`` leaves it before competing)."""
    return Hypothesis(
        rank=1,
        category=RootCause.CPU_SATURATION,
        target=target,
        title="t",
        confidence=value,
        confidence_range=(max(0.0, value - spread), min(1.0, value + spread)),
        score=value,
        factors={n: {"value": value, "reason": "r"} for n in FACTOR_NAMES},
        model_version=MODEL_VERSION,
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8), st.floats(0.0, 1.0))
def test_competing_confidences_are_a_distribution_in_score_order(
    scores: list[float], uncovered: float
) -> None:
    out = compete([scored(v, f"s{i}") for i, v in enumerate(scores)], uncovered)
    # Exclusive causes: together they are at most as likely as "one of them" is.
    assert sum(h.confidence for h in out) <= (1.0 - uncovered) + 0.002 * len(out)
    by_score = sorted(out, key=lambda h: -(h.score or 0.0))
    confidences = [h.confidence for h in by_score]
    assert confidences == sorted(confidences, reverse=True)
    for h in out:
        low, high = h.confidence_range
        assert 0.0 <= low <= h.confidence <= high <= 1.0


def test_a_rival_with_as_much_support_halves_the_confidence() -> None:
    alone = compete([scored(0.8)])[0].confidence
    tied = compete([scored(0.8, "a"), scored(0.8, "b")])
    assert alone > 0.9  # well supported and unrivalled: nearly sure
    assert tied[0].confidence == tied[1].confidence
    assert tied[0].confidence == pytest.approx(
        0.8**SHARPNESS / (2 * 0.8**SHARPNESS + UNSEEN_SCORE**SHARPNESS), abs=1e-3
    )
    assert tied[0].confidence < alone / 1.8


def test_weak_lone_evidence_stays_unlikely_and_a_clear_lead_is_sure() -> None:
    assert compete([scored(0.35)])[0].confidence < 0.15  # an unseen cause is likelier
    lead = compete([scored(0.78, "a"), scored(0.45, "b"), scored(0.2, "c")])
    assert lead[0].confidence > 0.9
    assert lead[1].confidence < 0.1


def test_anomalies_no_candidate_covers_take_their_share() -> None:
    full = compete([scored(0.7, "a"), scored(0.6, "b")])
    part = compete([scored(0.7, "a"), scored(0.6, "b")], uncovered=0.4)
    for f, p in zip(full, part, strict=True):
        assert p.confidence == pytest.approx(0.6 * f.confidence, abs=2e-3)
        assert p.score == f.score


def test_uncovered_share_counts_changed_services_outside_the_candidates() -> None:
    def reading(service: str, z: float) -> dict[str, object]:
        return {
            "signal": "series:errors_total",
            "entity": service,
            "scope": "service",
            "source": "prometheus",
            "baseline": 1.0,
            "current": 1.0 + z,
            "deviation": z,
            "onset": NOW.isoformat(),
        }

    snap = ContextSnapshot.model_validate(
        {
            **snapshot().model_dump(mode="json", by_alias=True),
            "signals": [reading("front", 20.0), reading("cart", 40.0), reading("db", 40.0)],
            "neighbourhood": {
                "focus_services": ["front"],
                "services": {
                    "front": {"name": "front", "depends_on": ["cart", "db"]},
                    "cart": {"name": "cart", "depends_on": []},
                    "db": {"name": "db", "depends_on": []},
                },
                "hosts": {"node-1": ["db"]},
            },
        }
    )
    assert uncovered_share(snap, ["front", "cart", "db"]) == pytest.approx(0.0)
    assert uncovered_share(snap, ["front", "cart", "node-1"]) == pytest.approx(0.0)
    rest = uncovered_share(snap, ["cart"])
    assert 0.0 < rest < 1.0
    assert uncovered_share(snap, []) == pytest.approx(1.0)
    assert uncovered_share(snapshot(), ["api"]) == 0.0


def test_ranking_keeps_the_score_order_and_reports_the_score() -> None:
    cands = [
        candidate(
            [Evidence(kind=EvidenceKind.METRIC, summary="m", strength=s)], RootCause.CPU_SATURATION
        ).model_copy(update={"target": f"svc{i}"})
        for i, s in enumerate((0.9, 0.5, 0.7))
    ]
    ranked = rank_hypotheses(cands, snapshot())
    assert [h.target for h in ranked] == ["svc0", "svc2", "svc1"]
    assert all(h.score is not None and h.score > h.confidence for h in ranked[1:])
    assert sum(h.confidence for h in ranked) <= 1.0 + 1e-9


def series(service: str, z: float, signal: str = "series:errors_total") -> dict[str, object]:
    return {
        "signal": signal,
        "entity": service,
        "scope": "service",
        "baseline": 1.0,
        "current": 1.0 + z,
        "deviation": z,
        "onset": NOW.isoformat(),
    }


def with_signals(*readings: dict[str, object]) -> ContextSnapshot:
    return ContextSnapshot.model_validate(
        {**snapshot().model_dump(mode="json", by_alias=True), "signals": list(readings)}
    )


def test_model_version_is_bumped_and_older_factors_stay_usable() -> None:
    # 1.2 changed the confidence, not the factors: calibration still learns from 1.1.
    assert MODEL_VERSION == "conf-1.3"
    assert {"conf-1.0", "conf-1.1", "conf-1.2", MODEL_VERSION} <= FACTOR_COMPATIBLE


def test_standout_is_the_leads_own_largest_series_change_capped() -> None:
    snap = with_signals(
        series("api", 3.0),
        series("api", -12.0, "series:latency_p99"),
        series("db", 80.0),
        series("api", 500.0, "request_rate"),  # not one of its series: ignored
        series("cache", 10_000.0),
        series("web", float("nan")),
    )
    assert standout(snap, "API") == pytest.approx(math.log1p(12.0))
    assert standout(snap, "db") > standout(snap, "api")
    assert standout(snap, "cache") == pytest.approx(math.log1p(Z_CAP))
    # No series of its own (a host, a DNS a detector named): not held against it.
    assert standout(snap, "web") == pytest.approx(math.log1p(Z_CAP))
    hosted = snap.model_copy(
        update={"neighbourhood": Neighbourhood(hosts={"node-1": ("api",)}, focus_hosts=("node-1",))}
    )
    assert standout(hosted, "Node-1") == pytest.approx(math.log1p(Z_CAP))
    # A name nothing measured or maps (an LLM's guess) has nothing that stands out.
    assert standout(snap, "node-1") == 0.0
    assert standout(hosted, "made-up-service") == 0.0


@settings(max_examples=80, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, math.log1p(Z_CAP)))
def test_calibrated_is_a_probability_increasing_in_the_share(
    a: float, b: float, stand_out: float
) -> None:
    low, high = sorted((a, b))
    assert 0.0 <= calibrated(low, stand_out) <= calibrated(high, stand_out) <= CEILING < 1.0


def test_a_lead_out_of_its_noise_is_more_likely_than_one_inside_it() -> None:
    clear = calibrate(compete([scored(0.6, "a"), scored(0.5, "b")]), math.log1p(80.0))
    faint = calibrate(compete([scored(0.6, "a"), scored(0.5, "b")]), math.log1p(2.0))
    assert clear[0].confidence > faint[0].confidence
    assert clear[1].confidence > faint[1].confidence


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8),
    st.floats(0.0, 1.0),
    st.floats(0.0, math.log1p(Z_CAP)),
)
def test_calibrated_confidences_keep_the_order_the_range_and_sum_to_at_most_one(
    scores: list[float], uncovered: float, stand_out: float
) -> None:
    competed = compete([scored(v, f"s{i}") for i, v in enumerate(scores)], uncovered)
    out = calibrate(competed, stand_out)
    assert sum(h.confidence for h in out) <= 1.0 + 0.002 * len(out)
    by_score = sorted(out, key=lambda h: -(h.score or 0.0))
    confidences = [h.confidence for h in by_score]
    assert confidences == sorted(confidences, reverse=True)
    for before, after in zip(competed, out, strict=True):
        low, high = after.confidence_range
        assert 0.0 <= low <= after.confidence <= high <= 1.0
        assert after.score == before.score
        if before.confidence_range[1] - before.confidence_range[0] > 0.05:
            assert high > low  # the factors' uncertainty still shows


def test_ranking_gives_a_standout_cause_more_confidence_in_the_same_order() -> None:
    cands = [
        candidate(
            [Evidence(kind=EvidenceKind.METRIC, summary="m", strength=s)], RootCause.CPU_SATURATION
        ).model_copy(update={"target": name})
        for name, s in (("svc0", 0.9), ("svc1", 0.5), ("svc2", 0.7))
    ]
    clear = rank_hypotheses(cands, with_signals(series("svc0", 90.0), series("svc2", 4.0)))
    faint = rank_hypotheses(cands, with_signals(series("svc0", 3.0), series("svc2", 4.0)))
    assert [h.target for h in clear] == [h.target for h in faint] == ["svc0", "svc2", "svc1"]
    assert [h.score for h in clear] == [h.score for h in faint]
    assert clear[0].confidence > faint[0].confidence
    assert all(h.model_version == MODEL_VERSION for h in clear)


def test_the_range_spans_the_maps_fitted_without_each_set() -> None:
    competed = compete([scored(0.6, "a"), scored(0.5, "b"), scored(0.3, "c")])
    for stand_out in (math.log1p(2.0), math.log1p(Z_CAP)):
        alone = calibrate(competed, stand_out, variants=())
        spanned = calibrate(competed, stand_out)
        for one, every in zip(alone, spanned, strict=True):
            assert one.confidence == every.confidence
            assert every.confidence_range[0] <= one.confidence_range[0]
            assert every.confidence_range[1] >= one.confidence_range[1]
    # The maps disagree most where the lead barely leaves its noise.
    faint = calibrate(competed, math.log1p(2.0))[0].confidence_range
    clear = calibrate(competed, math.log1p(Z_CAP))[0].confidence_range
    assert faint[1] - faint[0] > clear[1] - clear[0] > 0.0
