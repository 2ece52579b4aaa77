"""What the scoring model reads from the learning loop.

- human validation: the tenant's acceptance of each category's hypotheses,
  counted from responders' "Likely" / "Not it" clicks (the scoring engine adds
  the prior of 0.5 and weighs it by the number of verdicts);
- the tenant's adopted factor weights, written by calibration (versioned);
- precedent and similarity: resolved incidents written into the tenant's
  history (``record_resolution``), next to any imported history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.models.analysis import PastIncident
from shared.models.base import doc_id, iso
from shared.ports.store import Container, DocumentStore, Filter

WEIGHTS_DOC = "weights:current"


def acceptance_by_category(store: DocumentStore, tenant_id: str) -> dict[str, dict[str, int]]:
    """``{category: {"accepted": n, "rejected": m}}`` over every verdict of the tenant."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"accepted": 0, "rejected": 0})
    for doc in store.query(Container.FEEDBACK, tenant_id, [Filter("verdict", "!=", None)]):
        verdict, category = doc.get("verdict"), doc.get("category")
        if not category:
            continue
        if verdict == "likely":
            counts[category]["accepted"] += 1
        elif verdict == "not_it":
            counts[category]["rejected"] += 1
    return dict(counts)


def feedback_for(store: DocumentStore, tenant_id: str, incident_id: str) -> list[dict[str, Any]]:
    return store.query(
        Container.FEEDBACK, tenant_id, [Filter("incident_id", "=", incident_id)], order_by="at"
    )


def adopted_weights(store: DocumentStore, tenant_id: str) -> tuple[dict[str, float] | None, str]:
    """The tenant's calibrated weights and their version, or None and "default"."""
    doc = store.get(Container.CACHE, tenant_id, WEIGHTS_DOC)
    if doc is None:
        return None, "default"
    return {k: float(v) for k, v in doc["weights"].items()}, str(doc["version"])


def history(store: DocumentStore, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's past incidents, oldest first (imported and resolved here)."""
    return [
        {k: v for k, v in d.items() if k not in {"_etag", "tenantId"}}
        for d in store.query(Container.HISTORY, tenant_id, order_by="started_at")
    ]


def import_history(store: DocumentStore, tenant_id: str, items: Sequence[dict[str, Any]]) -> int:
    """Add past incidents (``history.json`` shape); idempotent on their ids."""
    for item in items:
        past = PastIncident.model_validate(item)
        doc = {**past.model_dump(mode="json"), "id": doc_id("", past.id), "tenantId": tenant_id}
        store.upsert(Container.HISTORY, tenant_id, doc)
    return len(items)


def record_resolution(
    store: DocumentStore,
    tenant_id: str,
    *,
    incident_id: str,
    title: str,
    service: str | None,
    category: str,
    target: str,
    started_at: datetime,
    resolved_at: datetime,
    summary: str,
    runbook: str | None,
    resolved_by: str,
) -> dict[str, Any]:
    """Write a resolved incident into the tenant's history with its accepted cause."""
    doc = {
        "id": doc_id("", incident_id),
        "tenantId": tenant_id,
        "title": title,
        "service": service,
        "category": category,
        "target": target,
        "started_at": iso(started_at),
        "resolved_at": iso(resolved_at),
        "summary": summary,
        "resolution": f"resolved by {resolved_by} with the {category} hypothesis on {target}",
        "runbook": runbook,
    }
    return store.upsert(Container.HISTORY, tenant_id, doc)
