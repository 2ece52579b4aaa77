"""What an alert says about its service or host, read from its rule's name and labels.

Correlation asks of each alert which cause would raise it. The kinds follow
the standard rule sets that most Prometheus installs carry (kube-prometheus,
node-exporter mixins, blackbox probes), matched on words of the alert name,
not on whole names, so a team's own ``CheckoutLatencyHigh`` reads like
``HighLatency``:

- ``HOST_DOWN``: a host stopped answering (``KubeNodeNotReady``, ``TargetDown``
  on a host, ``NodeDown``, ``InstanceDown``): everything running on it suffers.
- ``STORAGE``: a filesystem or volume filling (``NodeFilesystem*``,
  ``KubePersistentVolumeFillingUp``, ``*Disk*``): only storage alerts of what
  runs on the host share that cause.
- ``READINESS``: a pod of the service is not ready (``KubePodNotReady``). A dead
  host takes the one replica it runs; a failing dependency shows first in the
  service's own requests, its pods' readiness after.
- ``REPLICAS``: a workload runs fewer replicas than desired
  (``KubeDeploymentReplicasMismatch``, ``*ReplicasUnavailable``): pods were
  lost and not replaced, what a dead host leaves behind. These rules carry a
  long ``for:`` (15 minutes in kube-prometheus), so they fire late.
- ``CRASH``: a container's own process keeps dying (``KubePodCrashLooping``,
  OOM kills): about that pod, not something a caller's trouble raises. It
  belongs with its service only where that service is the cause.
- ``SYMPTOM``: the service itself is unhealthy (errors, latency, failed
  probes, error budget): what a failing host or dependency raises on the
  services it takes down. Unknown names are symptoms: most alerts on a
  service are about its health.
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
    READINESS = "readiness"
    REPLICAS = "replicas"
    CRASH = "crash"
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
_CRASH = re.compile(r"crashloop|oomkill|outofmemory|restarting|backoff", re.IGNORECASE)
_REPLICAS = re.compile(r"replicas|unavailable|rolloutstuck", re.IGNORECASE)
_READINESS = re.compile(r"notready|unready|readiness", re.IGNORECASE)


@lru_cache(maxsize=4096)
def kind_of(name: str, *, on_host_only: bool) -> AlertKind:
    """The kind of an alert named ``name``; ``on_host_only`` when it names a host, no service."""
    compact = name.replace("_", "").replace("-", "")
    if _STORAGE.search(compact):
        return AlertKind.STORAGE
    if _CHRONIC.search(compact):
        return AlertKind.CHRONIC
    if on_host_only:
        return AlertKind.HOST_DOWN if _HOST_DOWN.search(compact) else AlertKind.SYMPTOM
    if _CRASH.search(compact):
        return AlertKind.CRASH
    if _REPLICAS.search(compact):
        return AlertKind.REPLICAS
    if _READINESS.search(compact):
        return AlertKind.READINESS
    return AlertKind.SYMPTOM
