"""The anomaly sweep: every catalog signal of a tenant, scored, filed as evidence or digested.

``sweep`` reads the last 48 hours of each signal of the signal catalog
(``shared.enrichment.signals``, with the tenant's selector overrides) for the
services and hosts of its topology (every one the source has when it has no
topology) through the metrics port, scores each entity's series with the
causal detector (``shared.anomaly``), and keeps a signal whose score reached
``THRESHOLD`` within the last ``RECENT`` as a finding at its most anomalous
moment. Then:

* a finding on a service or host of an open incident is filed with that
  incident (``IncidentAnomalies``), where its analysis can read it
  (``evidence_for``);
* every other finding goes to the tenant's digest of the day, in its time
  zone (``AnomalyDigest``).

It never pages: nothing here talks to chat. It returns values
(``SweepResult``) so a timer, ``sre-copilot anomalies run`` and a test share
this code; pure apart from the two ports it is handed. A run repeated over
the same hour files nothing twice: a finding of the same signal within
``EPISODE`` of one already filed is the same episode (the higher score kept).

Counters (``increase``), expiry timestamps (``until``) and the catch-all
``series`` signal are not swept: a restart count's every step is a new
extreme, a certificate's expiry is a forecast, and the catch-all would read
every series of a service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from shared.anomaly.detector import anomaly_scores
from shared.enrichment.signals import SignalCatalog, SignalSpec, aligned, render_or_all
from shared.errors import Conflict
from shared.models.anomaly import (
    AnomalyDigest,
    AnomalyFinding,
    IncidentAnomalies,
    digest_id,
    evidence_id,
)
from shared.models.base import iso
from shared.models.tenant import Tenant
from shared.ports.metrics import MetricsSource
from shared.ports.store import Container, DocumentStore, Filter, update_with_retry

Floats = npt.NDArray[np.float64]

HISTORY = timedelta(hours=48)
"""Two days: yesterday's same hours are history, so a daily pattern is not new."""
STEP = timedelta(minutes=2)
"""1441 samples, within what Prometheus answers (11,000 points per series)."""
MIN_HISTORY = 300
"""Samples (10 h) a signal needs before the recent hour to be scored: past the detector's
warm-up (its reference of earlier shapes starts at 200), so a short history's every
value is not new."""
RECENT = timedelta(hours=1)
"""Findings are taken from the last hour: a sweep every 15 minutes sees each one four times."""
THRESHOLD = 0.67
"""The NAB-optimal threshold of the standard profile (0.667), rounded."""
EPISODE = timedelta(hours=1)
"""A finding of the same signal within this of one filed is the same episode."""
SWEPT_TRANSFORMS = frozenset({"value"})


@dataclass(frozen=True, slots=True)
class SignalSeries:
    """One entity's signal on the sweep's time grid (NaN where it had no sample)."""

    spec: SignalSpec
    entity: str
    source: str
    times: Floats
    values: Floats


@dataclass(frozen=True, slots=True)
class Attached:
    """Findings filed with one open incident."""

    incident_id: str
    title: str
    findings: tuple[AnomalyFinding, ...]


@dataclass(frozen=True, slots=True)
class SweepResult:
    tenant_id: str
    at: datetime
    signals: int = 0
    """How many entity signals were read and scored."""
    attached: tuple[Attached, ...] = ()
    digest: tuple[AnomalyFinding, ...] = ()
    digest_day: str = ""
    errors: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant_id,
            "at": iso(self.at),
            "signals": self.signals,
            "attached": [
                {
                    "incident": a.incident_id,
                    "title": a.title,
                    "findings": [f.model_dump(mode="json") for f in a.findings],
                }
                for a in self.attached
            ],
            "digest": {
                "day": self.digest_day,
                "findings": [f.model_dump(mode="json") for f in self.digest],
            },
            "errors": list(self.errors),
        }


