"""Executor adapters: the dry run (embedded default) and Kubernetes.

Both keep one ledger record per idempotency key (``ledger``) so that a retried
activity never acts twice; ``shared.bootstrap`` chooses one from settings.
"""
