"""Incident use cases: reading an incident with what surrounds it, and telling people."""
