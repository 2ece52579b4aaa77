"""database_saturation: a database ran out of connections and its callers stalled."""

from __future__ import annotations

from shared.formatting import percent
from shared.hypotheses.detectors._impact import downstream_of, impact_evidence, lead_evidence
from shared.hypotheses.facts import Facts, clamp, metric_evidence
from shared.models.hypothesis import Candidate, RootCause


def detect(facts: Facts) -> list[Candidate]:
    out = []
    for service in facts.services():
        conns = facts.reading(service, "db_connections")
        if conns is None or conns.current is None or conns.baseline is None:
            continue
        peak = max(conns.current, conns.recent_max or 0.0)
        rose = conns.current - conns.baseline >= 0.2 or conns.deviation >= 4
        if peak < 0.8 or not rose:
            continue
        strength = clamp((peak - 0.6) / 0.35)
        explained = downstream_of(facts, [service], conns.onset)
        evidence = [
            metric_evidence(
                conns,
                strength,
                f"{service} connections at {percent(peak)} of max "
                f"(baseline {percent(conns.baseline)})",
            ),
            impact_evidence(facts, service, explained),
            lead_evidence(service, conns.onset, explained, horizon=120.0, exclude=service),
            *facts.alert_evidence(service),
        ]
        out.append(
            Candidate(
                category=RootCause.DATABASE_SATURATION,
                target=service,
                title=f"{service} ran out of connections ({percent(peak)} of max)",
                evidence=tuple(evidence),
            )
        )
    return out
