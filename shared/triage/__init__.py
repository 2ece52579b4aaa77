"""Triage: what an incident costs users, to order the work and set its urgency."""
