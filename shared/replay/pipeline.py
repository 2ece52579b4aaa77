"""The analysis pipeline as four pure steps, and a replay of a bundle through them.

The live incident orchestration runs the same steps as Durable activities,
passing JSON-able dicts between them::

    assemble_context(request, *, metrics)        -> context        (dict)
    generate_candidates(context)                 -> candidates     (list of dicts)
    score_candidates(context, candidates, ...)   -> hypotheses     (list of dicts, top 3)
    match_runbooks(hypotheses, *, index)         -> runbooks       (list of dicts)

Only the first reads a source (the metrics port); the rest are functions of
their inputs. A replay differs from a live run only in its sources: the
bundle's files instead of Prometheus and the change feed, and "now" is the
scenario's alert time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.adapters.search.local_index import LocalRunbookIndex
from shared.enrichment.assemble import assemble_context
from shared.enrichment.signals import SignalCatalog
from shared.errors import BadInput
from shared.hypotheses.generate import generate_candidates
from shared.ports.metrics import MetricsSource
from shared.ports.search import SearchIndex
from shared.replay.bundle import Bundle, find_runbooks_dir, load_bundle
from shared.runbooks.loader import load_runbooks
from shared.runbooks.match import match_runbooks
from shared.scoring.engine import score_candidates

__all__ = [
    "analyze",
    "assemble_context",
    "context_request",
    "generate_candidates",
    "match_runbooks",
    "replay_bundle",
    "score_candidates",
]


def context_request(bundle: Bundle) -> dict[str, Any]:
    """The JSON-able request the context step gets for a bundle's incident."""
    scenario = bundle.scenario
    return {
        "tenant_id": scenario.tenant,
        "now": scenario.alert_time.isoformat(),
        "alerts": [a.to_doc() for a in bundle.alerts],
        "changes": [c.model_dump(mode="json", exclude_none=True) for c in scenario.changes],
        "topology": scenario.topology.model_dump(mode="json"),
        "history": [h.model_dump(mode="json") for h in bundle.history],
    }


def analyze(
    request: Mapping[str, Any],
    *,
    metrics: MetricsSource | None,
    index: SearchIndex | None,
    llm_candidates: Sequence[Mapping[str, Any]] = (),
    weights: Mapping[str, float] | None = None,
    acceptance: Mapping[str, Mapping[str, float]] | None = None,
    catalog: SignalCatalog | None = None,
) -> dict[str, Any]:
    """Run the four steps in order; returns every intermediate result (JSON-able)."""
    context = assemble_context(request, metrics=metrics, catalog=catalog)
    candidates = generate_candidates(context) + [dict(c) for c in llm_candidates]
    hypotheses = score_candidates(context, candidates, weights=weights, acceptance=acceptance)
    runbooks = match_runbooks(hypotheses, index=index) if index is not None else []
    return {
        "context": context,
        "candidates": candidates,
        "hypotheses": hypotheses,
        "runbooks": runbooks,
    }


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*.md"))
    )


@lru_cache(maxsize=8)
def _cached_index(folder: str, signature: tuple[tuple[str, int, int], ...]) -> LocalRunbookIndex:
    del signature  # part of the cache key only: an edited corpus is re-read
    return LocalRunbookIndex(load_runbooks(Path(folder)))


def runbook_index(folder: Path) -> LocalRunbookIndex:
    """The local index of a runbook folder, re-built only when a file changed."""
    resolved = folder.resolve()
    return _cached_index(str(resolved), _signature(resolved))


def _spec_output(bundle: Bundle, result: Mapping[str, Any]) -> dict[str, Any]:
    hypotheses = [
        {
            "rank": h["rank"],
            "category": h["category"],
            "target": h["target"],
            "title": h["title"],
            "confidence": h["confidence"],
            "confidence_range": list(h["confidence_range"]),
            "factors": {name: f["value"] for name, f in h["factors"].items()},
            "evidence": [
                {k: v for k, v in e.items() if v is not None and v != ""} for e in h["evidence"]
            ],
        }
        for h in result["hypotheses"]
    ]
    return {
        "scenario": bundle.scenario.id,
        "incident_id": result["context"]["incident_id"],
        "hypotheses": hypotheses,
        "runbooks": [
            {"id": r["id"], "title": r["title"], "score": r["score"]} for r in result["runbooks"]
        ],
        "similar_incidents": [
            {"id": s["id"], "score": s["score"]} for s in result["context"]["similar_incidents"]
        ],
    }


def replay_bundle(path: Path | str, runbooks_dir: Path | str | None = None) -> dict[str, Any]:
    """Replay one bundle; returns the SPEC's "Output of a replay" object."""
    bundle = load_bundle(Path(path))
    folder = Path(runbooks_dir) if runbooks_dir is not None else find_runbooks_dir(bundle.path)
    if runbooks_dir is not None and not Path(runbooks_dir).is_dir():
        raise BadInput(f"{runbooks_dir}: not a runbook folder")
    index = runbook_index(folder) if folder is not None else None
    result = analyze(context_request(bundle), metrics=bundle.metrics(), index=index)
    return _spec_output(bundle, result)
