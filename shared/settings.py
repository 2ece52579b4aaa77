"""The one settings object, read once from the environment and passed down.

Our own names carry the ``SRE_COPILOT_`` prefix; names that their vendors
define (``ANTHROPIC_API_KEY``, ``SLACK_BOT_TOKEN`` ...) are read as the vendors
spell them. Nothing else in the product reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting the product reads; see README, "Settings"."""

    model_config = SettingsConfigDict(env_prefix="SRE_COPILOT_", extra="ignore", frozen=True)

    home: Path = Field(default=Path(".sre-copilot"), description="Embedded store, saved messages.")
    store: Literal["sqlite", "cosmos"] = "sqlite"
    cosmos_endpoint: str = ""
    cosmos_key: SecretStr = SecretStr("")
    cosmos_database: str = "sre-copilot"
    cosmos_verify_tls: bool = True
    cosmos_create_if_missing: bool = False
    """Create the database and containers on first use: for a local emulator only. In
    Azure the deployment creates them, and the app's data-plane role may not."""

    dedup_ttl_hours: int = Field(default=72, ge=48)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    change_lookback_minutes: int = Field(default=120, ge=1)

    runbooks_dir: Path | None = None
    search: Literal["local", "azure"] = "local"
    azure_search_endpoint: str = ""
    azure_search_key: SecretStr = SecretStr("")
    azure_search_index: str = "runbooks"
    """Cosmos DB and Azure AI Search use the app's Entra ID identity
    (``DefaultAzureCredential``) when their key is empty; keys are for emulators."""

    applicationinsights_connection_string: str = Field(
        default="",
        validation_alias=AliasChoices(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "SRE_COPILOT_APPLICATIONINSIGHTS_CONNECTION_STRING",
        ),
    )
    """Where OpenTelemetry traces and metrics go (by identity); empty: nothing is sent."""

    anthropic_api_key: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("ANTHROPIC_API_KEY", "SRE_COPILOT_ANTHROPIC_API_KEY"),
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "SRE_COPILOT_ANTHROPIC_BASE_URL"),
    )
    anthropic_model: str = "claude-sonnet-4-6"
    """A current model of the installed SDK (not in its deprecated list; see anthropic.py)."""
    llm_deadline_seconds: float = Field(default=20.0, gt=0)

    slack_bot_token: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("SLACK_BOT_TOKEN", "SRE_COPILOT_SLACK_BOT_TOKEN"),
    )
    slack_signing_secret: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "SRE_COPILOT_SLACK_SIGNING_SECRET"),
    )
    slack_api_base_url: str = Field(
        default="https://slack.com/api/",
        validation_alias=AliasChoices("SLACK_API_BASE_URL", "SRE_COPILOT_SLACK_API_BASE_URL"),
    )

    task_hub: str = Field(default="SreCopilotHub", pattern=r"^[A-Za-z][A-Za-z0-9]{2,49}$")
    slack_channel: str = Field(
        default="",
        validation_alias=AliasChoices("SLACK_CHANNEL", "SRE_COPILOT_SLACK_CHANNEL"),
        description="Channel id the demo posts to when SLACK_BOT_TOKEN is set.",
    )
    slack_client_id: str = Field(
        default="", validation_alias=AliasChoices("SLACK_CLIENT_ID", "SRE_COPILOT_SLACK_CLIENT_ID")
    )
    slack_client_secret: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("SLACK_CLIENT_SECRET", "SRE_COPILOT_SLACK_CLIENT_SECRET"),
    )
    slack_oauth_authorize_url: str = "https://slack.com/oauth/v2/authorize"
    public_base_url: str = Field(
        default="http://127.0.0.1:7071",
        description="Where Slack reaches this app (OAuth redirect).",
    )

    prometheus_timeout_seconds: float = Field(default=10.0, gt=0)

    autonomy_kill_switch: bool = False
    """Deploy-time hard stop of all remediation: the global kill switch is on whatever the
    store says (``shared.autonomy.kill_switch``)."""
    executor: Literal["dry_run", "kubernetes"] = "dry_run"
    """What carries out remediation actions: the dry run records them, Kubernetes acts."""
    kubernetes_api_url: str = ""
    """The API server, e.g. ``https://aks-prod.hcp.westeurope.azmk8s.io:443``."""
    kubernetes_token: SecretStr = SecretStr("")
    """A bearer token of a service account allowed the executor's verbs (README, "Executors")."""
    kubernetes_ca_file: str = ""
    """The API server's CA bundle (a PEM file); empty: the system's trust store."""
    kubernetes_verify_tls: bool = True
    kubernetes_namespace: str = Field(default="default", min_length=1)
    """The namespace of a target named without one (``checkout`` for ``default/checkout``)."""
    kubernetes_timeout_seconds: float = Field(default=10.0, gt=0)

    echo_messages: bool = True

    admin_issuer: str = ""
    """The Entra ID issuer of admin API tokens, e.g.
    ``https://login.microsoftonline.com/<directory id>/v2.0``; empty: the admin API is off."""
    admin_audience: str = ""
    """The admin API's application: its client id or App ID URI (several: comma-separated)."""
    admin_openid_config_url: str = ""
    """Where the signing keys are listed; empty: ``<issuer>/.well-known/openid-configuration``."""
    admin_jwks_cache_seconds: float = Field(default=3600.0, gt=0)
    """How long fetched signing keys are trusted before they are fetched again."""

    @property
    def messages_dir(self) -> Path:
        return self.home / "messages"

    @property
    def sqlite_path(self) -> Path:
        return self.home / "store.sqlite3"


def load_settings() -> Settings:
    """Read the environment once; callers keep and pass the result."""
    return Settings()
