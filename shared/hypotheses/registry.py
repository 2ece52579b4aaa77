"""The explicit registry of detectors, one per root-cause category.

Explicit rather than discovered: adding a detector is one line here, and the
tests can assert that every category of the taxonomy has one.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.hypotheses.detectors import (
    certificate,
    changes,
    cpu,
    database,
    dependency,
    disk,
    dns,
    memory,
    node,
    traffic,
)
from shared.hypotheses.facts import Facts
from shared.models.hypothesis import Candidate, RootCause

Detector = Callable[[Facts], list[Candidate]]

DETECTORS: dict[RootCause, Detector] = {
    RootCause.BAD_DEPLOYMENT: changes.detect_bad_deployment,
    RootCause.CONFIG_CHANGE: changes.detect_config_change,
    RootCause.DISK_EXHAUSTION: disk.detect,
    RootCause.MEMORY_LEAK: memory.detect,
    RootCause.CPU_SATURATION: cpu.detect,
    RootCause.TRAFFIC_SURGE: traffic.detect,
    RootCause.DEPENDENCY_FAILURE: dependency.detect,
    RootCause.DATABASE_SATURATION: database.detect,
    RootCause.CERTIFICATE_EXPIRY: certificate.detect,
    RootCause.DNS_FAILURE: dns.detect,
    RootCause.NODE_FAILURE: node.detect,
}
