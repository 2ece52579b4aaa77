"""disk_exhaustion: a filesystem filled up and what runs on the host broke."""

from __future__ import annotations

from shared.formatting import percent
from shared.hypotheses.detectors._impact import downstream_of, impact_evidence, lead_evidence
from shared.hypotheses.facts import Facts, clamp, metric_evidence
from shared.models.hypothesis import Candidate, RootCause

FULL = 0.05
"""Free share under which a filesystem counts as exhausted."""


def detect(facts: Facts) -> list[Candidate]:
    out = []
    for host in facts.hosts():
        disk = facts.reading(host, "disk_free")
        if disk is None or disk.current is None or disk.baseline is None:
            continue
        dropped = disk.baseline - disk.current
        if disk.current <= FULL:
            strength = clamp(1.0 - disk.current / FULL) * (1.0 if dropped >= 0.02 else 0.5)
        elif disk.current <= 0.15 and (disk.slope_per_hour or 0.0) < 0:
            hours_left = disk.current / -(disk.slope_per_hour or -1e-9)
            strength = 0.35 if hours_left <= 1.0 else 0.0
        else:
            strength = 0.0
        if strength <= 0.05:
            continue
        explained = downstream_of(facts, facts.services_on(host), disk.onset)
        evidence = [
            metric_evidence(
                disk,
                strength,
                f"{host} free space {percent(disk.baseline)} → {percent(disk.current)} "
                f"({disk.detail})",
            ),
            impact_evidence(facts, host, explained),
            lead_evidence(host, disk.onset, explained, horizon=240.0),
            *facts.alert_evidence(host),
        ]
        out.append(
            Candidate(
                category=RootCause.DISK_EXHAUSTION,
                target=host,
                title=f"Filesystem {disk.detail.partition('=')[2] or ''} on {host} is full".replace(
                    "  ", " "
                ),
                evidence=tuple(evidence),
            )
        )
    return out
