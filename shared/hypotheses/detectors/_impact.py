"""Shared judgement of how much of the incident a cause would explain."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from shared.hypotheses.facts import Facts, Symptom, clamp, hhmm, precedence, temporal_evidence
from shared.models.hypothesis import Evidence, EvidenceKind


def downstream_of(facts: Facts, services: Iterable[str], since: datetime | None) -> list[Symptom]:
    """Symptoms of ``services`` and of everything calling them that began after ``since``."""
    found: dict[str, Symptom] = {}
    for service in services:
        own = facts.symptom(service)
        if own is not None:
            found[service] = own
        for sym in facts.affected_callers(service, since):
            found[sym.service] = sym
    return sorted(found.values(), key=lambda s: (s.onset, s.service))


def impact_evidence(facts: Facts, target: str, explained: list[Symptom]) -> Evidence:
    """Topology evidence: which degraded services (and alerting ones) the cause reaches."""
    coverage = facts.coverage_of(explained)
    focus = {s.service for s in facts.focus_symptoms()}
    reaches_focus = bool(focus & {s.service for s in explained}) or not focus
    names = ", ".join(s.service for s in explained[:6]) or "none"
    strength = clamp(0.25 + 0.55 * coverage + (0.2 if reaches_focus else 0.0))
    return Evidence(
        kind=EvidenceKind.TOPOLOGY,
        summary=f"{target} reaches {len(explained)} degraded service(s): {names}",
        source="topology",
        strength=strength if explained else 0.1,
    )


def lead_evidence(
    cause_name: str,
    cause_at: datetime | None,
    effects: list[Symptom],
    *,
    horizon: float = 60.0,
    exclude: str | None = None,
) -> Evidence:
    """Temporal evidence: the cause's onset against the earliest effect's.

    ``exclude`` leaves out a service whose own symptom *is* the cause (a failing
    dependency is compared with its callers, not with itself).
    """
    others = [s for s in effects if s.service != exclude]
    effect_at = min((s.onset for s in others), default=None)
    strength = precedence(cause_at, effect_at, horizon=horizon)
    first = min(others, key=lambda s: (s.onset, s.service)) if others else None
    if first is None:
        text = f"{cause_name} changed at {hhmm(cause_at)}; no effect onset to compare"
    else:
        text = (
            f"{cause_name} began at {hhmm(cause_at)}, "
            f"{first.service} degraded from {hhmm(first.onset)}"
        )
    return temporal_evidence(text, strength, cause_at, effect=first.service if first else "")
