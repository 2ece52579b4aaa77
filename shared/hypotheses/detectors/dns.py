"""dns_failure: name lookups slow or failing everywhere at once.

The tell is breadth: DNS lookup time rising for many probed services
together, which no single service's failure explains. The DNS service itself
is recognised by its place in the topology (a leaf nearly every service
depends on) and its own degradation, with a ``dns`` name only as tie-breaker.
"""

from __future__ import annotations

from shared.formatting import number
from shared.hypotheses.detectors._impact import downstream_of, impact_evidence, lead_evidence
from shared.hypotheses.facts import Facts, clamp, metric_evidence
from shared.models.analysis import SignalReading
from shared.models.hypothesis import Candidate, RootCause


def _slow(reading: SignalReading) -> bool:
    return reading.ratio is not None and reading.ratio >= 3.0 and reading.deviation >= 5


def resolver(facts: Facts) -> str | None:
    """The service most likely to be the cluster's DNS."""
    services = [s for s in facts.services() if facts.node(s) is not None]
    if not services:
        return None
    best: tuple[float, str] | None = None
    for name in services:
        fan_in = len(facts.callers(name)) / max(1, len(services) - 1)
        leaf = not facts.depends_on(name)
        if (fan_in < 0.5 or not leaf) and "dns" not in name.lower():
            continue
        own = facts.symptom(name)
        score = fan_in + (0.5 if own else 0.0) + (0.3 if "dns" in name.lower() else 0.0)
        if best is None or (score, name) > best:
            best = (score, name)
    return best[1] if best else None


def detect(facts: Facts) -> list[Candidate]:
    probes = facts.readings("dns_lookup")
    slow = [r for r in probes if _slow(r)]
    target = resolver(facts)
    own = facts.symptom(target) if target else None
    if not slow and not (own is not None and target is not None and "dns" in target.lower()):
        return []
    share = len(slow) / len(probes) if probes else 0.0
    strength = clamp(0.5 + 0.5 * share) if slow else 0.0
    evidence = [
        metric_evidence(
            r, strength, f"DNS lookups from {r.entity}'s probe {number(r.ratio or 0)}x slower"
        )
        for r in slow[:4]
    ]
    onset = min((r.onset for r in slow if r.onset is not None), default=None)
    name = target or "dns"
    if own is not None:
        evidence.append(
            metric_evidence(own.readings[0], 0.6 * own.severity + (0.2 if slow else 0.0))
        )
        onset = min(onset, own.onset) if onset else own.onset
    callers = facts.callers(name) if target else tuple(facts.services())
    explained = downstream_of(facts, [name, *callers], onset) if target else facts.degraded()
    evidence += [
        impact_evidence(facts, name, explained),
        lead_evidence(name, onset, explained, exclude=name),
        *facts.alert_evidence(name),
    ]
    return [
        Candidate(
            category=RootCause.DNS_FAILURE,
            target=name,
            title=f"DNS resolution through {name} is failing"
            + (f" ({len(slow)} of {len(probes)} probes slow)" if slow else ""),
            evidence=tuple(evidence),
        )
    ]
