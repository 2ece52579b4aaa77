"""Root-cause hypotheses: candidates with evidence, and their scored form.

A ``Candidate`` is what a detector (or the LLM) proposes; a ``Hypothesis`` is a
candidate after the confidence engine ranked it, with the five factors that
explain its confidence and the model version that produced them, so a score
can always be traced back to the code that computed it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shared.models.base import Model, UtcDatetime


class RootCause(StrEnum):
    """The root-cause taxonomy of the scenario SPEC."""

    BAD_DEPLOYMENT = "bad_deployment"
    CONFIG_CHANGE = "config_change"
    DISK_EXHAUSTION = "disk_exhaustion"
    MEMORY_LEAK = "memory_leak"
    CPU_SATURATION = "cpu_saturation"
    TRAFFIC_SURGE = "traffic_surge"
    DEPENDENCY_FAILURE = "dependency_failure"
    DATABASE_SATURATION = "database_saturation"
    CERTIFICATE_EXPIRY = "certificate_expiry"
    DNS_FAILURE = "dns_failure"
    NODE_FAILURE = "node_failure"

    @property
    def targets_host(self) -> bool:
        """Host-level causes name an ``instance``; the others name a service."""
        return self in (RootCause.DISK_EXHAUSTION, RootCause.NODE_FAILURE)


class EvidenceKind(StrEnum):
    """What an evidence item rests on; the scoring factors read different kinds."""

    METRIC = "metric"  # a signal left its baseline (strength: how far)
    CHANGE = "change"  # a deployment / config / flag change
    ALERT = "alert"  # an alert of the incident names the target
    TOPOLOGY = "topology"  # the target sits where the symptoms are
    TEMPORAL = "temporal"  # the cause came before its effects
    HISTORY = "history"  # past incidents (from the LLM or a human)


Origin = Literal["detector", "llm"]

FACTOR_NAMES: tuple[str, ...] = (
    "signal_strength",
    "temporal_correlation",
    "precedent_frequency",
    "evidence_quality",
    "human_validation",
)


class Evidence(Model):
    """One observation that supports a candidate, with how strongly it does."""

    kind: EvidenceKind
    summary: str = Field(min_length=1)
    source: str = ""
    """The query, change id or alert fingerprint the observation came from."""
    at: UtcDatetime | None = None
    strength: float = Field(default=0.5, ge=0.0, le=1.0)

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity for merging: the same observation from two proposers counts once."""
        return (self.kind.value, self.source, self.summary)


class Candidate(Model):
    """A proposed root cause, before scoring."""

    category: RootCause
    target: str = Field(min_length=1)
    title: str = Field(min_length=1)
    evidence: tuple[Evidence, ...] = ()
    origin: Origin = "detector"

    @property
    def key(self) -> tuple[str, str]:
        return (self.category.value, self.target.lower())


class FactorScore(Model):
    """One factor of the confidence, with its reason and how unsure it is."""

    value: float = Field(ge=0.0, le=1.0)
    reason: str = Field(min_length=1)
    uncertainty: float = Field(default=0.0, ge=0.0, le=1.0)

    @field_validator("reason")
    @classmethod
    def _one_line(cls, reason: str) -> str:
        return " ".join(reason.split())

    @property
    def low(self) -> float:
        return max(0.0, self.value - self.uncertainty)

    @property
    def high(self) -> float:
        return min(1.0, self.value + self.uncertainty)


class Hypothesis(Model):
    """A ranked, scored root cause as the on-call engineer sees it."""

    rank: int = Field(ge=1)
    category: RootCause
    target: str = Field(min_length=1)
    title: str
    confidence: float = Field(ge=0.0, le=1.0)
    """How likely this is the root cause, weighed against the other candidates."""
    confidence_range: tuple[float, float]
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    """The five factors' weighted sum: the support of the evidence for it alone
    (None in analyses stored before confidences competed)."""
    factors: dict[str, FactorScore]
    evidence: tuple[Evidence, ...] = ()
    model_version: str = Field(min_length=1)
    origins: tuple[Origin, ...] = ("detector",)

    @model_validator(mode="after")
    def _consistent(self) -> Hypothesis:
        low, high = self.confidence_range
        if not 0.0 <= low <= self.confidence <= high <= 1.0:
            raise ValueError(
                f"confidence_range {self.confidence_range} must hold "
                f"{self.confidence} and stay in [0, 1]"
            )
        if set(self.factors) != set(FACTOR_NAMES):
            raise ValueError(f"factors must be exactly {', '.join(FACTOR_NAMES)}")
        return self
