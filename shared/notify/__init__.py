"""Notify: rendering messages (pure) and delivering them through the chat port."""
