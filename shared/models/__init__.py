"""Domain models (pydantic v2, frozen)."""

from shared.models.alert import Alert, AlertSource, AlertStatus, Severity
from shared.models.audit import AuditRecord
from shared.models.change import ChangeEvent, ChangeKind
from shared.models.events import RawEvent, RawEventOutcome
from shared.models.incident import AlertRef, Incident, IncidentStatus
from shared.models.tenant import Service, Tenant, Topology

__all__ = [
    "Alert",
    "AlertRef",
    "AlertSource",
    "AlertStatus",
    "AuditRecord",
    "ChangeEvent",
    "ChangeKind",
    "Incident",
    "IncidentStatus",
    "RawEvent",
    "RawEventOutcome",
    "Service",
    "Severity",
    "Tenant",
    "Topology",
]
