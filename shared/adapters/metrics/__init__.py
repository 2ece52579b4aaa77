"""Metrics adapters: the scenario file (embedded) and, later, Prometheus."""
