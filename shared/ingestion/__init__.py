"""Ingestion: authenticate, store raw, normalise, fingerprint, dedup, correlate."""
