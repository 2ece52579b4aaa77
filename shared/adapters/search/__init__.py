"""Runbook search adapters: the in-process index and, later, Azure AI Search."""
