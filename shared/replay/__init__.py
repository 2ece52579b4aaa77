"""Replays of scenario bundles through the live pipeline's steps, and backtests."""
