"""Prediction: when a filesystem (or a memory limit) runs out, read from its history."""
