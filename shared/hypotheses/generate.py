"""Candidate generation: every detector over one context snapshot (a pure step)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.hypotheses.facts import Facts
from shared.hypotheses.merge import explain_away, merge
from shared.hypotheses.registry import DETECTORS
from shared.models.analysis import ContextSnapshot
from shared.models.hypothesis import Candidate
from shared.rca.candidates import rca_candidates


def detect_all(snapshot: ContextSnapshot) -> list[Candidate]:
    facts = Facts(snapshot)
    found: list[Candidate] = []
    for category in sorted(DETECTORS):
        found.extend(DETECTORS[category](facts))
    # The topology-aware ranking over every series: it names services the category
    # detectors miss and adds the call graph's word to those they found.
    found.extend(rca_candidates(facts, found))
    merged = [m.candidate for m in merge(found)]
    return explain_away(merged, facts)


def generate_candidates(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Context snapshot (dict) -> detector candidates (JSON-able dicts)."""
    snapshot = ContextSnapshot.model_validate(context)
    return [c.model_dump(mode="json") for c in detect_all(snapshot)]
