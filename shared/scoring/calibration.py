"""Calibration: learn the tenant's factor weights from responders' verdicts.

The confidence engine is a weighted sum of five factors. Its defaults are a
guess; every "Likely" / "Not it" click is a labelled example of whether that
guess was right for this tenant. Once a week (``functions/schedules.py``) or
on demand, ``calibrate`` turns those clicks into a proposal and adopts it only
when it predicts unseen verdicts better::

    feedback ⋈ stored analysis   one example per verdict: the five factor values
                                 the responder saw, label 1 (likely) / 0 (not it)
    seeded split                 train / held-out, stratified by verdict
    logistic regression          on train; coefficients -> raw weights
    bounded_weights              sum to 1, each within ±0.05 of the default
    held-out log-loss            of the score itself (the weighted sum):
                                 adopt only if the proposal's is strictly lower

Why these choices:

- The features are the factor values exactly as stored with the analysis the
  responder was shown, so the weights are fit to what people reacted to, not
  to a recomputation. Analyses scored by another ``MODEL_VERSION`` (other factor
  formulas) are skipped: their values mean something else.
- Features are not standardised: the engine multiplies raw factor values, so a
  coefficient per unit of a raw value is the quantity comparable to a weight.
- Negative coefficients are clipped to 0 (sklearn has no non-negative
  logistic regression). Factors are monotone in the evidence, so a negative
  weight would let stronger evidence lower the confidence. The bound to ±0.05
  of the defaults then keeps every factor in play anyway.
- The bound keeps one noisy week from rewriting the model: weights drift at
  most 0.05 from the documented defaults, however many runs adopt.
- Log-loss of the score (not of the logistic model) is the judge: the score is
  what the weights make and what orders the hypotheses responders see. (The
  confidence shown is the score after the candidates compete and the
  calibration map, ``shared.scoring.engine.compete`` and ``calibrate``; it
  depends on the other candidates and on the lead's standout, which a single
  verdict does not record. The map's own coefficients are fitted offline on the
  kit, ``benchmarks/fit_confidence.py``, not from a tenant's clicks.)

Known limit: "strictly lower" is a weak bar. On verdicts that are pure noise
a proposal wins about half the time (simulated: 45% at 60 verdicts, 33% at
1,000), mostly because weights nearer to equal give a less spread confidence,
which coin flips reward; the ±0.05 bound is what keeps such a win harmless.

Every run writes an audit record, adopted or not. Adopted weights go to the
cache as ``weights:current`` (read by ``shared.feedback.learning.adopted_weights``)
and as ``weights:<version>`` for history; versions count up (``w1``, ``w2``, ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from shared.audit import record as audit_record
from shared.errors import BadInput, Conflict
from shared.feedback.learning import WEIGHTS_DOC, adopted_weights
from shared.incidents import stored_analysis
from shared.models.base import iso
from shared.models.hypothesis import FACTOR_NAMES
from shared.ports.store import Container, DocumentStore, Filter
from shared.scoring.engine import (
    DEFAULT_WEIGHTS,
    FACTOR_COMPATIBLE,
    MODEL_VERSION,
    normalise_weights,
)

ACTOR = "calibration"
ADOPTED_ACTION = "scoring.weights_adopted"
KEPT_ACTION = "scoring.weights_kept"
HISTORY_KIND = "weights_version"
"""``kind`` of the ``weights:<version>`` history documents (found by query)."""

MAX_SHIFT = 0.05
"""How far any calibrated weight may move from its default."""
PROBABILITY_FLOOR = 1e-6
"""Confidences are clipped to [floor, 1 - floor]: one confident miss must not be infinite."""
_SUM_TOLERANCE = 1e-9
_VERSION = re.compile(r"^w(\d+)$")
SIGNIFICANCE_Z = 1.645
"""One-sided 95 %: the held-out gain must clear this many standard errors."""

Features = tuple[float, ...]


class CalibrationStatus(StrEnum):
    ADOPTED = "adopted"
    KEPT = "kept"
    INSUFFICIENT_FEEDBACK = "insufficient_feedback"


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationOutcome:
    """What a calibration run decided, with the figures it decided on.

    ``version`` is the version in force after the run (the new one when
    adopted; the current one, or "default", otherwise). ``proposed`` and the
    log-losses are None when there was not enough feedback to fit anything.
    """

    status: CalibrationStatus
    proposed: Mapping[str, float] | None
    current: Mapping[str, float]
    log_loss_before: float | None
    log_loss_after: float | None
    n_train: int
    n_holdout: int
    version: str
    reason: str
    n_skipped: int = 0

    def to_json(self) -> dict[str, Any]:
        """A plain dict for logs, the CLI and the audit trail."""
        return {
            "status": self.status.value,
            "version": self.version,
            "reason": self.reason,
            "current": dict(self.current),
            "proposed": None if self.proposed is None else dict(self.proposed),
            "log_loss_before": self.log_loss_before,
            "log_loss_after": self.log_loss_after,
            "n_train": self.n_train,
            "n_holdout": self.n_holdout,
            "n_skipped": self.n_skipped,
        }


@dataclass(frozen=True, slots=True)
class Dataset:
    """Verdicts joined to the factor values the responder saw (FACTOR_NAMES order)."""

    features: tuple[Features, ...] = ()
    labels: tuple[int, ...] = ()
    skipped: int = 0
    """Verdicts with no matching stored hypothesis (or one scored by other formulas)."""

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: Sequence[int]) -> Dataset:
        return Dataset(
            tuple(self.features[i] for i in indices), tuple(self.labels[i] for i in indices)
        )


# --- pure parts -------------------------------------------------------------------


def build_dataset(
    feedback: Iterable[Mapping[str, Any]], analyses: Mapping[str, Mapping[str, Any] | None]
) -> Dataset:
    """Join each verdict to its incident's stored hypothesis (category and target, any case).

    ``analyses`` maps incident ids to stored analyses (None when there is none).
    Verdicts that match nothing, or a hypothesis without all five numeric
    factors, or an analysis of another ``MODEL_VERSION``, are counted as skipped.
    Order follows ``feedback``; callers sort it for determinism.
    """
    features: list[Features] = []
    labels: list[int] = []
    skipped = 0
    for doc in feedback:
        verdict = doc.get("verdict")
        if verdict not in ("likely", "not_it"):
            continue
        row = _factor_row(analyses.get(str(doc.get("incident_id"))), doc)
        if row is None:
            skipped += 1
            continue
        features.append(row)
        labels.append(1 if verdict == "likely" else 0)
    return Dataset(tuple(features), tuple(labels), skipped)


def _factor_row(analysis: Mapping[str, Any] | None, doc: Mapping[str, Any]) -> Features | None:
    if analysis is None or not _same_formulas(analysis.get("model_version")):
        return None
    category = str(doc.get("category") or "").lower()
    target = str(doc.get("target") or "").lower()
    for hypothesis in analysis.get("hypotheses") or []:
        if not isinstance(hypothesis, Mapping):
            continue
        if (
            str(hypothesis.get("category") or "").lower() != category
            or str(hypothesis.get("target") or "").lower() != target
        ):
            continue
        factors = hypothesis.get("factors")
        if not isinstance(factors, Mapping):
            return None
        values = [_value(factors.get(name)) for name in FACTOR_NAMES]
        if any(v is None for v in values):
            return None
        return tuple(float(v) for v in values if v is not None)
    return None


def _value(factor: Any) -> float | None:
    if not isinstance(factor, Mapping):
        return None
    value = factor.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _same_formulas(model_version: Any) -> bool:
    """Stored as ``conf-1.0+w:w3``: the part before ``+`` names the factor formulas."""
    return str(model_version or "").split("+", 1)[0] in FACTOR_COMPATIBLE


def split(labels: Sequence[int], *, holdout: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded train / held-out indices, stratified by label.

    Each label with at least two examples puts ``round(holdout * n)`` of them
    (at least one, and never all) in the held-out part, so both parts see both
    verdicts whenever the data has two of each; a lone example trains.
    """
    if not 0.0 < holdout < 1.0:
        raise BadInput("holdout must be strictly between 0 and 1")
    rng = np.random.default_rng(seed)
    train: list[int] = []
    held: list[int] = []
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        shuffled = [members[int(j)] for j in rng.permutation(len(members))]
        n_held = (
            0 if len(members) < 2 else min(len(members) - 1, max(1, round(holdout * len(members))))
        )
        held.extend(shuffled[:n_held])
        train.extend(shuffled[n_held:])
    return sorted(train), sorted(held)


