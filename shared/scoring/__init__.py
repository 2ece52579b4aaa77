"""Deterministic, versioned confidence for root-cause hypotheses."""

from shared.scoring.engine import DEFAULT_WEIGHTS, MODEL_VERSION, score_candidates

__all__ = ["DEFAULT_WEIGHTS", "MODEL_VERSION", "score_candidates"]