def sweep(
    tenant: Tenant,
    metrics: MetricsSource,
    store: DocumentStore,
    now: datetime,
    *,
    threshold: float = THRESHOLD,
) -> SweepResult:
    """Score every signal of ``tenant`` and file what deviated in the last hour."""
    catalog = SignalCatalog().with_overrides(tenant.signal_overrides)
    services = sorted({s.name for s in tenant.topology.services})
    hosts = sorted(tenant.topology.hosts())
    series, errors = read_signals(metrics, catalog.specs(), services, hosts, now)
    findings = [f for s in series if (f := finding(s, now, threshold)) is not None]
    incidents = open_incidents(store, tenant.id)
    attached: list[Attached] = []
    explained: set[str] = set()
    for doc in incidents:
        mine = [f for f in findings if concerns(doc, f)]
        if not mine:
            continue
        incident_id = str(doc["id"])
        _file_evidence(store, tenant.id, incident_id, mine, now)
        attached.append(Attached(incident_id, str(doc.get("title", "")), tuple(mine)))
        explained |= {f.key for f in mine}
    rest = tuple(f for f in findings if f.key not in explained)
    day = now.astimezone(ZoneInfo(tenant.timezone)).date().isoformat()
    if rest:
        _file_digest(store, tenant.id, day, rest, now)
    return SweepResult(tenant.id, now, len(series), tuple(attached), rest, day, tuple(errors))


def read_signals(
    metrics: MetricsSource,
    specs: Iterable[SignalSpec],
    services: Sequence[str],
    hosts: Sequence[str],
    now: datetime,
) -> tuple[list[SignalSeries], list[str]]:
    """Each swept catalog signal of each entity over ``HISTORY``; one query per signal."""
    start = now - HISTORY
    grid = start.timestamp() + STEP.total_seconds() * np.arange(
        int(HISTORY / STEP) + 1, dtype=np.float64
    )
    out: list[SignalSeries] = []
    errors: list[str] = []
    for spec in specs:
        if spec.transform not in SWEPT_TRANSFORMS:
            continue
        names = services if spec.scope == "service" else hosts
        query = render_or_all(spec.selector, names)
        result = metrics.query_range(query, start, now, STEP)
        denominator = None
        if spec.denominator is not None and result.ok:
            denominator = metrics.query_range(
                render_or_all(spec.denominator, names), start, now, STEP
            )
        failure = result.error or (denominator.error if denominator else None)
        if failure is not None:
            errors.append(f"{spec.name}: {failure}")
            continue
        errors += [f"{spec.name}: {w}" for w in result.warnings]
        numer = aligned(result, spec, grid)
        if denominator is not None:
            denom = aligned(denominator, spec, grid)
            numer = {
                key: _ratio(arr, den)
                for key, arr in numer.items()
                if (den := denom.get(key, denom.get((key[0], "")))) is not None
            }
        by_entity: dict[str, list[Floats]] = {}
        for (entity, _join), arr in sorted(numer.items()):
            by_entity.setdefault(entity, []).append(arr)
        for entity, arrays in sorted(by_entity.items()):
            values = _fold(arrays, spec)
            if np.isfinite(values).any():
                out.append(SignalSeries(spec, entity, query, grid, values))
    return out, errors


def finding(series: SignalSeries, now: datetime, threshold: float) -> AnomalyFinding | None:
    """The series' most anomalous recent moment, when its score reached ``threshold``."""
    seen = np.flatnonzero(np.isfinite(series.values))
    if seen.size == 0:
        return None
    # Scored from its first sample: a leading gap is not history.
    values = series.values[seen[0] :]
    times = series.times[seen[0] :]
    scores = anomaly_scores(values)
    recent = times > now.timestamp() - RECENT.total_seconds()
    if not recent.any() or int(np.argmax(recent)) < MIN_HISTORY:
        return None
    best = int(np.flatnonzero(recent)[0] + np.argmax(scores[recent]))
    if scores[best] < threshold or not np.isfinite(values[best]):
        return None
    spec = series.spec
    return AnomalyFinding(
        signal=spec.name,
        entity=series.entity,
        scope=spec.scope,
        unit=spec.unit,
        score=round(float(scores[best]), 3),
        at=datetime.fromtimestamp(float(times[best]), tz=UTC),
        value=round(float(values[best]), 6),
        baseline=round(float(np.nanmedian(values)), 6),
        source=series.source,
    )


def evidence_for(store: DocumentStore, tenant_id: str, incident_id: str) -> IncidentAnomalies:
    """The deviating signals filed with an incident (none filed: an empty document)."""
    doc = store.get(Container.CACHE, tenant_id, evidence_id(incident_id))
    if doc is None:
        return IncidentAnomalies(
            id=evidence_id(incident_id),
            tenant_id=tenant_id,
            incident_id=incident_id,
            updated_at=datetime.fromtimestamp(0, tz=UTC),
        )
    return IncidentAnomalies.from_doc(doc)


