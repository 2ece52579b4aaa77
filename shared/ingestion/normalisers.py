"""Pure normalisers: a sender's payload to the product's ``Alert`` model.

Held in an explicit registry (``NORMALISERS``) keyed by source. They do no
I/O; tests feed them captured payloads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.ingestion.payloads import (
    AlertmanagerWebhook,
    PagerDutyWebhook,
    PdData,
    validate,
)
from shared.models.alert import Alert, AlertSource, AlertStatus, Severity
from shared.models.base import doc_id

PAGERDUTY_HANDLED_EVENTS = frozenset(
    {
        "incident.triggered",
        "incident.acknowledged",
        "incident.resolved",
        "incident.reopened",
        "incident.escalated",
        "incident.priority_updated",
        "incident.annotated",
    }
)

_SEVERITY_WORDS = {
    "critical": Severity.CRITICAL,
    "crit": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "high": Severity.CRITICAL,
    "error": Severity.CRITICAL,
    "p1": Severity.CRITICAL,
    "p2": Severity.CRITICAL,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "medium": Severity.WARNING,
    "p3": Severity.WARNING,
    "info": Severity.INFO,
    "low": Severity.INFO,
    "none": Severity.INFO,
    "p4": Severity.INFO,
    "p5": Severity.INFO,
}


@dataclass(frozen=True, slots=True)
class Normalised:
    """What one delivery says: alerts, the key that identifies the delivery, notes."""

    dedup_key: str
    alerts: tuple[Alert, ...] = ()
    ignored_reason: str | None = None
    notes: tuple[dict[str, Any], ...] = field(default=())


def severity_from(word: str | None, default: Severity = Severity.WARNING) -> Severity:
    if not word:
        return default
    return _SEVERITY_WORDS.get(word.strip().lower(), default)


def host_of(instance: str | None) -> str | None:
    """``node-3:9100`` -> ``node-3``; topology names hosts without ports."""
    if not instance:
        return None
    if instance.startswith("["):  # [::1]:9100
        return instance.split("]")[0].lstrip("[") or None
    return instance.rsplit(":", 1)[0] if instance.count(":") == 1 else instance


def labels_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's idea of identity (the label set) when no fingerprint came."""
    canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _null_time(moment: datetime | None) -> datetime | None:
    """Alertmanager sends year 1 for "no end"."""
    if moment is None or moment.year <= 1:
        return None
    return moment.astimezone(UTC)


def alert_id(fingerprint: str, starts_at: datetime) -> str:
    return doc_id("", f"{fingerprint}@{int(starts_at.timestamp())}")


def normalise_alertmanager(
    data: Any, *, tenant_id: str, raw_event_id: str | None = None
) -> Normalised:
    """Alertmanager webhook v4 -> one Alert per alert in the group."""
    hook = validate(AlertmanagerWebhook, data, what="Alertmanager webhook")
    alerts = []
    for item in hook.alerts:
        fingerprint = item.fingerprint or labels_fingerprint(item.labels)
        starts_at = item.starts_at.astimezone(UTC)
        labels = item.labels
        # ``job`` names the scrape job ("node"), not a service: never use it here.
        service = labels.get("service") or labels.get("app") or labels.get("app_kubernetes_io_name")
        summary = (
            item.annotations.get("summary")
            or item.annotations.get("description")
            or labels.get("alertname", "alert")
        )
        alerts.append(
            Alert(
                id=alert_id(fingerprint, starts_at),
                tenant_id=tenant_id,
                source=AlertSource.ALERTMANAGER,
                fingerprint=fingerprint,
                status=AlertStatus(item.status),
                name=labels.get("alertname", "alert"),
                summary=summary,
                labels=dict(labels),
                annotations=dict(item.annotations),
                service=service,
                instance=host_of(labels.get("instance")),
                severity=severity_from(labels.get("severity")),
                starts_at=starts_at,
                ends_at=_null_time(item.ends_at) if item.status == "resolved" else None,
                source_url=item.generator_url,
                raw_event_id=raw_event_id,
            )
        )
    digest_input = "|".join(
        sorted(f"{a.fingerprint}:{a.status}:{a.starts_at.isoformat()}:{a.ends_at}" for a in alerts)
    )
    dedup_key = hashlib.sha256(f"{hook.group_key}|{digest_input}".encode()).hexdigest()
    return Normalised(dedup_key=f"am:{dedup_key}", alerts=tuple(alerts))


