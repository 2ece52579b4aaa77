"""dependency_failure: a service its callers depend on failed first.

The failing dependency is the deepest degraded service on the path: it is
degraded, its callers degraded no earlier than it did, and none of its own
dependencies was degraded before it. When the dependency's failure has a
cause of its own (a release, a full disk ...), the merge step lets that more
specific candidate explain this one away.

A failure propagates to callers within minutes: a dependency whose trouble
began before the incident's onset window (``shared.rca.series.ONSET_WINDOW``
before the alert) has its timing evidence decayed by how much older it is, as
the change-point methods (BARO, the RCA core) only look inside that window.

The callers that followed must lead to the alert: a dependency whose every path
to an alerting service that shows a change crosses a measured service that did
not move is not the alert's cause (``shared.rca.rank.attached_services``).
"""

from __future__ import annotations

from shared.hypotheses.detectors._impact import downstream_of, impact_evidence, lead_evidence
from shared.hypotheses.facts import Facts, metric_evidence, minutes
from shared.models.hypothesis import Candidate, Evidence, EvidenceKind, RootCause
from shared.rca.rank import attached_services
from shared.rca.series import ONSET_WINDOW

STALE_FLOOR = 0.3
"""The least share of its strength a stale onset keeps."""


def _decayed(evidence: Evidence, age_minutes: float) -> Evidence:
    """Timing evidence of an onset older than the onset window, scaled by window/age."""
    window = ONSET_WINDOW.total_seconds() / 60.0
    if evidence.kind is not EvidenceKind.TEMPORAL or age_minutes <= window:
        return evidence
    factor = max(STALE_FLOOR, window / age_minutes)
    return evidence.model_copy(update={"strength": evidence.strength * factor})


def detect(facts: Facts) -> list[Candidate]:
    out = []
    attached: set[str] | None = None
    for sym in facts.degraded():
        service = sym.service
        if facts.degraded_dependency_before(service, sym.onset) is not None:
            continue
        attached = attached_services(facts.ctx) if attached is None else attached
        if service not in attached:
            continue
        callers = facts.affected_callers(service, sym.onset)
        if not callers:
            continue
        explained = downstream_of(facts, [service], sym.onset)
        evidence = [metric_evidence(r, sym.severity) for r in sym.readings[:2]]
        evidence += [
            impact_evidence(facts, service, explained),
            _decayed(
                lead_evidence(service, sym.onset, explained, exclude=service),
                minutes(facts.now, sym.onset),
            ),
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
