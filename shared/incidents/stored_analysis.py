"""The one place that reads and writes an incident's stored analysis.

Stored in the cache container under ``analysis:<incident id>``; this module
alone knows that key, so the Slack commands, the message, the lifecycle and
calibration all read the same typed ``IncidentAnalysis``.
"""

from __future__ import annotations

from pydantic import ValidationError

from shared.models.analysis import IncidentAnalysis
from shared.ports.store import Container, DocumentStore

_STORE_FIELDS = frozenset({"id", "tenantId", "_etag"})


def analysis_id(incident_id: str) -> str:
    return f"analysis:{incident_id}"


def save(store: DocumentStore, tenant_id: str, analysis: IncidentAnalysis) -> None:
    doc = {**analysis.to_json(), "id": analysis_id(analysis.incident_id), "tenantId": tenant_id}
    store.upsert(Container.CACHE, tenant_id, doc)


def load(store: DocumentStore, tenant_id: str, incident_id: str) -> IncidentAnalysis | None:
    """The stored analysis, or None when there is none (or it no longer reads as one)."""
    doc = store.get(Container.CACHE, tenant_id, analysis_id(incident_id))
    if doc is None:
        return None
    body = {k: v for k, v in doc.items() if k not in _STORE_FIELDS}
    body.setdefault("incident_id", incident_id)
    try:
        return IncidentAnalysis.model_validate(body)
    except ValidationError:
        return None
