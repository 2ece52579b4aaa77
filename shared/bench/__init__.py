"""Benchmarks on public, externally labelled datasets, read in their own layout."""
