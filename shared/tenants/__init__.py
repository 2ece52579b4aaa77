"""Tenants: their registry and directory."""
