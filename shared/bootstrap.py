"""The one place where adapters are chosen from settings and wired together.

The Functions host imports the app with nothing but environment variables, so
``runtime()`` builds everything lazily on first use (never at import time).
The CLI and tests call ``configure`` first to share a store or a clock.

Core modules get every outside system from the ``Runtime`` (its ports, and
per-tenant choices: ``metrics_for``, ``chat_for``, ``runbook_index``,
``executor_for``) and import no adapter themselves. Adapters whose SDK is
heavy or optional are imported only when chosen.

Azure services without a key configured (Cosmos DB, Azure AI Search, the
telemetry exporter) authenticate as the app's Entra ID identity: one
``AzureIdentity``, which makes its ``DefaultAzureCredential`` on the first
token asked for. Telemetry is exported only when the app's own runtime is
built (``runtime()``) with a connection string; its wrappers go in front of
the ingestion service, the chat and the proposer only then.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shared.adapters.chat.slack import SlackResponseUrl, chat_for
from shared.adapters.chat.terminal import TerminalChat
from shared.adapters.executors.dry_run import DryRunExecutor
from shared.adapters.metrics.prometheus import HttpSession, PrometheusSource
from shared.adapters.store import open_store
from shared.clock import Clock, SystemClock
from shared.errors import BadInput
from shared.ingestion.service import IngestService
from shared.models.tenant import Tenant
from shared.ports.chat import ChatPort, InteractionReplies
from shared.ports.executor import Executor
from shared.ports.llm import CandidateProposer, DisabledProposer
from shared.ports.metrics import MetricsSource
from shared.ports.search import SearchIndex
from shared.ports.store import DocumentStore
from shared.settings import Settings, load_settings
from shared.telemetry import Telemetry, TracedChat, TracedIngest, TracedProposer, for_app
from shared.tenants.registry import TenantRegistry

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

    from shared.adapters.executors.kubernetes import KubernetesApi
    from shared.adapters.search.azure_search import AzureRunbookSearch
    from shared.telemetry import Deliveries


class _Closeable(Protocol):
    def close(self) -> None: ...


class AzureIdentity:
    """The app's Entra ID identity: a ``TokenCredential`` made on first use.

    ``DefaultAzureCredential`` (the managed identity in Azure, the developer's
    ``az login`` locally) is created when the first token is asked for, never
    at import or when the runtime is built, and once for every client.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credential: TokenCredential | None = None

    def _get(self) -> TokenCredential:
        with self._lock:
            if self._credential is None:
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
            return self._credential

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return self._get().get_token(
            *scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs
        )

    def close(self) -> None:
        with self._lock:
            credential, self._credential = self._credential, None
        close = getattr(credential, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: DocumentStore
    clock: Clock
    tenants: TenantRegistry
    ingest: Deliveries
    chat: ChatPort
    proposer: CandidateProposer
    replies: InteractionReplies = field(default_factory=SlackResponseUrl)
    """Answers to a click or command through its Slack ``response_url``."""
    prometheus: HttpSession = field(default_factory=HttpSession, repr=False)
    """Kept-alive connections shared by every tenant's Prometheus source."""
    kubernetes: KubernetesApi | None = field(default=None, repr=False)
    """The cluster connection when ``SRE_COPILOT_EXECUTOR=kubernetes`` (connects on first use)."""
    telemetry: Telemetry = field(default_factory=Telemetry.disabled, repr=False)
    """Spans and metrics (recorded only when enabled: ``runtime()`` with a connection string)."""
    credential: TokenCredential | None = field(default=None, repr=False)
    """The app's Entra ID identity, for Azure services without a key."""
    owned: tuple[_Closeable, ...] = field(default=(), repr=False)
    """What ``build`` opened itself: ``close`` releases these and nothing a caller passed in."""

    def close(self) -> None:
        """Release the connections this runtime opened (CLI exit, host shutdown, tests)."""
        self.prometheus.close()
        for resource in reversed(self.owned):
            resource.close()

    def metrics_for(self, tenant: Tenant) -> MetricsSource | None:
        """The tenant's metrics source: its Prometheus, a metrics file, or none."""
        if tenant.prometheus_url:
            return PrometheusSource(
                tenant.prometheus_url,
                timeout_seconds=self.settings.prometheus_timeout_seconds,
                session=self.prometheus,
            )
        if tenant.metrics_file:
            path = Path(tenant.metrics_file)
            try:
                stat = path.stat()
            except OSError:
                return _metrics_file(str(path), 0, 0)  # reports the missing file as BadInput
            return _metrics_file(str(path), stat.st_mtime_ns, stat.st_size)
        return None

    def chat_for(self, tenant: Tenant) -> ChatPort:
        """Slack when the tenant can be reached there, else the embedded chat."""
        chat = chat_for(self.settings, tenant, self.settings.messages_dir) or self.chat
        if not self.telemetry.enabled:
            return chat
        return TracedChat(chat, self.telemetry, self.store, self.clock)

    @property
    def change_lookback(self) -> timedelta:
        return timedelta(minutes=self.settings.change_lookback_minutes)

    def executor_for(self, tenant: Tenant) -> Executor:
        """What carries out the tenant's remediation actions (``SRE_COPILOT_EXECUTOR``).

        The dry run (default) records what it would do; Kubernetes acts on the
        configured cluster. Either keeps its idempotency records in the
        tenant's partition of the store.
        """
        del tenant  # one cluster for every tenant today; requests carry their tenant
        if self.kubernetes is not None:
            from shared.adapters.executors.kubernetes import KubernetesExecutor

            return KubernetesExecutor(
                self.kubernetes,
                self.store,
                self.clock,
                namespace=self.settings.kubernetes_namespace,
            )
        return DryRunExecutor(self.store, self.clock)

    def runbook_index(self, tenant: Tenant) -> SearchIndex | None:
        """The runbook search for a tenant: Azure AI Search, or the local index of a folder."""
        if self.settings.search == "azure":
            return azure_search(self.settings, self.credential, tenant_id=tenant.id)
        if self.settings.runbooks_dir is None:
            return None
        from shared.replay.pipeline import runbook_index

        return runbook_index(self.settings.runbooks_dir)


def azure_search(
    settings: Settings, credential: TokenCredential | None, *, tenant_id: str | None = None
) -> AzureRunbookSearch:
    """Azure AI Search by ``SRE_COPILOT_AZURE_SEARCH_KEY``, else by the identity.

    ``tenant_id`` None: the shared corpus (what ``runbooks index`` uploads).
    """
    from shared.adapters.search.azure_search import SHARED_TENANT, AzureRunbookSearch

    if not settings.azure_search_endpoint:
        raise BadInput("SRE_COPILOT_SEARCH=azure needs SRE_COPILOT_AZURE_SEARCH_ENDPOINT")
    auth = settings.azure_search_key.get_secret_value() or credential
    if not auth:
        raise BadInput("Azure AI Search needs SRE_COPILOT_AZURE_SEARCH_KEY or an identity")
    return AzureRunbookSearch(
        settings.azure_search_endpoint,
        auth,
        settings.azure_search_index,
        tenant_id=tenant_id or SHARED_TENANT,
    )


@lru_cache(maxsize=8)
def _metrics_file(path: str, mtime_ns: int, size: int) -> MetricsSource:
    """Parsed once per file version: every fan-out branch reads the same file."""
    del mtime_ns, size  # part of the cache key only
    from shared.adapters.metrics.scenario_file import ScenarioFileMetrics

    return ScenarioFileMetrics.from_path(Path(path))


def proposer_from(settings: Settings, store: DocumentStore) -> CandidateProposer:
    """Claude when an API key is configured, else ``DisabledProposer``.

    Nothing connects here; the SDK is imported only when a key is set, so the
    embedded default never loads it.
    """
    if not settings.anthropic_api_key.get_secret_value():
        return DisabledProposer()
    from shared.adapters.llm.anthropic import ClaudeProposer

    return ClaudeProposer.from_settings(settings, store)


_lock = threading.Lock()
_current: Runtime | None = None


def build(
    settings: Settings | None = None,
    *,
    store: DocumentStore | None = None,
    clock: Clock | None = None,
    chat: ChatPort | None = None,
    replies: InteractionReplies | None = None,
    telemetry: Telemetry | None = None,
    credential: TokenCredential | None = None,
) -> Runtime:
    """Wire the adapters the settings choose.

    ``credential`` (default: a new ``AzureIdentity``) is what Azure services
    without a key authenticate with; ``telemetry`` (default: disabled) what
    records spans and metrics.
    """
    settings = settings or load_settings()
    owned: list[_Closeable] = []
    if credential is None:
        identity = AzureIdentity()
        owned.append(identity)
        credential = identity
    telemetry = telemetry or Telemetry.disabled()
    if store is None:
        store = open_store(settings, credential=credential)
        owned.append(store)
    clock = clock or SystemClock()
    tenants = TenantRegistry(store)
    chat = chat or TerminalChat(settings.messages_dir, echo=settings.echo_messages)
    proposer: CandidateProposer = proposer_from(settings, store)
    owned.append(proposer)
    ingest: Deliveries = IngestService(store, tenants, settings, clock)
    if telemetry.enabled:
        proposer = TracedProposer(proposer, telemetry)
        ingest = TracedIngest(ingest, telemetry)
    kubernetes = None
    if settings.executor == "kubernetes":
        from shared.adapters.executors.kubernetes import KubernetesApi

        kubernetes = KubernetesApi.from_settings(settings)
        owned.append(kubernetes)
    return Runtime(
        settings=settings,
        store=store,
        clock=clock,
        tenants=tenants,
        ingest=ingest,
        chat=chat,
        proposer=proposer,
        replies=replies or SlackResponseUrl(),
        kubernetes=kubernetes,
        telemetry=telemetry,
        credential=credential,
        owned=tuple(owned),
    )


def configure(runtime: Runtime) -> Runtime:
    """Make ``runtime`` the one the function app uses (CLI, tests)."""
    global _current
    with _lock:
        _current = runtime
    return runtime


def runtime() -> Runtime:
    """The app's runtime, built from the environment on first use.

    This is the function app's path (the CLI and tests ``configure`` one), so
    telemetry export is set up here, when the settings ask for it.
    """
    global _current
    with _lock:
        if _current is None:
            settings = load_settings()
            identity = AzureIdentity()
            _current = build(settings, credential=identity, telemetry=for_app(settings, identity))
            # build leaves a credential it was given to the caller: the runtime owns this one
            _current = replace(_current, owned=(*_current.owned, identity))
        return _current


def reset() -> None:
    """Forget the current runtime and close what it opened."""
    global _current
    with _lock:
        current, _current = _current, None
    if current is not None:
        current.close()
