"""The LLM port: candidate root causes proposed by a language model.

The LLM assists; deterministic code decides. A proposer returns candidates
that already passed validation (known category, known target) and the
reasons for everything it discarded; the detectors' candidates and the scoring
engine do the rest. Every outcome is a value (``LlmProposal.status``), never an
exception, so an incident carries on with the detectors alone when the model
is disabled, slow or down, and says so.

Adapters: Claude (``shared.adapters.llm.anthropic``) when ``ANTHROPIC_API_KEY``
is set, else ``DisabledProposer``; chosen in ``shared.bootstrap``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal, Protocol

from pydantic import Field, model_validator

from shared.models.base import Model
from shared.models.hypothesis import Candidate

ProposalStatus = Literal["ok", "disabled", "failed", "timeout"]

TOKEN_KINDS: tuple[str, ...] = ("input", "output", "cache_read", "cache_creation")
"""Keys of ``LlmProposal.tokens``: the Messages API usage fields, shortened."""


def no_tokens() -> dict[str, int]:
    return dict.fromkeys(TOKEN_KINDS, 0)


class LlmProposal(Model):
    """What the model proposed for one incident, after validation.

    ``status``:

    - ``ok``: the model answered through its tool; ``candidates`` holds what
      survived validation (possibly nothing, ``drop_reasons`` says why).
    - ``disabled``: no model configured; not an error.
    - ``failed``: no usable answer: an API error retries could not fix, or a
      reply without a well-formed tool call. ``error`` says which.
    - ``timeout``: the deadline ran out before an answer.

    ``tokens`` is what this call spent (zero when ``cached``: the answer was
    replayed from the store). ``explanation`` is model text: render it as
    untrusted.
    """

    status: ProposalStatus
    candidates: tuple[Candidate, ...] = ()
    explanation: str = ""
    dropped: int = Field(default=0, ge=0)
    """Proposed items discarded: whole replies, candidates or evidence items."""
    drop_reasons: tuple[str, ...] = ()
    tokens: dict[str, int] = Field(default_factory=no_tokens)
    cached: bool = False
    error: str | None = None
    model: str = ""
    attempts: int = Field(default=0, ge=0)
    """HTTP requests made (0 for a cache hit or a disabled proposer)."""

    @model_validator(mode="after")
    def _consistent(self) -> LlmProposal:
        if any(c.origin != "llm" for c in self.candidates):
            raise ValueError("LLM proposals carry origin='llm' candidates only")
        if self.status != "ok" and self.candidates:
            raise ValueError(f"a {self.status!r} proposal carries no candidates")
        if set(self.tokens) != set(TOKEN_KINDS):
            raise ValueError(f"tokens must be exactly {', '.join(TOKEN_KINDS)}")
        return self

    @property
    def usable(self) -> bool:
        """True when the candidates came from a real answer (cached or live)."""
        return self.status == "ok"


class CandidateProposer(Protocol):
    """Proposes root-cause candidates for an incident's context snapshot."""

    def propose(
        self,
        context: Mapping[str, Any],
        *,
        tenant_id: str,
        incident_id: str,
        known_services: Collection[str],
        known_hosts: Collection[str],
    ) -> LlmProposal:
        """Candidates (origin ``llm``) whose targets are among the known ones.

        ``context`` is the JSON form of the context snapshot. Never raises for
        an LLM or network problem: the outcome is in ``LlmProposal.status``.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class DisabledProposer:
    """The embedded default: no model, so the detectors' candidates stand alone."""

    def propose(
        self,
        context: Mapping[str, Any],
        *,
        tenant_id: str,
        incident_id: str,
        known_services: Collection[str],
        known_hosts: Collection[str],
    ) -> LlmProposal:
        return LlmProposal(status="disabled")

    def close(self) -> None:
        return None
