"""One labelled RCA case as a live tenant would see it, and the request it makes.

A dataset reader turns each labelled fault into an ``RcaCase``: the metric
history up to the alert (SPEC catalog names where a column maps onto one,
"other series" under their own names otherwise, every one with a ``service``
label), the call graph as topology, and one firing Alertmanager alert on the
entry service that users hit. The root cause is kept apart in ``truth`` and
read only for scoring: nothing of it reaches the request or the metrics.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.adapters.metrics.scenario_file import ScenarioFileMetrics, StoredSeries
from shared.ingestion.normalisers import normalise

FloatArray = npt.NDArray[np.float64]

TENANT = "bench"


@dataclass(frozen=True, slots=True)
class SeriesData:
    """One series: its metric name, labels and samples (time-sorted, finite values)."""

    name: str
    labels: Mapping[str, str]
    times: FloatArray
    values: FloatArray


@dataclass(frozen=True, slots=True)
class RcaCase:
    """A labelled fault: what the tenant sees, and (apart) what really happened."""

    system: str
    """The system or scenario the figures are grouped by (``low_traffic``, ``online-boutique``)."""
    case_id: str
    alert_time: datetime
    entry: str
    alert_name: str
    alert_summary: str
    depends_on: Mapping[str, tuple[str, ...]]
    instances: Mapping[str, tuple[str, ...]]
    series: tuple[SeriesData, ...]
    truth: str = field(repr=False)
    fault: str = field(default="", repr=False)
    async_calls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per caller, the dependencies it does not wait for (topology ``async_calls``)."""

    def metrics(self) -> ScenarioFileMetrics:
        """The case's history as the embedded metrics source (no file round trip)."""
        by_name: dict[str, list[StoredSeries]] = {}
        cutoff = self.alert_time.timestamp()
        for s in self.series:
            keep = s.times <= cutoff  # nothing after the alert exists yet
            if not keep.any():
                continue
            labels = {**s.labels, "__name__": s.name}
            by_name.setdefault(s.name, []).append(
                StoredSeries(labels=labels, times=s.times[keep], values=s.values[keep])
            )
        return ScenarioFileMetrics(by_name)

    def services(self) -> list[str]:
        names = set(self.depends_on) | {d for deps in self.depends_on.values() for d in deps}
        return sorted(names | {str(s.labels["service"]) for s in self.series})

    def topology(self) -> dict[str, Any]:
        return {
            "services": [
                {
                    "name": name,
                    "depends_on": list(self.depends_on.get(name, ())),
                    "async_calls": list(self.async_calls.get(name, ())),
                    "instances": list(self.instances.get(name, ())),
                }
                for name in self.services()
            ]
        }

    def webhook(self) -> dict[str, Any]:
        """The Alertmanager webhook the entry service's alert rule would send."""
        at = self.alert_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        labels = {"alertname": self.alert_name, "service": self.entry, "severity": "critical"}
        fingerprint = hashlib.sha256(f"{self.case_id}|{self.entry}".encode()).hexdigest()[:16]
        alert = {
            "status": "firing",
            "labels": labels,
            "annotations": {"summary": self.alert_summary},
            "startsAt": at,
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": fingerprint,
        }
        return {
            "version": "4",
            "status": "firing",
            "receiver": "sre-copilot",
            "groupKey": f'{{}}:{{alertname="{self.alert_name}"}}',
            "groupLabels": {"alertname": self.alert_name},
            "commonLabels": labels,
            "commonAnnotations": alert["annotations"],
            "externalURL": "",
            "truncatedAlerts": 0,
            "alerts": [alert],
        }

    def request(self) -> dict[str, Any]:
        """The context request a live incident for this alert would make."""
        normalised = normalise("alertmanager", self.webhook(), tenant_id=TENANT)
        return {
            "tenant_id": TENANT,
            "now": self.alert_time.isoformat(),
            "alerts": [a.to_doc() for a in normalised.alerts],
            "changes": [],
            "topology": self.topology(),
            "history": [],
        }


def regular(
    name: str,
    labels: Mapping[str, str],
    times: Iterable[float],
    values: Iterable[float],
) -> SeriesData | None:
    """A series from parallel sequences, dropping missing (NaN) samples; None when empty."""
    t = np.asarray(list(times), dtype=np.float64)
    v = np.asarray(list(values), dtype=np.float64)
    keep = np.isfinite(v) & np.isfinite(t)
    if not keep.any():
        return None
    order = np.argsort(t[keep], kind="stable")
    return SeriesData(name=name, labels=dict(labels), times=t[keep][order], values=v[keep][order])


def parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")
