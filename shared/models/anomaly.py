"""What the anomaly sweep found: a deviating signal, filed with an incident or in a digest.

Both documents live in the tenant's partition of the cache container, beside
the incident's context (``context:{incident}``), with a time to live:

* ``IncidentAnomalies`` (``anomalies:{incident}``): the deviating signals of
  the incident's services and hosts, evidence for its analysis;
* ``AnomalyDigest`` (``anomaly-digest:{day}``): every other deviating signal
  of one day in the tenant's time zone, for a daily read. Neither pages.
"""

from __future__ import annotations

from shared.models.analysis import Scope
from shared.models.base import Model, TenantDocument, UtcDatetime, doc_id

EVIDENCE_PREFIX = "anomalies:"
DIGEST_PREFIX = "anomaly-digest:"
KEEP_S = 30 * 24 * 3600
"""Both documents expire 30 days after their last write."""


class AnomalyFinding(Model):
    """One signal of one entity that deviated, at its most anomalous moment."""

    signal: str
    entity: str
    scope: Scope
    unit: str = ""
    score: float
    """The detector's score in [0, 1] (``shared.anomaly``) at ``at``."""
    at: UtcDatetime
    value: float
    baseline: float
    """The median of the signal over the window read, for "value against usual"."""
    source: str = ""
    """The selector it was read with."""

    @property
    def key(self) -> str:
        return f"{self.scope}:{self.entity}:{self.signal}"

    @property
    def text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return (
            f"{self.signal} of {self.entity}: {self.value:.4g}{unit} "
            f"(usually {self.baseline:.4g}), anomaly score {self.score:.2f}"
        )


class IncidentAnomalies(TenantDocument):
    """The deviating signals filed with one incident, oldest first."""

    kind: str = "incident-anomalies"
    incident_id: str
    findings: tuple[AnomalyFinding, ...] = ()
    updated_at: UtcDatetime
    ttl: int = KEEP_S


class AnomalyDigest(TenantDocument):
    """One day's deviating signals that no open incident explained, oldest first."""

    kind: str = "anomaly-digest"
    day: str
    """``YYYY-MM-DD`` in the tenant's time zone."""
    findings: tuple[AnomalyFinding, ...] = ()
    updated_at: UtcDatetime
    ttl: int = KEEP_S


def evidence_id(incident_id: str) -> str:
    return doc_id(EVIDENCE_PREFIX, incident_id)


def digest_id(day: str) -> str:
    return doc_id(DIGEST_PREFIX, day)
