"""Contract tests of the runbook search port's Azure AI Search adapter."""