def _pd_status(event_type: str, incident_status: str | None) -> AlertStatus:
    by_event = {
        "incident.acknowledged": AlertStatus.ACKNOWLEDGED,
        "incident.resolved": AlertStatus.RESOLVED,
        "incident.reopened": AlertStatus.FIRING,
        "incident.triggered": AlertStatus.FIRING,
    }
    if event_type in by_event:
        return by_event[event_type]
    return {
        "acknowledged": AlertStatus.ACKNOWLEDGED,
        "resolved": AlertStatus.RESOLVED,
    }.get(incident_status or "", AlertStatus.FIRING)


def normalise_pagerduty(
    data: Any, *, tenant_id: str, raw_event_id: str | None = None
) -> Normalised:
    """PagerDuty V3 -> one Alert for the incident, or a note, or an ignored event.

    Deliveries are identified by the signed ``event.id`` (``X-Webhook-Id`` is
    not covered by the signature).
    """
    hook = validate(PagerDutyWebhook, data, what="PagerDuty webhook")
    event = hook.event
    dedup_key = f"pd:{event.id}"
    if event.event_type not in PAGERDUTY_HANDLED_EVENTS:
        return Normalised(dedup_key=dedup_key, ignored_reason=f"event type {event.event_type}")
    body = validate(PdData, event.data, what="PagerDuty event.data")
    if body.type == "incident_note" or event.event_type == "incident.annotated":
        incident_id = body.incident.id if body.incident else body.id
        note = {
            "pagerduty_incident": incident_id,
            "content": body.content or "",
            "at": event.occurred_at.isoformat(),
        }
        return Normalised(dedup_key=dedup_key, notes=(note,))
    if body.type != "incident":
        return Normalised(dedup_key=dedup_key, ignored_reason=f"data type {body.type}")
    fingerprint = f"pagerduty:{body.id}"
    starts_at = (body.created_at or event.occurred_at).astimezone(UTC)
    status = _pd_status(event.event_type, body.status)
    priority = body.priority.summary if body.priority else None
    severity = severity_from(priority, severity_from(body.urgency))
    service = body.service.summary if body.service else None
    labels = {"alertname": body.title or "PagerDuty incident"}
    if service:
        labels["service"] = service
    if priority:
        labels["priority"] = priority
    alert = Alert(
        id=alert_id(fingerprint, starts_at),
        tenant_id=tenant_id,
        source=AlertSource.PAGERDUTY,
        fingerprint=fingerprint,
        status=status,
        name=body.title or "PagerDuty incident",
        summary=body.title or "",
        labels=labels,
        service=service,
        severity=severity,
        starts_at=starts_at,
        ends_at=event.occurred_at.astimezone(UTC) if status is AlertStatus.RESOLVED else None,
        source_url=body.html_url,
        raw_event_id=raw_event_id,
        extra={
            "pagerduty_number": body.number,
            "incident_key": body.incident_key,
            "event_type": event.event_type,
        },
    )
    return Normalised(dedup_key=dedup_key, alerts=(alert,))


Normaliser = Callable[..., Normalised]

NORMALISERS: dict[AlertSource, Normaliser] = {
    AlertSource.ALERTMANAGER: normalise_alertmanager,
    AlertSource.PAGERDUTY: normalise_pagerduty,
}


def normalise(source: AlertSource | str, data: Any, *, tenant_id: str) -> Normalised:
    """Normalise a decoded payload from ``source`` (the registry's single entry)."""
    return NORMALISERS[AlertSource(source)](data, tenant_id=tenant_id)
