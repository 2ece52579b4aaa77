"""The worker protocol, spoken in-process to the worker library (see ``bridge``)."""

from devhost.worker.bridge import AppLoadError, FunctionFailed, IndexedFunction, index_app

__all__ = ["AppLoadError", "FunctionFailed", "IndexedFunction", "index_app"]
