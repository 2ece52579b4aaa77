"""The live analysis of an incident, as the steps its orchestration runs.

Each function is one Durable activity's work: it reads what it needs from the
store, calls the pure pipeline step (``shared.enrichment``,
``shared.hypotheses``, ``shared.scoring``, ``shared.runbooks``) and stores what
it decided on, so every later explanation and audit sees exactly that:

    plan            the context request (alerts, changes, topology, history)
    collect         one fan-out branch: some catalog signals from the metrics source
    assemble        the context snapshot, stored with the incident
    detect          the deterministic detectors' candidates
    propose         Claude's candidates, when configured (it never decides)
    score           the confidence engine + runbooks + impact + the anomaly
                    sweep's findings for the incident; the stored analysis
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from shared.anomaly.sweep import evidence_for
from shared.bootstrap import Runtime
from shared.enrichment.assemble import assemble_context, collect_signals, signal_names
from shared.errors import NotFound, SreCopilotError
from shared.feedback.learning import acceptance_by_category, adopted_weights, history
from shared.hypotheses.generate import generate_candidates
from shared.incidents import stored_analysis
from shared.incidents.alerts import CONTEXT_LIMIT, members
from shared.incidents.summary import load_incident, recent_changes
from shared.models.alert import Alert
from shared.models.analysis import ContextSnapshot, IncidentAnalysis
from shared.models.base import iso
from shared.models.incident import Incident
from shared.ports.store import Container
from shared.runbooks.match import match_runbooks
from shared.scoring.engine import MODEL_VERSION, score_candidates
from shared.triage.impact import assess

log = logging.getLogger("sre_copilot.analysis")

LIVE_HORIZON = timedelta(hours=1)
"""Alerts that started within this of the clock are live: context is read up to now."""
ANOMALIES_SHOWN = 5
"""The newest findings of the anomaly sweep kept with an analysis."""
REPLAY_GRACE = timedelta(minutes=1)
"""For older (replayed or delayed) alerts, context is read up to their start plus this."""


def request_key(incident_id: str) -> str:
    return f"context-request:{incident_id}"


def context_key(incident_id: str) -> str:
    return f"context:{incident_id}"


def analysis_time(incident: Incident, clock_now: datetime) -> datetime:
    """ "Now" for the context: the clock for live alerts, the alerts' time for replayed ones."""
    latest = incident.latest_start or incident.first_seen
    if clock_now - latest <= LIVE_HORIZON:
        return clock_now
    return latest + REPLAY_GRACE


def _save(rt: Runtime, tenant_id: str, key: str, body: Mapping[str, Any]) -> None:
    rt.store.upsert(Container.CACHE, tenant_id, {**body, "id": key, "tenantId": tenant_id})


def _load(rt: Runtime, tenant_id: str, key: str) -> dict[str, Any]:
    doc = rt.store.get(Container.CACHE, tenant_id, key)
    if doc is None:
        raise NotFound(f"{key} is not stored (was the incident planned?)")
    return {k: v for k, v in doc.items() if k not in {"id", "tenantId", "_etag"}}


def plan(rt: Runtime, tenant_id: str, incident_id: str) -> dict[str, Any]:
    """Build and store the context request; say which signals to read (the fan-out)."""
    tenant = rt.tenants.get(tenant_id)
    incident = load_incident(rt.store, tenant_id, incident_id)
    now = analysis_time(incident, rt.clock.now())
    alerts = []
    # The latest alerts, bounded: a storm of thousands adds nothing a detector needs.
    refs = members(rt.store, tenant_id, incident_id, limit=CONTEXT_LIMIT, latest_first=True)
    for ref in reversed(refs):
        doc = rt.store.get(Container.ALERTS, tenant_id, ref.id)
        if doc is not None:
            alerts.append(Alert.from_doc(doc).to_doc())
    lookback = rt.change_lookback
    changes = recent_changes(
        rt.store, tenant_id, set(), start=incident.first_seen - lookback, end=now
    )
    request = {
        "tenant_id": tenant_id,
        "incident_id": incident_id,
        "now": iso(now),
        "alerts": alerts,
        "changes": [c.model_dump(mode="json", exclude={"tenant_id"}) for c in changes],
        "topology": tenant.topology.model_dump(mode="json"),
        "history": history(rt.store, tenant_id),
        "options": {"change_lookback_minutes": rt.settings.change_lookback_minutes},
        "signal_overrides": tenant.signal_overrides,
    }
    _save(rt, tenant_id, request_key(incident_id), {"request": request})
    has_metrics = bool(tenant.prometheus_url or tenant.metrics_file)
    names = signal_names(request) if has_metrics else []
    return {"signals": names, "revision": incident.alert_revision}


