"""The confidence engine: five explainable factors, a weighted sum, then competition.

::

    score = 0.25 signal_strength      how far the cause's own signals moved
          + 0.20 temporal_correlation did the cause come before its effects
          + 0.20 precedent_frequency  resolved incidents with this cause and target
          + 0.20 evidence_quality     how many independent kinds of evidence agree
          + 0.15 human_validation     how often responders accepted this category

Each factor is a monotone function of the evidence (more or stronger evidence
never lowers it) with a one-line reason and an uncertainty. The score says how
well the evidence supports one candidate on its own, and it decides the order.

The confidence is what the score means once the candidates compete: root
causes exclude each other, so two candidates scored 0.65 cannot both be 65%
likely, and one scored 0.71 beside rivals at 0.63 and 0.21 is surer than its
score says. Each candidate gets its share of the support, ``score ** SHARPNESS``,
among every candidate and an unseen cause (a cause nobody measured, counted as
a candidate scored ``UNSEEN_SCORE``), times the share of the anomaly walk
(``shared.rca.rank``) that lands on the candidates: anomalous services that no
candidate covers keep the rest. It is a power-law softmax (temperature
1/SHARPNESS on the log scores) with a "none of these" option, the usual way
to turn independent scores of exclusive answers into probabilities. The two
constants are round values from a flat optimum, not a fit: on the kit's
public scenarios, PetShop and Nezha, the pooled expected calibration error of
the shown confidences stays between 0.044 and 0.069 for every sharpness 4-8
and unseen score 0.3-0.6 (0.33 without competition).

That share is not yet what happens: it is the same for an incident whose
cause clearly stands out and for one where nothing does, and the kit's sets
err in opposite directions with it (PetShop under-confident, Nezha's Train
Ticket over-confident, where the true service rarely leaves its noise). So
the confidence shown is the share put through one logistic map (Platt
scaling, Platt 1999: a sigmoid of a few scores fitted to right/wrong
outcomes) of two inputs: the share's log-odds and ``standout``, how far the
leading candidate's most changed signal left its own noise (log of 1 + its
robust z, capped). A cause whose own series jumps far out of its noise is
likelier right than a lead among series that barely moved. ``standout`` is
one number per incident, and the slope on the share is positive, so the
map never reorders the candidates. Its three coefficients (``PLATT``) were
fitted once by ``benchmarks/fit_confidence.py`` on the kit's three sets; that
script also reports what each set gets when the map is fitted on the other
two. Exclusive causes never sum above 1: if the mapped confidences do, they
are scaled down together.

The range is the same competition and map applied to the weighted sum of
each factor's low and high ends, so thin evidence, a short history or
missing metric sources widen it, and it spans what the map says when fitted
without each set in turn (``PLATT_HELD_OUT``), so it also shows how far the
map itself is known; it always holds the confidence inside [0, 1].
``MODEL_VERSION`` is stored with every score: a change to any formula here
must bump it (``FACTOR_COMPATIBLE`` lists the versions whose factor values
mean the same, for the weight calibration).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import Field, ValidationError, model_validator

from shared.errors import BadInput
from shared.hypotheses.merge import Merged, merge
from shared.models.analysis import ContextSnapshot
from shared.models.base import Model
from shared.models.hypothesis import (
    FACTOR_NAMES,
    Candidate,
    Evidence,
    EvidenceKind,
    FactorScore,
    Hypothesis,
)
from shared.rca.rank import rank_services
from shared.rca.series import SIGNAL_PREFIX

MODEL_VERSION = "conf-1.3"
FACTOR_COMPATIBLE = frozenset({"conf-1.0", "conf-1.1", "conf-1.2", MODEL_VERSION})
"""Versions whose five factors have the formulas of this one (1.1 added competition,
1.2 the calibration map, 1.3 refitted it once calls not waited for stopped carrying
faults in the ranking)."""

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "signal_strength": 0.25,
    "temporal_correlation": 0.20,
    "precedent_frequency": 0.20,
    "evidence_quality": 0.20,
    "human_validation": 0.15,
}

HUMAN_PRIOR = 0.5
TOP = 3
SHARPNESS = 6
"""Exponent on the scores before they are shared: how much a lead in score counts."""
UNSEEN_SCORE = 0.5
"""The score a cause that no candidate names competes with."""
PLATT = (-3.64, 1.76, 0.99)
"""Intercept, slope on the share's log-odds, weight of ``standout``: fitted by
``benchmarks/fit_confidence.py`` (penalised logistic regression of right/wrong
on the shown top 3 of the kit's public scenarios, PetShop and Nezha)."""
PLATT_HELD_OUT = ((-3.67, 1.69, 1.0), (-3.24, 1.54, 0.83), (1.54, 2.86, 0.01))
"""The same fit without the public scenarios, without PetShop, without Nezha: the
range spans what they say too, so it shows how much the confidence depends on
which incidents the map learned from (most where the lead barely stands out)."""
Z_CAP = 100.0
"""Robust z beyond which a change is out of any noise (floored spreads make larger
values arbitrary)."""
SHARE_FLOOR = 1e-3
"""Shares are kept in [floor, 1 - floor] before their log-odds (0 would be -inf)."""
CEILING = 0.99
"""The most the map says: a hundred labelled incidents cannot vouch for more."""


class Acceptance(Model):
    """Responders' verdicts on one category's hypotheses (from the feedback loop).

    Given as counts (``{"accepted": 7, "rejected": 2}``) or as a rate over a
    number of verdicts (``{"rate": 0.78, "count": 9}``); the count matters,
    because two verdicts should move the factor less than two hundred.
    """

    accepted: int = Field(default=0, ge=0)
    rejected: int = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _from_rate(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "rate" in data:
            rate, count = float(data["rate"]), int(data.get("count", 0))
            if not 0.0 <= rate <= 1.0 or count < 0:
                raise ValueError("rate must be in [0, 1] and count >= 0")
            accepted = round(rate * count)
            return {"accepted": accepted, "rejected": count - accepted}
        return data

    @property
    def total(self) -> int:
        return self.accepted + self.rejected


def normalise_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """Per-tenant weights, checked and scaled to sum to 1 (defaults when None)."""
    if weights is None:
        return dict(DEFAULT_WEIGHTS)
    unknown = set(weights) - set(FACTOR_NAMES)
    if unknown:
        raise BadInput(f"weights: unknown factor(s) {', '.join(sorted(unknown))}")
    merged = {name: float(weights.get(name, DEFAULT_WEIGHTS[name])) for name in FACTOR_NAMES}
    if any(not math.isfinite(w) or w < 0 for w in merged.values()):
        raise BadInput("weights: every weight must be a finite number >= 0")
    total = sum(merged.values())
    if total <= 0:
        raise BadInput("weights: at least one weight must be positive")
    return {name: w / total for name, w in merged.items()}


def soft_or(strengths: Sequence[float], support: float = 0.3) -> float:
    """The strongest item, topped up a little by the others (noisy-or, damped).

    Monotone in every input, bounded by 1, and not saturated by many weak items.
    """
    if not strengths:
        return 0.0
    ordered = sorted(strengths, reverse=True)
    rest = 1.0
    for s in ordered[1:]:
        rest *= 1.0 - s
    best = ordered[0]
    return min(1.0, best + (1.0 - best) * support * (1.0 - rest))


def _of(evidence: Sequence[Evidence], kind: EvidenceKind) -> list[float]:
    return [e.strength for e in evidence if e.kind is kind]


def signal_strength(
    evidence: Sequence[Evidence], coverage: float, *, unmeasured: str = ""
) -> FactorScore:
    """``unmeasured``: why nothing could be measured, when so (part of the reason)."""
    strengths = _of(evidence, EvidenceKind.METRIC)
    missing = 1.0 - coverage
    if not strengths:
        return FactorScore(
            value=0.0,
            reason="no measured signal supports it" + (f" ({unmeasured})" if unmeasured else ""),
            uncertainty=min(0.5, 0.3 + 0.2 * missing),
        )
    value = soft_or(strengths)
    best = max((e for e in evidence if e.kind is EvidenceKind.METRIC), key=lambda e: e.strength)
    return FactorScore(
        value=round(value, 4),
        reason=f"{best.summary} ({len(strengths)} signal(s))",
        uncertainty=round(min(0.5, 0.2 / math.sqrt(len(strengths)) + 0.3 * missing), 4),
    )


def temporal_correlation(evidence: Sequence[Evidence], coverage: float) -> FactorScore:
    strengths = _of(evidence, EvidenceKind.TEMPORAL)
    if not strengths:
        # Nothing to go on is no support (not a neutral guess): adding evidence must
        # never lower a factor, and a reversed order is itself weak evidence.
        return FactorScore(
            value=0.0, reason="no onset to order against the symptoms", uncertainty=0.4
        )
    best = max((e for e in evidence if e.kind is EvidenceKind.TEMPORAL), key=lambda e: e.strength)
    return FactorScore(
        value=round(soft_or(strengths, support=0.2), 4),
        reason=best.summary,
        uncertainty=round(min(0.5, 0.1 + 0.3 * (1.0 - coverage)), 4),
    )


def precedent_frequency(candidate: Candidate, snapshot: ContextSnapshot) -> FactorScore:
    category = candidate.category.value
    exact = sum(
        p.count
        for p in snapshot.precedents
        if p.category == category and p.target.lower() == candidate.target.lower()
    )
    same_category = sum(p.count for p in snapshot.precedents if p.category == category)
    if snapshot.history_size == 0:
        return FactorScore(value=0.3, reason="no incident history yet", uncertainty=0.35)
    value = 0.1 + 0.6 * (1.0 - 0.5**exact) + 0.2 * (1.0 - 0.7**same_category)
    reason = (
        f"{exact} resolved incident(s) with {category} of {candidate.target}, "
        f"{same_category} of {category} in {snapshot.history_size}"
    )
    return FactorScore(
        value=round(value, 4),
        reason=reason,
        uncertainty=round(0.3 / math.sqrt(1.0 + snapshot.history_size / 4.0), 4),
    )


def evidence_quality(evidence: Sequence[Evidence], coverage: float) -> FactorScore:
    best_by_kind: dict[EvidenceKind, float] = {}
    for item in evidence:
        best_by_kind[item.kind] = max(best_by_kind.get(item.kind, 0.0), item.strength)
    remaining = 1.0
    for strength in best_by_kind.values():
        remaining *= 1.0 - 0.5 * strength
    kinds = [k.value for k in sorted(best_by_kind, key=lambda k: k.value) if best_by_kind[k] > 0]
    return FactorScore(
        value=round(1.0 - remaining, 4),
        reason=f"{len(kinds)} kind(s) of evidence: {', '.join(kinds) or 'none'}",
        uncertainty=round(min(0.5, 0.1 + 0.3 * (1.0 - coverage)), 4),
    )


def human_validation(candidate: Candidate, acceptance: Mapping[str, Acceptance]) -> FactorScore:
    record = acceptance.get(candidate.category.value)
    if record is None or record.total == 0:
        return FactorScore(
            value=HUMAN_PRIOR, reason="prior: no feedback on this category yet", uncertainty=0.3
        )
    prior_weight = 2.0
    value = (record.accepted + HUMAN_PRIOR * prior_weight) / (record.total + prior_weight)
    return FactorScore(
        value=round(value, 4),
        reason=(
            f"{record.accepted} of {record.total} {candidate.category.value} hypotheses accepted"
        ),
        uncertainty=round(0.3 / math.sqrt(1.0 + record.total), 4),
    )


def _unmeasured(snapshot: ContextSnapshot) -> str:
    if not snapshot.metrics_configured:
        return "no metrics source configured"
    if snapshot.metric_coverage == 0.0 or any(
        s.name == "metrics" and not s.ok for s in snapshot.sources
    ):
        return "the metrics source did not answer"
    return ""


def score(
    merged: Merged,
    snapshot: ContextSnapshot,
    *,
    weights: Mapping[str, float],
    acceptance: Mapping[str, Acceptance],
    rank: int = 1,
) -> Hypothesis:
    """One candidate -> an (unranked until ``rank`` is set) hypothesis.

    Its confidence is still its score here: ``compete`` turns the scores of all
    of an incident's candidates into confidences.
    """
    cand = merged.candidate
    coverage = snapshot.metric_coverage
    factors = {
        "signal_strength": signal_strength(
            cand.evidence, coverage, unmeasured=_unmeasured(snapshot)
        ),
        "temporal_correlation": temporal_correlation(cand.evidence, coverage),
        "precedent_frequency": precedent_frequency(cand, snapshot),
        "evidence_quality": evidence_quality(cand.evidence, coverage),
        "human_validation": human_validation(cand, acceptance),
    }
    confidence = sum(weights[n] * f.value for n, f in factors.items())
    low = sum(weights[n] * f.low for n, f in factors.items())
    high = sum(weights[n] * f.high for n, f in factors.items())
    confidence = round(confidence, 3)
    low = min(confidence, round(low, 3))
    high = max(confidence, round(high, 3))
    evidence = tuple(
        sorted(
            (e for e in cand.evidence if e.strength > 0 or e.kind is EvidenceKind.CHANGE),
            key=lambda e: (-e.strength, e.kind.value, e.summary),
        )
    )
    return Hypothesis(
        rank=rank,
        category=cand.category,
        target=cand.target,
        title=cand.title,
        confidence=confidence,
        confidence_range=(max(0.0, low), min(1.0, high)),
        score=confidence,
        factors=factors,
        evidence=evidence,
        model_version=MODEL_VERSION,
        origins=merged.origins,
    )


def uncovered_share(snapshot: ContextSnapshot, targets: Iterable[str]) -> float:
    """The share of the anomaly walk on services that none of ``targets`` covers
    (a host target covers the services on it); 0 when nothing changed."""
    covered = {t.lower() for t in targets}
    for host, services in snapshot.neighbourhood.hosts.items():
        if host.lower() in covered:
            covered |= {s.lower() for s in services}
    walk = rank_services(snapshot)
    return min(1.0, sum(r.share for r in walk if r.service.lower() not in covered))


def compete(scored: Sequence[Hypothesis], uncovered: float = 0.0) -> list[Hypothesis]:
    """Scores -> confidences: each candidate's share of ``score ** SHARPNESS`` among
    all of them and an unseen cause, times the walk share the candidates cover.

    Monotone in each score, so the order by score is the order by confidence.
    A candidate's range is its own low and high ends against the others' scores.
    """
    if not scored:
        return []
    covered = 1.0 - min(1.0, max(0.0, uncovered))
    support = [(h.score if h.score is not None else h.confidence) ** SHARPNESS for h in scored]
    total = sum(support) + UNSEEN_SCORE**SHARPNESS

    def share(own: float, replaced: float) -> float:
        return covered * own / (total - replaced + own)

    out = []
    for h, mine in zip(scored, support, strict=True):
        low, high = h.confidence_range
        confidence = round(share(mine, mine), 3)
        out.append(
            h.model_copy(
                update={
                    "confidence": confidence,
                    "confidence_range": (
                        min(confidence, round(share(low**SHARPNESS, mine), 3)),
                        max(confidence, round(share(high**SHARPNESS, mine), 3)),
                    ),
                }
            )
        )
    return out


def standout(snapshot: ContextSnapshot, target: str) -> float:
    """``log(1 + |z|)`` of the target's most changed series of its own (z capped at
    ``Z_CAP``): whether the lead's own change is out of its noise.

    A known target with no series (a host, a DNS, a database a detector named from
    its pattern) counts as out of it: its candidate did not come from a series'
    jump. A name neither the topology nor any signal knows (an LLM's guess) has
    no change to stand out: 0.
    """
    name = target.lower()
    own = [
        min(Z_CAP, abs(r.deviation))
        for r in snapshot.signals
        if r.signal.startswith(SIGNAL_PREFIX)
        and r.entity.lower() == name
        and not math.isnan(r.deviation)
    ]
    if own:
        return math.log1p(max(own))
    hood = snapshot.neighbourhood
    known = {n.lower() for n in (*hood.services, *hood.hosts)}
    known |= {s.lower() for services in hood.hosts.values() for s in services}
    known |= {r.entity.lower() for r in snapshot.signals}
    return math.log1p(Z_CAP) if name in known else 0.0


def calibrated(share: float, stand_out: float, platt: tuple[float, float, float] = PLATT) -> float:
    """The logistic map from a competition share and the incident's ``standout``
    to a probability; increasing in the share (``platt``: other coefficients, for
    the fitting script)."""
    p = min(1.0 - SHARE_FLOOR, max(SHARE_FLOOR, share))
    intercept, slope, weight = platt
    z = intercept + slope * math.log(p / (1.0 - p)) + weight * stand_out
    return min(CEILING, 1.0 / (1.0 + math.exp(-z)))


def calibrate(
    competed: Sequence[Hypothesis],
    stand_out: float,
    platt: tuple[float, float, float] = PLATT,
    variants: Sequence[tuple[float, float, float]] = PLATT_HELD_OUT,
) -> list[Hypothesis]:
    """Competition shares -> shown confidences (``calibrated`` with ``platt``); a
    range end is the lowest (highest) any of ``platt`` and ``variants`` makes of
    the share's low (high) end. All are scaled down together when the confidences
    would sum above 1 (the causes exclude each other)."""
    maps = (platt, *variants)
    mapped = [
        (
            calibrated(h.confidence, stand_out, platt),
            min(calibrated(h.confidence_range[0], stand_out, m) for m in maps),
            max(calibrated(h.confidence_range[1], stand_out, m) for m in maps),
        )
        for h in competed
    ]
    scale = min(1.0, 1.0 / max(sum(c for c, _, _ in mapped), 1e-12))
    out = []
    for h, (confidence, low, high) in zip(competed, mapped, strict=True):
        shown = round(confidence * scale, 3)
        out.append(
            h.model_copy(
                update={
                    "confidence": shown,
                    "confidence_range": (
                        min(shown, round(low * scale, 3)),
                        max(shown, round(min(1.0, high * scale), 3)),
                    ),
                }
            )
        )
    return out


def _best_first(h: Hypothesis) -> tuple[float, float, str, str]:
    return (-(h.score or 0.0), -h.factors["signal_strength"].value, h.category.value, h.target)


def competing(
    candidates: Sequence[Candidate],
    snapshot: ContextSnapshot,
    *,
    weights: Mapping[str, float] | None = None,
    acceptance: Mapping[str, Acceptance] | None = None,
) -> list[Hypothesis]:
    """Merge duplicates, score each, let them compete; every candidate best first
    (ties: signal, then name), its confidence still the competition share."""
    resolved = normalise_weights(weights)
    records = dict(acceptance or {})
    scored = [score(m, snapshot, weights=resolved, acceptance=records) for m in merge(candidates)]
    scored = compete(scored, uncovered_share(snapshot, (h.target for h in scored)))
    return sorted(scored, key=_best_first)


def rank_hypotheses(
    candidates: Sequence[Candidate],
    snapshot: ContextSnapshot,
    *,
    weights: Mapping[str, float] | None = None,
    acceptance: Mapping[str, Acceptance] | None = None,
    top: int = TOP,
) -> list[Hypothesis]:
    """``competing``, then ``calibrate`` by the lead's ``standout``; ``top`` out."""
    ranked = competing(candidates, snapshot, weights=weights, acceptance=acceptance)
    if ranked:
        ranked = calibrate(ranked, standout(snapshot, ranked[0].target))
    return [h.model_copy(update={"rank": i}) for i, h in enumerate(ranked[:top], start=1)]


def score_candidates(
    context: Mapping[str, Any],
    candidates: Sequence[Mapping[str, Any]],
    *,
    weights: Mapping[str, float] | None = None,
    acceptance: Mapping[str, Mapping[str, float]] | None = None,
    top: int = TOP,
) -> list[dict[str, Any]]:
    """The scoring step: context + candidates (detector and LLM, as dicts) -> top hypotheses.

    ``weights``: optional per-tenant factor weights; ``acceptance``: optional
    per-category ``{"accepted": n, "rejected": m}`` from responders' feedback.
    """
    snapshot = ContextSnapshot.model_validate(context)
    parsed = [Candidate.model_validate(c) for c in candidates]
    try:
        records = {k: Acceptance.model_validate(v) for k, v in (acceptance or {}).items()}
    except ValidationError as exc:
        raise BadInput(f"acceptance: {exc.errors()[0]['msg']}") from exc
    ranked = rank_hypotheses(parsed, snapshot, weights=weights, acceptance=records, top=top)
    return [h.model_dump(mode="json") for h in ranked]
