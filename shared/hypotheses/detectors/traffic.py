"""traffic_surge: load far above normal arriving at a service from outside.

The surge's target is where the load entered: a service whose request rate
rose while none of its callers' did. Services it calls see the surge too, but
as a consequence.

The surge must be able to reach the alert: the surged service or a dependency
it strained is one a fault could have reached an alerting service from
(``shared.rca.rank.attached_services``: not cut off by a calm measured
service, nor behind a call the alerting side does not wait for). A workflow's
step flooded by its own runs explains that workflow, not an alert upstream.
"""

from __future__ import annotations

import math

from shared.formatting import number
from shared.hypotheses.detectors._impact import downstream_of, impact_evidence, lead_evidence
from shared.hypotheses.facts import Facts, clamp, metric_evidence
from shared.models.analysis import SignalReading
from shared.models.hypothesis import Candidate, RootCause
from shared.rca.rank import attached_services

SURGE = 1.5


def surge_ratio(reading: SignalReading | None) -> float:
    """How many times normal the load is: against the baseline and against the level
    just before it rose, whichever is smaller (a daily trend is not a surge)."""
    if reading is None or reading.ratio is None or reading.deviation < 4:
        return 1.0
    step = reading.step_ratio
    return min(reading.ratio, step) if step is not None else reading.ratio


def _surging(reading: SignalReading | None) -> bool:
    return surge_ratio(reading) >= SURGE


def detect(facts: Facts) -> list[Candidate]:
    out = []
    attached: set[str] | None = None
    for service in facts.services():
        requests = facts.reading(service, "request_rate")
        ratio = surge_ratio(requests)
        if requests is None or ratio < SURGE:
            continue
        if any(_surging(facts.reading(c, "request_rate")) for c in facts.callers(service)):
            continue
        strength = clamp(math.log(ratio) / math.log(3.0))
        evidence = [metric_evidence(requests, strength)]
        strained = []
        for name in (service, *facts.depends_on(service)):
            for signal in ("cpu", "latency_p99"):
                reading = facts.reading(name, signal)
                if reading is not None and reading.deviation >= 5:
                    strained.append(reading)
        for reading in strained[:3]:
            evidence.append(metric_evidence(reading, 0.4))
        # The load travels into the dependencies that saw it too.
        strained_deps = [
            d for d in facts.depends_on(service) if _surging(facts.reading(d, "request_rate"))
        ]
        attached = attached_services(facts.ctx) if attached is None else attached
        if not attached & {service, *strained_deps, *(r.entity for r in strained)}:
            continue
        explained = downstream_of(facts, [service, *strained_deps], requests.onset)
        evidence += [
            impact_evidence(facts, service, explained),
            lead_evidence(service, requests.onset, explained),
            *facts.alert_evidence(service),
        ]
        out.append(
            Candidate(
                category=RootCause.TRAFFIC_SURGE,
                target=service,
                title=f"Traffic to {service} surged to {number(ratio)}x its normal rate",
                evidence=tuple(evidence),
            )
        )
    return out