def fit_raw_weights(features: Sequence[Features], labels: Sequence[int]) -> dict[str, float]:
    """Logistic-regression coefficients per factor, negatives clipped to 0.

    L2-regularised (``C=1``), so perfectly separable feedback still gives finite
    coefficients. Needs both labels present.
    """
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(np.asarray(features, dtype=float), np.asarray(labels, dtype=int))
    coefficients = [float(c) for c in model.coef_[0]]
    return {name: max(0.0, c) for name, c in zip(FACTOR_NAMES, coefficients, strict=True)}


def bounded_weights(
    raw: Mapping[str, float], defaults: Mapping[str, float], max_shift: float = MAX_SHIFT
) -> dict[str, float]:
    """``raw`` scaled to sum 1, then the closest weights that sum to 1 and stay near defaults.

    Each result lies within ``max_shift`` of its default (and in [0, 1]) and
    they sum to 1 within 1e-9. This is the Euclidean projection of the scaled
    ``raw`` onto that set, which has the form ``clip(w + λ, low, high)``: at
    λ = 0 it is the plain clip, and λ is found by bisection (the sum is
    monotone in λ). A single clip-then-rescale is not enough: rescaling can push
    a clipped weight back out of its band, which is why it iterates.
    ``defaults`` must sum to 1, so such weights always exist.
    """
    if set(raw) != set(defaults):
        raise BadInput("raw and default weights must name the same factors")
    if not math.isfinite(max_shift) or max_shift < 0:
        raise BadInput("max_shift must be a finite number >= 0")
    if any(not math.isfinite(v) or v < 0 for v in (*raw.values(), *defaults.values())):
        raise BadInput("weights must be finite numbers >= 0")
    if abs(sum(defaults.values()) - 1.0) > _SUM_TOLERANCE:
        raise BadInput("default weights must sum to 1")
    total = sum(raw.values())
    if total <= 0:
        raise BadInput("raw weights need a positive sum")
    names = list(defaults)  # the result keeps the defaults' order (FACTOR_NAMES)
    scaled = [raw[n] / total for n in names]
    low = [max(0.0, defaults[n] - max_shift) for n in names]
    high = [min(1.0, defaults[n] + max_shift) for n in names]

    def shifted(lam: float) -> list[float]:
        return [min(h, max(lo, w + lam)) for w, lo, h in zip(scaled, low, high, strict=True)]

    # sum(shifted(lo_lam)) == sum(low) <= 1 <= sum(high) == sum(shifted(hi_lam))
    lo_lam = min(lo - w for w, lo in zip(scaled, low, strict=True))
    hi_lam = max(h - w for w, h in zip(scaled, high, strict=True))
    for _ in range(200):
        mid = (lo_lam + hi_lam) / 2.0
        if mid in (lo_lam, hi_lam):
            break
        if sum(shifted(mid)) < 1.0:
            lo_lam = mid
        else:
            hi_lam = mid
    result = shifted(hi_lam)
    return {name: result[i] for i, name in enumerate(names)}


