"""The runbook step: the best runbooks for the ranked hypotheses (a pure step).

Each hypothesis asks the index for its runbooks; a runbook's score is its best
match weighted by that hypothesis' score (its support) relative to the leader's, so
the leading hypothesis' runbooks come first and an alternative's main runbook
still makes the list when the leader has few.

Each matched runbook keeps the categories and actions its hit carried, so the
analysis holds what a proposal needs even when the index is the only copy of
the runbooks (Azure AI Search, no folder).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.models.hypothesis import Hypothesis
from shared.ports.search import RunbookHit, RunbookQuery, SearchIndex
from shared.runbooks.loader import actions_data

TOP = 3


def query_for(hypothesis: Hypothesis) -> RunbookQuery:
    words = [hypothesis.title, hypothesis.category.value.replace("_", " ")]
    words += [e.summary for e in hypothesis.evidence[:4]]
    services = [] if hypothesis.category.targets_host else [hypothesis.target]
    return RunbookQuery(
        text=" ".join(words), categories=(hypothesis.category.value,), services=services
    )


def match_runbooks(
    hypotheses: Sequence[Mapping[str, Any]], *, index: SearchIndex, top: int = TOP
) -> list[dict[str, Any]]:
    """Ranked hypotheses (dicts) -> ``[{"id", "title", "score", "categories", "actions"}]``,
    best first; ``actions`` are the hit's validated actions as plain dicts, absent when
    the index holds none (an older Azure index): proposals then read the folder."""
    parsed = [Hypothesis.model_validate(h) for h in hypotheses]
    if not parsed:
        return []
    # Weighted by support (the score), not the competing confidence: a runner-up's
    # runbook is worth showing even when its share of the likelihood is small.
    support = [h.score if h.score is not None else h.confidence for h in parsed]
    lead = max(support) or 1.0
    best: dict[str, tuple[float, RunbookHit]] = {}
    for hypothesis, own in zip(parsed, support, strict=True):
        weight = own / lead if lead > 0 else 1.0
        for hit in index.search(query_for(hypothesis), top=top):
            value = hit.score * weight
            if hit.id not in best or value > best[hit.id][0]:
                best[hit.id] = (value, hit)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [_stored(hit, value) for _, (value, hit) in ranked[:top]]


def _stored(hit: RunbookHit, value: float) -> dict[str, Any]:
    """One matched runbook as the analysis keeps it (plain JSON)."""
    kept: dict[str, Any] = {
        "id": hit.id,
        "title": hit.title,
        "score": round(value, 3),
        "categories": list(hit.categories),
    }
    if hit.actions is not None:
        kept["actions"] = actions_data(hit.actions)
    return kept
