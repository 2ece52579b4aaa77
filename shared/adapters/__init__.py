"""Adapters: the real implementations of the ports in ``shared/ports``.

Each port has a production adapter and an embedded one; ``shared/bootstrap.py``
chooses between them from settings.
"""
