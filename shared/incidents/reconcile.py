"""Find open incidents whose orchestration may be missing or asleep.

A crash between "delivery recorded" and "orchestration started", a start or
wake that failed, or an instance that failed for good would leave an open
incident with nobody following it. The reconciliation timer asks this module
which incidents to look at, and starts, restarts or wakes their orchestration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.incidents.work import announced, wake_needed
from shared.models.alert import Severity
from shared.ports.store import Container, DocumentStore, Filter
from shared.tenants.registry import TenantRegistry

RUNNING = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})


@dataclass(frozen=True, slots=True)
class OpenIncident:
    tenant_id: str
    incident_id: str
    wake_overdue: bool
    """A wake was requested and not drained for longer than a wake should take."""


def open_incidents(
    store: DocumentStore, tenants: TenantRegistry, *, now: datetime
) -> list[OpenIncident]:
    """Every unresolved incident of every tenant that has an orchestration, and whether
    its wake is overdue (one of info alerts only has none: ``work.announced``).

    An incident merged into another (``merged_into``) is resolved, and skipped
    even if a reader ever saw it otherwise: its orchestration must stay ended."""
    found: list[OpenIncident] = []
    for tenant in tenants.list():
        docs = store.query(Container.INCIDENTS, tenant.id, [Filter("status", "!=", "resolved")])
        for doc in docs:
            if not announced(Severity(doc.get("severity", Severity.WARNING))):
                continue
            if doc.get("merged_into"):  # resolved at the merge; its alerts went on
                continue
            requested = doc.get("wake_requested_at")
            # A pending wake that would be sent again now may have been lost.
            overdue = bool(requested) and wake_needed(datetime.fromisoformat(str(requested)), now)
            found.append(OpenIncident(tenant.id, str(doc["id"]), overdue))
    return found


def needs_start(runtime_status: str | None) -> bool:
    """No instance, or one that ended (failed, terminated, completed) while still open."""
    return runtime_status not in RUNNING