def collect(rt: Runtime, tenant_id: str, incident_id: str, names: Sequence[str]) -> dict[str, Any]:
    """One fan-out branch: read ``names`` from the tenant's metrics source."""
    request = _load(rt, tenant_id, request_key(incident_id))["request"]
    source = rt.metrics_for(rt.tenants.get(tenant_id))
    if source is None:
        return {"signals": [], "sources": []}
    return collect_signals(request, metrics=source, names=names)


def assemble(
    rt: Runtime, tenant_id: str, incident_id: str, parts: Sequence[Mapping[str, Any]] | None
) -> dict[str, Any]:
    """The context snapshot from the branches' readings, stored with the incident."""
    request = _load(rt, tenant_id, request_key(incident_id))["request"]
    snapshot = assemble_context(request, metrics=None, collected=parts)
    _save(rt, tenant_id, context_key(incident_id), {"snapshot": snapshot})
    return {"signals": len(snapshot["signals"]), "changes": len(snapshot["changes"])}


def snapshot_of(rt: Runtime, tenant_id: str, incident_id: str) -> dict[str, Any]:
    snapshot: dict[str, Any] = _load(rt, tenant_id, context_key(incident_id))["snapshot"]
    return snapshot


def detect(rt: Runtime, tenant_id: str, incident_id: str) -> list[dict[str, Any]]:
    return generate_candidates(snapshot_of(rt, tenant_id, incident_id))


def propose(rt: Runtime, tenant_id: str, incident_id: str) -> dict[str, Any]:
    """Claude's candidates (validated against the topology), or why there are none."""
    tenant = rt.tenants.get(tenant_id)
    snapshot = snapshot_of(rt, tenant_id, incident_id)
    services = {s.name for s in tenant.topology.services}
    hosts = tenant.topology.hosts()
    for alert in snapshot.get("alerts", []):
        if alert.get("service"):
            services.add(alert["service"])
        if alert.get("instance"):
            hosts.add(alert["instance"])
    proposal = rt.proposer.propose(
        snapshot,
        tenant_id=tenant_id,
        incident_id=incident_id,
        known_services=services,
        known_hosts=hosts,
    )
    return proposal.model_dump(mode="json")


def score(
    rt: Runtime,
    tenant_id: str,
    incident_id: str,
    detected: Sequence[Mapping[str, Any]],
    proposal: Mapping[str, Any] | None,
    missing: Sequence[str] = (),
) -> dict[str, Any]:
    """Rank the candidates, match runbooks, and store the analysis.

    ``missing``: the parts the orchestration could not get, kept with the analysis.
    """
    tenant = rt.tenants.get(tenant_id)
    snapshot = snapshot_of(rt, tenant_id, incident_id)
    llm_candidates = list((proposal or {}).get("candidates") or [])
    weights, weights_version = adopted_weights(rt.store, tenant_id)
    hypotheses = score_candidates(
        snapshot,
        [*detected, *llm_candidates],
        weights=weights,
        acceptance=acceptance_by_category(rt.store, tenant_id),
    )
    runbooks: list[dict[str, Any]] = []
    index = rt.runbook_index(tenant)
    if index is not None and hypotheses:
        try:
            runbooks = match_runbooks(hypotheses, index=index)
        except SreCopilotError as exc:  # a search outage must not cost the analysis
            log.warning("runbook search failed for %s: %s", incident_id, exc.reason)
    llm = {
        k: (proposal or {}).get(k)
        for k in ("status", "error", "dropped", "tokens", "cached", "explanation")
    }
    unconfigured: list[Literal["metrics", "runbooks"]] = []
    parsed = ContextSnapshot.model_validate(snapshot)
    if not parsed.metrics_configured:
        unconfigured.append("metrics")
    if index is None:
        unconfigured.append("runbooks")
    analysis = IncidentAnalysis(
        incident_id=incident_id,
        hypotheses=tuple(hypotheses),
        runbooks=tuple(runbooks),
        similar_incidents=tuple(snapshot.get("similar_incidents", [])),
        llm=llm if proposal else {"status": "disabled"},
        model_version=f"{MODEL_VERSION}+w:{weights_version}",
        at=rt.clock.now(),
        missing=tuple(missing),
        unconfigured=tuple(unconfigured),
        impact=assess(parsed).to_json(),
        anomalies=tuple(
            f.model_dump(mode="json")
            for f in evidence_for(rt.store, tenant_id, incident_id).findings[-ANOMALIES_SHOWN:]
        ),
    )
    stored_analysis.save(rt.store, tenant_id, analysis)
    return {"hypotheses": len(hypotheses), "model_version": analysis.model_version}
