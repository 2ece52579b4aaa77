"""The one place where adapters are chosen from settings and wired together.

The Functions host imports the app with nothing but environment variables, so
``runtime()`` builds everything lazily on first use (never at import time).
The CLI and tests call ``configure`` first to share a store or a clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from shared.adapters.chat.terminal import TerminalChat
from shared.adapters.store import open_store
from shared.clock import Clock, SystemClock
from shared.ingestion.service import IngestService
from shared.models.tenant import Tenant
from shared.ports.chat import ChatPort
from shared.ports.llm import CandidateProposer, proposer_from
from shared.ports.search import SearchIndex
from shared.ports.store import DocumentStore
from shared.settings import Settings, load_settings
from shared.tenants.registry import TenantRegistry


class _Closeable(Protocol):
    def close(self) -> None: ...


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: DocumentStore
    clock: Clock
    tenants: TenantRegistry
    ingest: IngestService
    chat: ChatPort
    proposer: CandidateProposer
    owned: tuple[_Closeable, ...] = field(default=(), repr=False)
    """What ``build`` opened itself: ``close`` releases these and nothing a caller passed in."""

    def close(self) -> None:
        """Release the connections this runtime opened (CLI exit, host shutdown, tests)."""
        for resource in reversed(self.owned):
            resource.close()

    @property
    def change_lookback(self) -> timedelta:
        return timedelta(minutes=self.settings.change_lookback_minutes)

    def runbook_index(self, tenant: Tenant) -> SearchIndex | None:
        """The runbook search for a tenant: Azure AI Search, or the local index of a folder."""
        if self.settings.search == "azure":
            from shared.adapters.search.azure_search import AzureRunbookSearch

            return AzureRunbookSearch(
                self.settings.azure_search_endpoint,
                self.settings.azure_search_key.get_secret_value(),
                self.settings.azure_search_index,
                tenant_id=tenant.id,
            )
        if self.settings.runbooks_dir is None:
            return None
        from shared.replay.pipeline import runbook_index

        return runbook_index(self.settings.runbooks_dir)


_lock = threading.Lock()
_current: Runtime | None = None


def build(
    settings: Settings | None = None,
    *,
    store: DocumentStore | None = None,
    clock: Clock | None = None,
    chat: ChatPort | None = None,
) -> Runtime:
    settings = settings or load_settings()
    owned: list[_Closeable] = []
    if store is None:
        store = open_store(settings)
        owned.append(store)
    clock = clock or SystemClock()
    tenants = TenantRegistry(store)
    chat = chat or TerminalChat(settings.messages_dir, echo=settings.echo_messages)
    proposer = proposer_from(settings, store)
    owned.append(proposer)
    return Runtime(
        settings=settings,
        store=store,
        clock=clock,
        tenants=tenants,
        ingest=IngestService(store, tenants, settings, clock),
        chat=chat,
        proposer=proposer,
        owned=tuple(owned),
    )


def configure(runtime: Runtime) -> Runtime:
    """Make ``runtime`` the one the function app uses (CLI, tests)."""
    global _current
    with _lock:
        _current = runtime
    return runtime


def runtime() -> Runtime:
    """The app's runtime, built from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = build()
        return _current


def reset() -> None:
    """Forget the current runtime and close what it opened."""
    global _current
    with _lock:
        current, _current = _current, None
    if current is not None:
        current.close()
