"""bad_deployment and config_change: a change shortly before the trouble began.

A change is a suspect only if what it touched went wrong after it: the
changed service degraded, or (a release that broke its callers) the services
calling it did, and not because something deeper had already failed.
Changes to services that stayed healthy are the usual distractors and are
not proposed.

When nothing measures the changed service (no metrics source, or none of its
signals answered) but an alert of the incident names it, whether it degraded
cannot be told either way: the change is offered as a change-only candidate,
with no measured signal and weakened timing, so it ranks low and its factors
say why.
"""

from __future__ import annotations

from shared import formatting
from shared.hypotheses.detectors._impact import downstream_of, impact_evidence
from shared.hypotheses.facts import (
    Facts,
    Symptom,
    clamp,
    hhmm,
    metric_evidence,
    minutes,
    temporal_evidence,
)
from shared.models.analysis import ChangeRecord
from shared.models.hypothesis import Candidate, Evidence, EvidenceKind, RootCause

CATEGORY = {
    "deployment": RootCause.BAD_DEPLOYMENT,
    "config": RootCause.CONFIG_CHANGE,
    "feature_flag": RootCause.CONFIG_CHANGE,
    "infrastructure": RootCause.CONFIG_CHANGE,
}
ROLLOUT_MIN = 5.0
"""A change's time may mark the end of a rollout that began hurting a little earlier."""

PHRASE = {
    "error_ratio": "error ratio",
    "latency_p99": "p99 latency",
    "probe_success": "probe failures",
    "request_rate": "lost traffic",
}
PLAUSIBILITY = {"deployment": 0.9, "config": 0.85, "feature_flag": 0.9, "infrastructure": 0.5}
SYMPTOM_SIGNALS = tuple(PHRASE)
UNCONFIRMED = 0.5
"""How much an alert's start counts, next to a measured onset, as the change's effect."""


def _gap_strength(gap: float) -> float:
    """Minutes from change to first symptom -> how well the timing fits."""
    if gap < -2.0:
        return 0.05
    if gap <= 30.0:
        return 1.0 if gap >= 0.5 else 0.8
    return clamp(1.0 - (gap - 30.0) / 90.0, 0.2, 1.0)


def _judge(facts: Facts, change: ChangeRecord) -> Candidate | None:
    service = change.service
    own = facts.symptom(service)
    if own is not None and minutes(own.onset, change.at) < -ROLLOUT_MIN:
        own = None  # already degraded before the change: the change did not start it
    affected: list[Symptom] = []
    # Trouble that a dependency had first is inherited, not made by this change.
    inherited = 1.0
    if own is not None:
        if facts.degraded_dependency_before(service, own.onset) is not None:
            inherited = 0.3
        severity = own.severity * inherited
        first = own
        readings = own.readings[:2]
    else:
        # A release that broke its callers: they degraded after it, and nothing
        # else they depend on had failed first.
        callers = [
            sym
            for sym in (facts.symptom(c) for c in facts.waiting_callers(service))
            if sym is not None
            and minutes(sym.onset, change.at) >= -2.0
            and facts.degraded_dependency_before(sym.service, sym.onset, exclude=[service]) is None
        ]
        if not callers:
            return _unconfirmed(facts, change)
        first = min(callers, key=lambda c: (c.onset, c.service))
        severity = 0.6 * max(c.severity for c in callers)
        readings = first.readings[:1]
        affected = callers
    gap = minutes(first.onset, change.at)
    plausibility = PLAUSIBILITY.get(change.kind, 0.5)
    evidence: list[Evidence] = [
        _change_evidence(change),
        *(metric_evidence(r, severity * plausibility) for r in readings),
        temporal_evidence(
            f"{first.service} began to degrade {formatting.minutes(gap)} after the "
            f"{change.kind} of {service}",
            _gap_strength(gap) * (1.0 if inherited == 1.0 else 0.4),
            first.onset,
            effect=first.service,
        ),
    ]
    explained = downstream_of(facts, [service], change.at) or affected
    impact = impact_evidence(facts, service, explained)
    evidence.append(impact.model_copy(update={"strength": impact.strength * inherited}))
    evidence += facts.alert_evidence(service)
    category = CATEGORY.get(change.kind, RootCause.CONFIG_CHANGE)
    effect = f"raised its {PHRASE.get(readings[0].signal, readings[0].signal)}"
    if own is None:
        effect = f"broke its callers ({', '.join(c.service for c in affected[:3])})"
    title = f"{_title_head(change, category)} {effect}"
    if category is not RootCause.BAD_DEPLOYMENT and change.description:
        title += f": {change.description}"
    return Candidate(category=category, target=service, title=title, evidence=tuple(evidence))


def _change_evidence(change: ChangeRecord) -> Evidence:
    """The change itself, as every candidate it leads to cites it."""
    what = f"{change.kind} of {change.service}"
    if change.version:
        what += f" {change.previous_version or '?'} -> {change.version}"
    return Evidence(
        kind=EvidenceKind.CHANGE,
        summary=f"{what} at {hhmm(change.at)}: {change.description}".strip(": "),
        source=change.id,
        at=change.at,
        strength=PLAUSIBILITY.get(change.kind, 0.5),
    )


def _title_head(change: ChangeRecord, category: RootCause) -> str:
    """ "Release v2.3.1 of checkout" or "Config change on checkout"."""
    if category is RootCause.BAD_DEPLOYMENT:
        return " ".join(["Release", change.version or "", "of", change.service]).replace("  ", " ")
    return f"{change.kind.replace('_', ' ').capitalize()} change on {change.service}"


def _unmeasured(facts: Facts, service: str) -> bool:
    return all(
        (r := facts.reading(service, signal)) is None or r.missing for signal in SYMPTOM_SIGNALS
    )


def _unconfirmed(facts: Facts, change: ChangeRecord) -> Candidate | None:
    """A change to an alerting service that nothing measures: a low-confidence candidate."""
    service = change.service
    alerted = facts.alerts_naming(service)
    if not alerted or not _unmeasured(facts, service):
        return None  # measured and healthy (a distractor), or not what alerted
    first = min(a.starts_at for a in alerted)
    gap = minutes(first, change.at)
    evidence = [
        _change_evidence(change),
        temporal_evidence(
            f"{service} alerted {gap:.0f} min after the {change.kind}; "
            "no metrics to tell whether the change degraded it",
            UNCONFIRMED * _gap_strength(gap),
            first,
            effect=service,
        ),
        *facts.alert_evidence(service),
    ]
    category = CATEGORY.get(change.kind, RootCause.CONFIG_CHANGE)
    title = f"{_title_head(change, category)}, {formatting.minutes(gap)} before it alerted"
    title += " (unconfirmed: no metrics)"
    return Candidate(category=category, target=service, title=title, evidence=tuple(evidence))


def _detect(facts: Facts, category: RootCause) -> list[Candidate]:
    out = []
    for change in facts.ctx.changes:
        if CATEGORY.get(change.kind, RootCause.CONFIG_CHANGE) is not category:
            continue
        if change.minutes_before_onset < -5.0:
            continue  # made after the incident began: a response, not a cause
        found = _judge(facts, change)
        if found is not None:
            out.append(found)
    return out


def detect_bad_deployment(facts: Facts) -> list[Candidate]:
    return _detect(facts, RootCause.BAD_DEPLOYMENT)


def detect_config_change(facts: Facts) -> list[Candidate]:
    return _detect(facts, RootCause.CONFIG_CHANGE)