def confidences(weights: Mapping[str, float], features: Sequence[Features]) -> list[float]:
    """The engine's confidence (weighted factor sum), clipped away from 0 and 1."""
    ordered = [weights[name] for name in FACTOR_NAMES]
    return [
        min(
            1.0 - PROBABILITY_FLOOR,
            max(PROBABILITY_FLOOR, sum(w * x for w, x in zip(ordered, row, strict=True))),
        )
        for row in features
    ]


def log_loss(
    weights: Mapping[str, float], features: Sequence[Features], labels: Sequence[int]
) -> float:
    """Mean negative log-likelihood of the verdicts under the confidence as a probability."""
    if not labels:
        raise BadInput("log-loss of no examples")
    total = 0.0
    for p, y in zip(confidences(weights, features), labels, strict=True):
        total -= math.log(p) if y == 1 else math.log(1.0 - p)
    return total / len(labels)


def per_verdict_losses(
    weights: Mapping[str, float], features: Sequence[Features], labels: Sequence[int]
) -> list[float]:
    """Each verdict's negative log-likelihood (``log_loss`` is their mean)."""
    return [
        -math.log(p) if y == 1 else -math.log(1.0 - p)
        for p, y in zip(confidences(weights, features), labels, strict=True)
    ]


def significant_gain(before: Sequence[float], after: Sequence[float]) -> bool:
    """Whether the paired per-verdict gain is above zero at one-sided 95 %.

    A bare "lower held-out log-loss" adopts new weights on pure-noise feedback
    about half the time (flatter weights give less spread-out confidences,
    which random verdicts reward); requiring the mean gain to clear
    ``SIGNIFICANCE_Z`` standard errors cut that to about 5 % in simulation
    while still adopting every real pattern.
    """
    gains = [b - a for b, a in zip(before, after, strict=True)]
    n = len(gains)
    if n < 2:
        return False
    mean = sum(gains) / n
    variance = sum((g - mean) ** 2 for g in gains) / (n - 1)
    if variance == 0.0:
        return mean > 0.0
    return mean > SIGNIFICANCE_Z * math.sqrt(variance / n)


