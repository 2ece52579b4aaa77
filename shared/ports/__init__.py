"""Ports: one small Protocol per outside system; adapters live in shared/adapters."""
