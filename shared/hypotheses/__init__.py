"""Root-cause hypotheses: deterministic detectors per category, merged."""