def next_version(versions: Iterable[str]) -> str:
    """``w<n+1>`` after the highest ``w<n>`` seen (``w1`` when there is none)."""
    numbers = [int(m.group(1)) for v in versions if (m := _VERSION.match(v))]
    return f"w{max(numbers, default=0) + 1}"


# --- the job ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """What ``decide`` concluded, before anything is written."""

    status: CalibrationStatus
    reason: str
    proposed: dict[str, float] | None = None
    before: float | None = None
    after: float | None = None
    n_train: int = 0
    n_holdout: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def load_dataset(store: DocumentStore, tenant_id: str) -> Dataset:
    """The tenant's verdicts joined to their stored analyses, oldest verdict first."""
    feedback = store.query(Container.FEEDBACK, tenant_id, [Filter("verdict", "!=", None)])
    # Sorted here, not by the store: the split must not depend on the adapter's order.
    feedback.sort(key=lambda d: (str(d.get("at") or ""), str(d.get("id") or "")))
    incidents = sorted({str(d.get("incident_id")) for d in feedback if d.get("incident_id")})
    stored = {i: stored_analysis.load(store, tenant_id, i) for i in incidents}
    analyses = {i: a.to_json() if a else None for i, a in stored.items()}
    return build_dataset(feedback, analyses)


def decide(
    dataset: Dataset,
    current: Mapping[str, float],
    *,
    min_feedback: int,
    holdout: float,
    seed: int,
) -> Decision:
    """Fit, bound and judge a proposal against ``current`` (pure: no store)."""
    positives = sum(dataset.labels)
    if len(dataset) < min_feedback:
        return Decision(
            CalibrationStatus.INSUFFICIENT_FEEDBACK,
            f"{len(dataset)} usable verdict(s), {min_feedback} needed",
        )
    if positives == 0 or positives == len(dataset):
        return Decision(
            CalibrationStatus.INSUFFICIENT_FEEDBACK,
            "every usable verdict is the same, so there is nothing to tell apart",
        )
    train_idx, held_idx = split(dataset.labels, holdout=holdout, seed=seed)
    train, held = dataset.take(train_idx), dataset.take(held_idx)
    if not held or len(set(train.labels)) < 2:
        return Decision(
            CalibrationStatus.INSUFFICIENT_FEEDBACK,
            "too few verdicts of each kind to both fit and test",
        )
    n_train, n_holdout = len(train), len(held)
    before = log_loss(current, held.features, held.labels)
    raw = fit_raw_weights(train.features, train.labels)
    if sum(raw.values()) <= 0:
        return Decision(
            CalibrationStatus.KEPT,
            "no factor predicts acceptance (every coefficient <= 0)",
            before=before,
            n_train=n_train,
            n_holdout=n_holdout,
        )
    proposed = bounded_weights(raw, DEFAULT_WEIGHTS)
    after = log_loss(proposed, held.features, held.labels)
    gain_is_real = significant_gain(
        per_verdict_losses(current, held.features, held.labels),
        per_verdict_losses(proposed, held.features, held.labels),
    )
    if after < before and gain_is_real:
        return Decision(
            CalibrationStatus.ADOPTED,
            f"held-out log-loss {before:.4f} -> {after:.4f}",
            proposed,
            before,
            after,
            n_train=n_train,
            n_holdout=n_holdout,
            extra={"raw": raw},
        )
    return Decision(
        CalibrationStatus.KEPT,
        f"held-out log-loss would not improve significantly ({before:.4f} -> {after:.4f})",
        proposed,
        before,
        after,
        n_train=n_train,
        n_holdout=n_holdout,
        extra={"raw": raw},
    )


