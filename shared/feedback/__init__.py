"""Feedback: what responders said, and what the product learns from it."""
