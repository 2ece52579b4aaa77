"""certificate_expiry: a TLS certificate expired and the probe started failing."""

from __future__ import annotations

from datetime import timedelta

from shared.hypotheses.detectors._impact import downstream_of, impact_evidence, lead_evidence
from shared.hypotheses.facts import Facts, metric_evidence, probe_severity
from shared.models.hypothesis import Candidate, RootCause


def detect(facts: Facts) -> list[Candidate]:
    out = []
    for service in facts.services():
        cert = facts.reading(service, "cert_expiry")
        if cert is None or cert.current is None or cert.current > 1.0:
            continue
        expired = cert.current <= 0.0
        expired_at = facts.now + timedelta(days=cert.current)
        strength = 1.0 if expired else 0.4
        verb = "expired" if expired else "expires"
        evidence = [
            metric_evidence(
                cert.model_copy(update={"onset": expired_at}),
                strength,
                f"TLS certificate of {service} {verb} at {expired_at:%Y-%m-%d %H:%M}Z",
            )
        ]
        probe = facts.reading(service, "probe_success")
        if probe is not None and probe_severity(probe) > 0:
            evidence.append(metric_evidence(probe, 1.0, f"blackbox probe of {service} failing"))
        explained = downstream_of(facts, [service], expired_at)
        evidence += [
            impact_evidence(facts, service, explained),
            lead_evidence(f"{service} certificate", expired_at, explained),
            *facts.alert_evidence(service),
        ]
        out.append(
            Candidate(
                category=RootCause.CERTIFICATE_EXPIRY,
                target=service,
                title=f"TLS certificate of {service} {verb}",
                evidence=tuple(evidence),
            )
        )
    return out
