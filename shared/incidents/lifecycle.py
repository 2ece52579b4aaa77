"""What responders do to an incident: acknowledge it, resolve it with a hypothesis.

"Resolved with #N" closes the incident and writes it into the tenant's history
with the accepted cause and the runbook used, so the next similar incident
ranks that cause higher (precedent frequency) and lists it as similar.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared.audit import append
from shared.bootstrap import Runtime
from shared.feedback.learning import record_resolution
from shared.incidents import stored_analysis
from shared.models.analysis import IncidentAnalysis
from shared.models.audit import AuditRecord
from shared.models.base import doc_id, iso
from shared.models.incident import Incident, IncidentStatus
from shared.ports.store import Container, update_with_retry

log = logging.getLogger("sre_copilot.incidents.lifecycle")

_AUDITED = frozenset({"category", "target", "rank", "model_version"})


def apply_action(
    rt: Runtime,
    tenant_id: str,
    incident_id: str,
    action: Mapping[str, Any],
    *,
    key: str | None = None,
) -> str:
    """Apply a responder's action; returns the incident's status afterwards.

    ``key`` names the work item: a retried activity writes the same audit record.
    """
    now = rt.clock.now()
    kind = action.get("action")
    user = str(action.get("user_name") or action.get("user_id") or "someone")

    def mutate(doc: dict[str, Any]) -> dict[str, Any] | None:
        incident = Incident.from_doc(doc)
        if kind == "acknowledge" and incident.status is IncidentStatus.OPEN:
            return incident.model_copy(
                update={
                    "status": IncidentStatus.ACKNOWLEDGED,
                    "acknowledged_at": now,
                    "updated_at": now,
                }
            ).to_doc()
        if kind == "resolve" and incident.status is not IncidentStatus.RESOLVED:
            return incident.model_copy(
                update={"status": IncidentStatus.RESOLVED, "resolved_at": now, "updated_at": now}
            ).to_doc()
        return None

    stored = update_with_retry(rt.store, Container.INCIDENTS, tenant_id, incident_id, mutate)
    if stored is None:
        return "unknown"
    incident = Incident.from_doc(stored)
    if kind == "resolve" and action.get("category") and action.get("target"):
        category, target = str(action["category"]), str(action["target"])
        analysis = stored_analysis.load(rt.store, tenant_id, incident_id)
        record_resolution(
            rt.store,
            tenant_id,
            incident_id=incident_id,
            title=incident.title,
            service=incident.services[0] if incident.services else None,
            category=category,
            target=target,
            started_at=incident.first_seen,
            resolved_at=incident.resolved_at or now,
            summary=_summary(analysis, category, target),
            runbook=_runbook_used(analysis),
            resolved_by=user,
        )
    record = AuditRecord(
        id=doc_id("audit-", f"{incident_id}-{kind}-{key or iso(now)}"),
        tenant_id=tenant_id,
        at=now,
        actor=user,
        action=f"incident.{kind}",
        subject=incident_id,
        detail={
            k: v for k, v in action.items() if k in {"category", "target", "rank", "model_version"}
        },
    )
    append(rt.store, tenant_id, record, key=record.id)
    if kind == "resolve":  # judged by the hypothesis named or a runbook marked used
        _propose_promotions(rt, tenant_id)
    return incident.status.value


def _propose_promotions(rt: Runtime, tenant_id: str) -> None:
    """A resolution judges shadowed actions: propose any that just earned promotion.

    Best effort: the resolution stands whatever happens here, and the timer's
    sweep proposes what this missed (the proposal is posted once either way).
    """
    from shared.autonomy.promotion import sweep

    try:
        sweep(rt, rt.tenants.get(tenant_id), now=rt.clock.now())
    except Exception:  # logged: the timer's sweep tries again
        log.warning("promotion proposals of %s failed", tenant_id, exc_info=True)


def _summary(analysis: IncidentAnalysis | None, category: str, target: str) -> str:
    for h in analysis.hypotheses if analysis else ():
        if h["category"] == category and str(h["target"]).lower() == target.lower():
            return str(h["title"])
    return f"{category} on {target}"


def _runbook_used(analysis: IncidentAnalysis | None) -> str | None:
    runbooks = analysis.runbooks if analysis else ()
    return str(runbooks[0]["id"]) if runbooks else None
