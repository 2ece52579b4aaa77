"""traffic_surge: load far above normal arriving at a service from outside.

The surge's target is where the load entered: a service whose request rate
rose while none of its callers' did. Services it calls see the surge too, but
as a consequence.

The surge must be able to reach the alert: load flows down every call, waited
for or not, and comes back as delay or failure only through calls waited for,
so the surged service or something under it must be one an alerting service
waits on (``shared.rca.rank.felt_by_alert``). A workflow's step flooded by its
own runs explains that workflow, not an alert on what starts it; a batch job
flooding a database the alerting service reads does explain it.
"""

from __future__ import annotations

import math

from shared.formatting import number
from shared.hypotheses.detectors._impact import downstream_of, impact_evidence, lead_evidence
from shared.hypotheses.facts import Facts, clamp, metric_evidence
from shared.models.analysis import SignalReading
from shared.models.hypothesis import Candidate, RootCause
from shared.rca.rank import felt_by_alert, reachable

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
    felt = felt_by_alert(facts.ctx)
    depends = {n: node.depends_on for n, node in facts.ctx.neighbourhood.services.items()}
    for service in facts.services():
        requests = facts.reading(service, "request_rate")
        ratio = surge_ratio(requests)
        if requests is None or ratio < SURGE:
            continue
        if any(_surging(facts.reading(c, "request_rate")) for c in facts.callers(service)):
            continue
        if felt is not None and not felt & reachable([service], depends):
            continue  # its load reaches nothing the alerting services wait on
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
