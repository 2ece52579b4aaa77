"""dependency_failure: a service its callers depend on failed first.

The failing dependency is the deepest degraded service on the path: it is
degraded, its callers degraded no earlier than it did, and none of its own
dependencies was degraded before it. When the dependency's failure has a
cause of its own (a release, a full disk ...), the merge step lets that more
specific candidate explain this one away.
"""

from __future__ import annotations

from shared.hypotheses.detectors._impact import downstream_of, impact_evidence, lead_evidence
from shared.hypotheses.facts import Facts, metric_evidence
from shared.models.hypothesis import Candidate, RootCause


def detect(facts: Facts) -> list[Candidate]:
    out = []
    for sym in facts.degraded():
        service = sym.service
        if facts.degraded_dependency_before(service, sym.onset) is not None:
            continue
        callers = facts.affected_callers(service, sym.onset)
        if not callers:
            continue
        explained = downstream_of(facts, [service], sym.onset)
        evidence = [metric_evidence(r, sym.severity) for r in sym.readings[:2]]
        evidence += [
            impact_evidence(facts, service, explained),
            lead_evidence(service, sym.onset, explained, exclude=service),
            *facts.alert_evidence(service),
        ]
        names = ", ".join(c.service for c in callers[:3])
        out.append(
            Candidate(
                category=RootCause.DEPENDENCY_FAILURE,
                target=service,
                title=f"{service} failed first and its callers ({names}) followed",
                evidence=tuple(evidence),
            )
        )
    return out
