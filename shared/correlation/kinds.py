"""What an alert says about its service or host, read from its rule's name and labels.

Correlation asks of each alert whether it is the kind of trouble another
alert's cause would raise. The kinds follow the standard rule sets that most
Prometheus installs carry (kube-prometheus, node-exporter mixins, blackbox
probes), matched on words of the alert name, not on whole names, so a team's
own ``CheckoutLatencyHigh`` reads like ``HighLatency``:

- ``HOST_DOWN``: a host stopped answering (``KubeNodeNotReady``, ``TargetDown``
  on a host, ``NodeDown``, ``InstanceDown``): everything running on it suffers.
- ``STORAGE``: a filesystem or volume filling (``NodeFilesystem*``,
  ``KubePersistentVolumeFillingUp``, ``*Disk*``): only storage alerts of what
  runs on the host share that cause.
- ``SYMPTOM``: the service itself is unhealthy (errors, latency, failed
  probes, pods not ready, crash loops, error budget): what a failing host or
  dependency raises on the services it takes down. Unknown names are symptoms:
  most alerts on a service are about its health.
- ``CHRONIC``: slow conditions with a life of their own (a certificate
  expiring in days, an autoscaler at its maximum, consumer lag, CPU
  throttling, a failed batch job, clock drift, NIC errors): they neither join
  nor gather an incident by relation; a storm's cause does not raise them.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache


class AlertKind(StrEnum):
    HOST_DOWN = "host_down"
    STORAGE = "storage"
    SYMPTOM = "symptom"
    CHRONIC = "chronic"


_CHRONIC = re.compile(
    r"cert|expir|hpa|autoscal|maxedout|lag|throttl|jobfail|job_fail|cronjob|clock|ntp|"
    r"receiveerr|transmiterr|networkerr|backup|licen|quota|version|deprecat|watchdog",
    re.IGNORECASE,
)
_STORAGE = re.compile(r"filesystem|disk|inode|volume|pvc|storage", re.IGNORECASE)
_HOST_DOWN = re.compile(
    r"nodenotready|nodeunreachable|nodedown|hostdown|instancedown|targetdown|"
    r"hostunreachable|nodeunschedulable",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def kind_of(name: str, *, on_host_only: bool) -> AlertKind:
    """The kind of an alert named ``name``; ``on_host_only`` when it names a host, no service."""
    compact = name.replace("_", "").replace("-", "")
    if _STORAGE.search(compact):
        return AlertKind.STORAGE
    if _CHRONIC.search(compact):
        return AlertKind.CHRONIC
    if on_host_only and _HOST_DOWN.search(compact):
        return AlertKind.HOST_DOWN
    return AlertKind.SYMPTOM
