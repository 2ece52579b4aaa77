"""Document-store adapters: SQLite (embedded default) and Cosmos DB.

``open_store`` picks one from settings; ``rules`` holds the checks both share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.errors import BadInput
from shared.ports.store import DocumentStore

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

__all__ = ["open_store"]


def open_store(settings: Settings, *, credential: TokenCredential | None = None) -> DocumentStore:
    """The store the settings name; nothing connects until the first call.

    Cosmos DB takes ``SRE_COPILOT_COSMOS_KEY`` when it is set (emulators),
    else ``credential`` (the app's Entra ID identity, given by bootstrap).
    """
    # Imported here so the embedded default never loads the Cosmos SDK.
    if settings.store == "cosmos":
        from shared.adapters.store.cosmos import CosmosStore

        if not settings.cosmos_endpoint:
            raise BadInput("SRE_COPILOT_STORE=cosmos needs SRE_COPILOT_COSMOS_ENDPOINT")
        auth: str | TokenCredential | None = settings.cosmos_key.get_secret_value() or credential
        if not auth:
            raise BadInput("SRE_COPILOT_STORE=cosmos needs SRE_COPILOT_COSMOS_KEY or an identity")
        return CosmosStore(
            settings.cosmos_endpoint,
            auth,
            settings.cosmos_database,
            verify_tls=settings.cosmos_verify_tls,
            create_if_missing=settings.cosmos_create_if_missing,
        )
    from shared.adapters.store.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path)
