"""node_failure: a host stopped answering, taking the services on it down."""

from __future__ import annotations

from shared.hypotheses.detectors._impact import downstream_of, impact_evidence, lead_evidence
from shared.hypotheses.facts import Facts, clamp, metric_evidence
from shared.models.hypothesis import Candidate, RootCause


def detect(facts: Facts) -> list[Candidate]:
    out = []
    for host in facts.hosts():
        up = facts.reading(host, "up")
        if up is None or up.current is None:
            found = _without_scrapes(facts, host)
            if found is not None:
                out.append(found)
            continue
        if up.baseline is None or up.baseline < 0.9:
            continue
        down = up.current <= 0.5
        flapping = not down and up.recent_min is not None and up.recent_min <= 0.5
        if not (down or flapping):
            continue
        strength = clamp(1.0 - up.current) if down else 0.45
        explained = downstream_of(facts, facts.services_on(host), up.onset)
        evidence = [
            metric_evidence(
                up, strength, f"{host} stopped answering scrapes (up {up.current:.0f})"
            ),
            impact_evidence(facts, host, explained),
            lead_evidence(host, up.onset, explained),
            *facts.alert_evidence(host),
        ]
        hosted = ", ".join(facts.services_on(host)) or "no known services"
        out.append(
            Candidate(
                category=RootCause.NODE_FAILURE,
                target=host,
                title=f"Host {host} is down ({hosted} run there)",
                evidence=tuple(evidence),
            )
        )
    return out


def _without_scrapes(facts: Facts, host: str) -> Candidate | None:
    """No ``up`` series for the host: an alert naming it, with what runs there
    degrading at once, still points at the host (weakly: nothing measured it)."""
    alerts = facts.alert_evidence(host)
    hosted = facts.services_on(host)
    if not alerts or not hosted:
        return None
    symptoms = [s for s in (facts.symptom(name) for name in hosted) if s is not None]
    if not symptoms:
        return None
    since = min(a.at for a in alerts if a.at is not None) if alerts else None
    explained = downstream_of(facts, hosted, None)
    evidence = [
        impact_evidence(facts, host, explained),
        lead_evidence(host, since, explained),
        *alerts,
    ]
    return Candidate(
        category=RootCause.NODE_FAILURE,
        target=host,
        title=f"Host {host} alerted and {len(symptoms)} of {len(hosted)} services on it degraded",
        evidence=tuple(evidence),
    )
