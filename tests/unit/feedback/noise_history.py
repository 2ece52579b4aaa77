"""A tenant's alert history written into a store the way the product writes it.

Each ``fire`` is one alert in its own incident: the alert document, its
membership, the incident (acknowledged by a person or not), a stored
analysis with one hypothesis, responders' verdicts and a person's
resolution in the audit trail and the history, as ingestion, the
orchestration and the Slack edge leave them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Literal

from shared.feedback.learning import record_resolution
from shared.incidents import stored_analysis
from shared.models.alert import Alert, AlertSource, AlertStatus, Severity
from shared.models.analysis import IncidentAnalysis
from shared.models.audit import AuditRecord
from shared.models.incident import (
    Incident,
    IncidentAlert,
    IncidentStatus,
    alert_facts,
    member_id,
)
from shared.notify.interactions import Feedback, feedback_id
from shared.ports.store import Container, DocumentStore

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TENANT = "acme"
HYPOTHESIS = {"category": "resource_saturation", "target": "node-1", "title": "CPU saturated"}


class History:
    """Writes firings into ``store`` for ``tenant``; numbering keeps ids apart."""

    def __init__(self, store: DocumentStore, tenant: str = TENANT, now: datetime = NOW) -> None:
        self.store = store
        self.tenant = tenant
        self.now = now
        self.count = 0

    def fire(
        self,
        name: str,
        minutes: float | None,
        *,
        labels: Mapping[str, str] | None = None,
        days_ago: float = 2.0,
        acked_after: float | None = None,
        resolved_by_person_after: float | None = None,
        verdict: Literal["likely", "not_it"] | None = None,
        analysed: bool = True,
    ) -> str:
        """One alert; ``minutes`` None is still firing. Returns its incident id."""
        self.count += 1
        n = self.count
        starts = self.now - timedelta(days=days_ago) + timedelta(hours=n)  # an hour apart
        ends = None if minutes is None else starts + timedelta(minutes=minutes)
        all_labels = {"alertname": name, "instance": "node-1:9100", **(labels or {})}
        severity = Severity(all_labels.get("severity", "warning"))
        alert = Alert(
            id=f"alert-{n}",
            tenant_id=self.tenant,
            source=AlertSource.ALERTMANAGER,
            fingerprint=f"fp-{name}-{n}",
            status=AlertStatus.FIRING if ends is None else AlertStatus.RESOLVED,
            name=name,
            labels=all_labels,
            instance="node-1",
            severity=severity,
            starts_at=starts,
            ends_at=ends,
        )
        incident_id = f"INC-{n:04d}"
        self.store.upsert(Container.ALERTS, self.tenant, alert.to_doc())
        membership = IncidentAlert(
            id=member_id(incident_id, alert.id),
            tenant_id=self.tenant,
            incident_id=incident_id,
            alert_id=alert.id,
            **alert_facts(alert),
        )
        self.store.upsert(Container.INCIDENT_ALERTS, self.tenant, membership.to_doc())
        acked = None if acked_after is None else starts + timedelta(minutes=acked_after)
        by_person = (
            None
            if resolved_by_person_after is None
            else starts + timedelta(minutes=resolved_by_person_after)
        )
        resolved = by_person or ends
        incident = Incident(
            id=incident_id,
            tenant_id=self.tenant,
            title=f"{name} on node-1",
            status=IncidentStatus.RESOLVED if resolved else IncidentStatus.OPEN,
            first_seen=starts,
            last_seen=resolved or starts,
            created_at=starts,
            updated_at=resolved or starts,
            acknowledged_at=acked,
            resolved_at=resolved,
            alert_count=1,
        )
        self.store.upsert(Container.INCIDENTS, self.tenant, incident.to_doc())
        if analysed:
            stored_analysis.save(
                self.store,
                self.tenant,
                IncidentAnalysis(incident_id=incident_id, hypotheses=(HYPOTHESIS,), at=starts),
            )
        if verdict is not None:
            record = Feedback(
                id=feedback_id(incident_id, HYPOTHESIS["category"], HYPOTHESIS["target"], "U1"),
                tenant_id=self.tenant,
                incident_id=incident_id,
                user_id="U1",
                user_name="ana",
                team_id="T1",
                category=HYPOTHESIS["category"],
                target=HYPOTHESIS["target"],
                verdict=verdict,
                at=starts + timedelta(minutes=1),
            )
            self.store.upsert(Container.FEEDBACK, self.tenant, record.to_doc())
        if by_person is not None:
            audit = AuditRecord(
                id=f"audit-{incident_id}-resolve",
                tenant_id=self.tenant,
                at=by_person,
                actor="ana",
                action="incident.resolve",
                subject=incident_id,
            )
            self.store.upsert(Container.AUDIT, self.tenant, audit.to_doc())
            if verdict == "likely":
                record_resolution(
                    self.store,
                    self.tenant,
                    incident_id=incident_id,
                    title=incident.title,
                    service=None,
                    category=HYPOTHESIS["category"],
                    target=HYPOTHESIS["target"],
                    started_at=starts,
                    resolved_at=by_person,
                    summary=HYPOTHESIS["title"],
                    runbook=None,
                    resolved_by="ana",
                )
        return incident_id

    def flapping(self, name: str, labels: Mapping[str, str] | None = None) -> None:
        """Ten short firings nobody touched (2-7 min), judged "not it", and two that lasted."""
        for minutes in (2, 3, 3, 4, 4, 5, 5, 6, 6, 7):
            self.fire(name, minutes, labels=labels, verdict="not_it")
        for _ in range(2):
            self.fire(name, 40, labels=labels, acked_after=3, resolved_by_person_after=40)