def calibrate(
    store: DocumentStore,
    tenant_id: str,
    *,
    now: datetime,
    min_feedback: int = 20,
    holdout: float = 0.3,
    seed: int = 0,
) -> CalibrationOutcome:
    """Run calibration for one tenant: decide, adopt if better, audit either way.

    Raises ``BadInput`` for impossible settings (``min_feedback`` < 2, ``holdout``
    outside (0, 1)) or malformed stored weights; store errors propagate.
    """
    if min_feedback < 2:
        raise BadInput("min_feedback must be at least 2 (one of each verdict)")
    if not 0.0 < holdout < 1.0:
        raise BadInput("holdout must be strictly between 0 and 1")
    stored, current_version = adopted_weights(store, tenant_id)
    current = normalise_weights(stored)
    dataset = load_dataset(store, tenant_id)
    decision = decide(dataset, current, min_feedback=min_feedback, holdout=holdout, seed=seed)
    version = current_version
    status, reason = decision.status, decision.reason
    if status is CalibrationStatus.ADOPTED and decision.proposed is not None:
        try:
            version = _adopt(store, tenant_id, decision, current_version, now, len(dataset))
        except Conflict:
            # Another run (the timer and the CLI at once) claimed the version first.
            status = CalibrationStatus.KEPT
            reason = "another calibration adopted weights meanwhile; run again to compare"
    outcome = CalibrationOutcome(
        status=status,
        proposed=decision.proposed,
        current=current,
        log_loss_before=decision.before,
        log_loss_after=decision.after,
        n_train=decision.n_train,
        n_holdout=decision.n_holdout,
        version=version,
        reason=reason,
        n_skipped=dataset.skipped,
    )
    _audit(store, tenant_id, outcome, now, previous_version=current_version, extra=decision.extra)
    return outcome


def _adopt(
    store: DocumentStore,
    tenant_id: str,
    decision: Decision,
    current_version: str,
    now: datetime,
    n: int,
) -> str:
    """Write ``weights:<version>`` (claiming the version) and then ``weights:current``."""
    history = store.query(Container.CACHE, tenant_id, [Filter("kind", "=", HISTORY_KIND)])
    version = next_version([current_version, *(str(d.get("version")) for d in history)])
    body = {
        "tenantId": tenant_id,
        "weights": decision.proposed,
        "version": version,
        "previous_version": current_version,
        "adopted_at": iso(now),
        "log_loss_before": decision.before,
        "log_loss_after": decision.after,
        "n": n,
        "n_train": decision.n_train,
        "n_holdout": decision.n_holdout,
        "model_version": MODEL_VERSION,
    }
    store.create(
        Container.CACHE, tenant_id, {**body, "id": f"weights:{version}", "kind": HISTORY_KIND}
    )
    store.upsert(Container.CACHE, tenant_id, {**body, "id": WEIGHTS_DOC})
    return version


def _audit(
    store: DocumentStore,
    tenant_id: str,
    outcome: CalibrationOutcome,
    now: datetime,
    *,
    previous_version: str,
    extra: Mapping[str, Any],
) -> None:
    adopted = outcome.status is CalibrationStatus.ADOPTED
    audit_record(
        store,
        tenant_id,
        at=now,
        actor=ACTOR,
        action=ADOPTED_ACTION if adopted else KEPT_ACTION,
        subject=f"tenant:{tenant_id}",
        detail={
            **outcome.to_json(),
            "previous_version": previous_version,
            "model_version": MODEL_VERSION,
            **extra,
        },
    )
