"""cpu_saturation: a service at or over its CPU limit, latency up, traffic normal."""

from __future__ import annotations

from shared.formatting import percent
from shared.hypotheses.detectors._impact import downstream_of, impact_evidence, lead_evidence
from shared.hypotheses.facts import Facts, clamp, latency_severity, metric_evidence
from shared.models.hypothesis import Candidate, RootCause


def detect(facts: Facts) -> list[Candidate]:
    out = []
    for service in facts.services():
        cpu = facts.reading(service, "cpu")
        if cpu is None or cpu.current is None or cpu.baseline is None:
            continue
        if cpu.current < 0.8 or cpu.deviation < 4:
            continue
        level = clamp((cpu.current - 0.7) / 0.3)
        rise = clamp((cpu.current - cpu.baseline) / 0.4)
        strength = 0.6 * level + 0.4 * rise
        requests = facts.reading(service, "request_rate")
        surge = requests.ratio if requests is not None and requests.ratio is not None else 1.0
        if surge >= 1.4:
            # More work arrived: the CPU is a consequence of the load, not its own cause.
            strength *= clamp(1.0 - (surge - 1.0) / 2.0, 0.15, 1.0)
        evidence = [metric_evidence(cpu, strength)]
        latency = facts.reading(service, "latency_p99")
        if latency is not None and latency_severity(latency) > 0:
            evidence.append(metric_evidence(latency, 0.5 * latency_severity(latency)))
        explained = downstream_of(facts, [service], cpu.onset)
        evidence += [
            impact_evidence(facts, service, explained),
            lead_evidence(service, cpu.onset, explained),
            *facts.alert_evidence(service),
        ]
        out.append(
            Candidate(
                category=RootCause.CPU_SATURATION,
                target=service,
                title=f"{service} is CPU saturated ({percent(cpu.current)} of its limit)",
                evidence=tuple(evidence),
            )
        )
    return out
