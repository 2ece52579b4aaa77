"""Topology-aware root-cause analysis over every series a service exports.

``series``: per series, a robust baseline and a change point on the raw
samples (read during context assembly). ``rank``: per service an anomaly
score, ranked by what it explains over the call graph (a pure function of
the context snapshot). ``candidates``: the ranking as detector candidates.
"""