def digest_for(store: DocumentStore, tenant_id: str, day: str) -> AnomalyDigest | None:
    """The tenant's digest of ``day`` (``YYYY-MM-DD`` in its time zone), if anything deviated."""
    doc = store.get(Container.CACHE, tenant_id, digest_id(day))
    return None if doc is None else AnomalyDigest.from_doc(doc)


def _ratio(numer: Floats, denom: Floats) -> Floats:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, numer / denom, np.nan)


def _fold(arrays: list[Floats], spec: SignalSpec) -> Floats:
    """An entity's series as one, as the catalog says (the worst pod, the fullest disk)."""
    stack = np.vstack(arrays)
    if spec.reduce == "sum":
        empty = np.all(np.isnan(stack), axis=0)
        return np.where(empty, np.nan, np.nansum(stack, axis=0))
    reduce = np.fmax if spec.reduce == "max" else np.fmin
    folded: Floats = reduce.reduce(stack, axis=0)
    return folded


def open_incidents(store: DocumentStore, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's unresolved incidents that name services or hosts (stored documents)."""
    docs = store.query(
        Container.INCIDENTS, tenant_id, [Filter("status", "!=", "resolved")], order_by="id"
    )
    return [d for d in docs if "services" in d or "instances" in d]


def concerns(incident: Mapping[str, Any], f: AnomalyFinding) -> bool:
    """Whether the finding's service (or host) is one of the incident's."""
    field_name = "services" if f.scope == "service" else "instances"
    return f.entity in (incident.get(field_name) or ())


def _merge(
    known: Iterable[Mapping[str, Any]], new: Iterable[AnomalyFinding]
) -> tuple[AnomalyFinding, ...]:
    """Known findings plus new ones; one within ``EPISODE`` of a known one of the same
    signal is that episode, and the higher score stands."""
    merged = [AnomalyFinding.model_validate(k) for k in known]
    for f in new:
        same = next(
            (
                i
                for i, k in enumerate(merged)
                if k.key == f.key and abs((k.at - f.at).total_seconds()) <= EPISODE.total_seconds()
            ),
            None,
        )
        if same is None:
            merged.append(f)
        elif f.score > merged[same].score:
            merged[same] = f
    return tuple(sorted(merged, key=lambda k: (k.at, k.key)))


def _file_evidence(
    store: DocumentStore,
    tenant_id: str,
    incident_id: str,
    findings: Sequence[AnomalyFinding],
    now: datetime,
) -> None:
    doc_key = evidence_id(incident_id)
    blank = IncidentAnomalies(
        id=doc_key, tenant_id=tenant_id, incident_id=incident_id, updated_at=now
    )
    _upsert_merged(store, tenant_id, doc_key, blank.to_doc(), findings, now)


def _file_digest(
    store: DocumentStore,
    tenant_id: str,
    day: str,
    findings: Sequence[AnomalyFinding],
    now: datetime,
) -> None:
    doc_key = digest_id(day)
    blank = AnomalyDigest(id=doc_key, tenant_id=tenant_id, day=day, updated_at=now)
    _upsert_merged(store, tenant_id, doc_key, blank.to_doc(), findings, now)


def _upsert_merged(
    store: DocumentStore,
    tenant_id: str,
    doc_key: str,
    blank: dict[str, Any],
    findings: Sequence[AnomalyFinding],
    now: datetime,
) -> None:
    """Merge ``findings`` into the document under its ETag (created when absent)."""

    def mutate(doc: dict[str, Any]) -> dict[str, Any]:
        merged = _merge(doc.get("findings") or (), findings)
        return {
            **doc,
            "findings": [f.model_dump(mode="json") for f in merged],
            "updated_at": iso(now),
        }

    if update_with_retry(store, Container.CACHE, tenant_id, doc_key, mutate) is None:
        try:
            store.create(Container.CACHE, tenant_id, mutate(blank))
        except Conflict:  # lost a creation race: merge into the winner's document
            update_with_retry(store, Container.CACHE, tenant_id, doc_key, mutate)
