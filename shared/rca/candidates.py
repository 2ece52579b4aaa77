"""The topology-aware ranking as detector candidates, beside the category detectors.

Each ranked service (the first ``TOP``) becomes a candidate whose evidence
strengths grow with its rank score, so the confidence engine keeps the
ranking's order among them. Its category is what its evidence supports: a
category detector's, when one already names the service (their evidence is
merged, so the specific mechanism is kept and gains the topology), else
read from the strongest series (CPU, memory, load, or a latency/error
failure that its callers depend on).
"""

from __future__ import annotations

from collections.abc import Sequence

from shared import formatting
from shared.hypotheses.facts import Facts, clamp, hhmm
from shared.models.analysis import SignalReading
from shared.models.hypothesis import Candidate, Evidence, EvidenceKind, RootCause
from shared.rca.rank import Ranked, rank_services
from shared.rca.series import SIGNAL_PREFIX

TOP = 5
LOAD_WORDS = ("request_rate", "requests", "workload")


def category_of(reading: SignalReading) -> RootCause:
    """What a service's strongest change says happened to it."""
    name = reading.signal.removeprefix(SIGNAL_PREFIX).lower()
    if "cpu" in name:
        return RootCause.CPU_SATURATION
    if "memory" in name:
        return RootCause.MEMORY_LEAK
    if any(w in name for w in LOAD_WORDS) and reading.deviation > 0:
        return RootCause.TRAFFIC_SURGE
    return RootCause.DEPENDENCY_FAILURE


def _describe(reading: SignalReading) -> str:
    name = reading.signal.removeprefix(SIGNAL_PREFIX)
    unit = reading.unit or formatting.unit_of(name)
    labels = f"{{{reading.detail}}}" if reading.detail else ""
    return (
        f"{name}{labels} {formatting.change(reading.baseline, reading.current, unit)} "
        f"(robust z {reading.deviation:+.1f}) since {hhmm(reading.onset)}"
    )


def _evidence(r: Ranked, focus: Sequence[str]) -> list[Evidence]:
    s = clamp(r.score)
    out = [
        Evidence(
            kind=EvidenceKind.METRIC,
            summary=_describe(reading),
            source=f"{reading.source}#{reading.detail}",
            at=reading.onset,
            strength=clamp((0.3 + 0.45 * s) * (1.0 if i == 0 else 0.8)),
        )
        for i, reading in enumerate(r.anomaly.readings[:2])
    ]
    where = ", ".join(focus) or "the alert"
    reach = (
        f"{r.service} is under {len(r.explains)} changed caller(s) on the path from {where}"
        if r.explains
        else f"{r.service} changed and nothing it calls did"
    )
    out.append(
        Evidence(kind=EvidenceKind.TOPOLOGY, summary=reach, source="rca", strength=0.2 + 0.5 * s)
    )
    order = "after a caller's (likely an effect)" if r.late else "no later than its callers'"
    out.append(
        Evidence(
            kind=EvidenceKind.TEMPORAL,
            summary=f"{r.service} changed at {hhmm(r.anomaly.onset)}, {order}",
            source=f"onset:{r.service}",
            at=r.anomaly.onset,
            strength=clamp((0.25 + 0.55 * s) * (0.5 if r.late else 1.0)),
        )
    )
    return out


def rca_candidates(facts: Facts, existing: Sequence[Candidate]) -> list[Candidate]:
    """Candidates for the best-ranked services (none when no series changed)."""
    ranked = rank_services(facts.ctx)[:TOP]
    focus = facts.ctx.neighbourhood.focus_services
    out = []
    for r in ranked:
        specific = [
            c.category
            for c in existing
            if c.target == r.service and c.category is not RootCause.DEPENDENCY_FAILURE
        ]
        category = specific[0] if specific else category_of(r.anomaly.readings[0])
        title = (
            f"{r.service} changed first where the symptoms lead: {_describe(r.anomaly.readings[0])}"
        )
        out.append(
            Candidate(
                category=category,
                target=r.service,
                title=title,
                evidence=(*_evidence(r, focus), *facts.alert_evidence(r.service)),
            )
        )
    return out
