"""Runbooks: the Markdown corpus, and matching runbooks to hypotheses."""
