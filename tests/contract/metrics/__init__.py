"""Contract tests of the metrics port: Prometheus against the scenario-file adapter."""
