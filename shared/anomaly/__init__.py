"""Anomaly detection per signal: a causal score in [0, 1] for every sample.

Pure numpy; no cloud imports. ``anomaly_scores`` is the entry point; the
method, its sources and what was measured and left out are in ``detector``.
"""

from shared.anomaly.detector import DEFAULT, DetectorParams, anomaly_scores

__all__ = ["DEFAULT", "DetectorParams", "anomaly_scores"]
