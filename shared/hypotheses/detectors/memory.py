"""memory_leak: memory grew to the limit, then OOM kills and restarts."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.formatting import number, percent
from shared.hypotheses.detectors._impact import downstream_of, impact_evidence, lead_evidence
from shared.hypotheses.facts import Facts, clamp, metric_evidence
from shared.models.analysis import SignalReading
from shared.models.hypothesis import Candidate, RootCause

TREND_HOURS = 3.0
"""The span ``slope_per_hour`` is measured over (see ``enrichment.signals``)."""

PEAK_WINDOW = timedelta(minutes=30)
"""The onset window: a peak this recent before the alert is evidence as it stands."""
STILL_HIGH = 0.1
"""Memory now within this much of its peak is still high, however old the peak."""


def peak_evidence(memory: SignalReading, restarted: float, now: datetime) -> float:
    """The memory peak that still speaks for this incident.

    A peak inside the onset window, memory still near it, or restarts since
    (an OOM kill drops the level) keep it whole. Otherwise the peak has fallen
    back on its own, before the incident: it decays linearly to the current
    level over a second window, and is then no evidence at all.
    """
    assert memory.current is not None
    peak = memory.recent_max if memory.recent_max is not None else memory.current
    peak = max(peak, memory.current)
    if memory.recent_max_at is None or restarted > 0.0 or memory.current >= peak - STILL_HIGH:
        return peak
    age = now - memory.recent_max_at
    keep = clamp(1.0 - (age - PEAK_WINDOW) / PEAK_WINDOW)
    return memory.current + (peak - memory.current) * keep


def detect(facts: Facts) -> list[Candidate]:
    out = []
    for service in facts.services():
        memory = facts.reading(service, "memory")
        restarts = facts.reading(service, "restarts")
        if memory is None or memory.current is None or memory.baseline is None:
            continue
        restarted = 0.0
        recent_restarts = 0.0
        if restarts is not None and restarts.current is not None and restarts.baseline is not None:
            recent_restarts = restarts.current - restarts.baseline
            restarted = clamp(recent_restarts / 2.0)
        peak = peak_evidence(memory, restarted, facts.now)
        near_limit = clamp((peak - 0.7) / 0.25)
        growth = max(
            clamp((memory.slope_per_hour or 0.0) / 0.1), clamp((peak - memory.baseline) / 0.3)
        )
        if near_limit <= 0.0 or (growth < 0.2 and restarted == 0.0):
            continue
        strength = clamp(0.45 * near_limit + 0.25 * growth + 0.3 * restarted)
        evidence = [
            metric_evidence(
                memory,
                strength,
                f"memory of {service} reached {percent(peak)} of its limit "
                f"(baseline {percent(memory.baseline)}, {memory.detail})",
            )
        ]
        onset = memory.onset
        if (memory.slope_per_hour or 0.0) >= 0.03:
            # The climb spans the whole trend window: it began no later than its start.
            trend_start = facts.now - timedelta(hours=TREND_HOURS)
            onset = min(onset, trend_start) if onset else trend_start
        if restarted > 0 and restarts is not None:
            evidence.append(
                metric_evidence(
                    restarts,
                    restarted,
                    f"{service} containers restarted {number(recent_restarts)} times recently",
                )
            )
        explained = downstream_of(facts, [service], None)
        evidence += [
            impact_evidence(facts, service, explained),
            lead_evidence(f"{service} memory growth", onset, explained, horizon=360.0),
            *facts.alert_evidence(service),
        ]
        out.append(
            Candidate(
                category=RootCause.MEMORY_LEAK,
                target=service,
                title=f"{service} is leaking memory: at {percent(peak)} of its limit, OOM restarts",
                evidence=tuple(evidence),
            )
        )
    return out
