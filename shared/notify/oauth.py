"""Installing the app into a Slack workspace (OAuth v2), one tenant per workspace.

The flow, as Slack documents it: ``/api/slack/install`` issues a single-use
``state`` and sends the browser to Slack's authorize page with the scopes of
``slack/manifest.yml``; Slack sends it back to ``/api/slack/oauth/callback``
with a ``code``; ``complete_oauth`` checks the state *before* anything else,
exchanges the code with ``oauth.v2.access``, confirms the token with
``auth.test`` and saves the installation, which maps the workspace to its
tenant (see ``shared.adapters.slack_installations``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth import AuthorizeUrlGenerator, RedirectUriPageRenderer
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store import OAuthStateStore

from shared.adapters.chat.slack import CLIENT_FAILURES, delivery_error, web_client
from shared.adapters.slack_installations import DocumentInstallationStore, DocumentStateStore
from shared.clock import Clock
from shared.errors import BadInput, DeliveryFailed, NotFound
from shared.ports.store import DocumentStore
from shared.settings import Settings
from shared.tenants.registry import TenantRegistry

BOT_SCOPES: tuple[str, ...] = ("chat:write", "chat:write.public", "commands", "incoming-webhook")
"""The bot scopes ``slack/manifest.yml`` lists (a test keeps the two equal).

``incoming-webhook`` makes Slack ask the installer for a channel, which
becomes the tenant's incident channel.
"""

INSTALL_PATH = "/api/slack/install"
CALLBACK_PATH = "/api/slack/oauth/callback"


def redirect_uri(settings: Settings) -> str:
    """The callback URL; ``oauth.v2.access`` must get exactly the one the authorize step got."""
    return settings.public_base_url.rstrip("/") + CALLBACK_PATH


def _require_oauth(settings: Settings) -> None:
    if not settings.slack_client_id or not settings.slack_client_secret.get_secret_value():
        raise NotFound(
            "installing from Slack is not enabled here: set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"
        )


def install_url(settings: Settings, state_store: OAuthStateStore) -> str:
    """Slack's authorize URL with a fresh state; ``NotFound`` when OAuth is not configured."""
    _require_oauth(settings)
    generator = AuthorizeUrlGenerator(
        client_id=settings.slack_client_id,
        redirect_uri=redirect_uri(settings),
        scopes=list(BOT_SCOPES),
        authorization_url=settings.slack_oauth_authorize_url,
    )
    return generator.generate(state_store.issue())


@dataclass(frozen=True, slots=True)
class InstallResult:
    """What an install did: which workspace, which tenant, whether the tenant is new."""

    tenant_id: str
    team_id: str
    team_name: str
    channel_id: str | None
    created: bool
    app_id: str | None


def complete_oauth(
    settings: Settings,
    code: str | None,
    state: str | None,
    *,
    states: DocumentStateStore,
    installations: DocumentInstallationStore,
    error: str | None = None,
    client: WebClient | None = None,
) -> InstallResult:
    """Finish an install from Slack's redirect (``code``, ``state``, or ``error``).

    Raises ``BadInput``/``Unauthorized`` for a missing, unknown, expired or
    reused state and for a code Slack refuses; ``DeliveryFailed`` (transient)
    when Slack cannot be reached.
    """
    _require_oauth(settings)
    states.redeem(state)
    if error:
        raise BadInput(f"the install was not completed in Slack ({error})")
    if not code:
        raise BadInput("the OAuth callback has no code")
    client = client or web_client(None, settings.slack_api_base_url)
    answer = _call(
        "oauth.v2.access",
        lambda: (
            client.oauth_v2_access(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret.get_secret_value(),
                code=code,
                redirect_uri=redirect_uri(settings),
            ).data
        ),
    )
    bot_token = answer.get("access_token")
    if not isinstance(bot_token, str) or answer.get("token_type") != "bot":
        raise BadInput("Slack granted no bot token: the app needs its bot scopes")
    identity = _call("auth.test", lambda: client.auth_test(token=bot_token).data)
    installation = _installation(answer, identity)
    installed = installations.install(installation)
    return InstallResult(
        tenant_id=installed.tenant.id,
        team_id=installation.team_id or "",
        team_name=installation.team_name or "",
        channel_id=installed.tenant.slack_channel_id,
        created=installed.created,
        app_id=installation.app_id,
    )


def _call(method: str, send: Callable[[], Any]) -> dict[str, Any]:
    try:
        data = send()
    except SlackApiError as exc:
        failure = delivery_error(exc, method)
        if not failure.permanent:
            raise failure from exc
        answer = exc.response.data
        code = answer.get("error") if isinstance(answer, dict) else None
        raise BadInput(f"Slack refused the install ({code or failure.reason})") from exc
    except CLIENT_FAILURES as exc:
        raise delivery_error(exc, method) from exc
    if not isinstance(data, dict):
        raise DeliveryFailed(f"{method}: answer is not a JSON object", permanent=False)
    return data


def _installation(answer: dict[str, Any], identity: dict[str, Any]) -> Installation:
    """slack-sdk's ``Installation`` from ``oauth.v2.access`` (and ``auth.test`` for the bot id)."""
    team = answer.get("team") or {}
    enterprise = answer.get("enterprise") or {}
    installer = answer.get("authed_user") or {}
    webhook = answer.get("incoming_webhook") or {}
    return Installation(
        app_id=answer.get("app_id"),
        enterprise_id=enterprise.get("id"),
        enterprise_name=enterprise.get("name"),
        team_id=team.get("id"),
        team_name=team.get("name"),
        bot_token=answer.get("access_token"),
        bot_id=identity.get("bot_id"),
        bot_user_id=answer.get("bot_user_id"),
        bot_scopes=answer.get("scope") or "",
        bot_refresh_token=answer.get("refresh_token"),
        bot_token_expires_in=answer.get("expires_in"),
        user_id=installer.get("id") or "",
        user_token=installer.get("access_token"),
        user_scopes=installer.get("scope") or "",
        incoming_webhook_url=webhook.get("url"),
        incoming_webhook_channel=webhook.get("channel"),
        incoming_webhook_channel_id=webhook.get("channel_id"),
        incoming_webhook_configuration_url=webhook.get("configuration_url"),
        is_enterprise_install=bool(answer.get("is_enterprise_install")),
        token_type=answer.get("token_type"),
    )


def _pages() -> RedirectUriPageRenderer:
    return RedirectUriPageRenderer(install_path=INSTALL_PATH, redirect_uri_path=CALLBACK_PATH)


def success_page(result: InstallResult) -> str:
    """The HTML the browser lands on after a good install (opens Slack)."""
    return _pages().render_success_page(app_id=result.app_id or "", team_id=result.team_id)


def failure_page(reason: str) -> str:
    """The HTML for a failed install, with the reason and a link to start again."""
    return _pages().render_failure_page(reason)


class OAuthDeps(Protocol):
    """What the install needs of the runtime (``shared.bootstrap.Runtime`` has it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> DocumentStore: ...

    @property
    def tenants(self) -> TenantRegistry: ...

    @property
    def clock(self) -> Clock: ...


def begin_install(deps: OAuthDeps) -> str:
    """The URL to send the installer's browser to (a fresh single-use state in it)."""
    return install_url(deps.settings, DocumentStateStore(deps.store, deps.clock))


def finish_install(
    deps: OAuthDeps, code: str | None, state: str | None, *, error: str | None = None
) -> InstallResult:
    """``complete_oauth`` with the stores of ``deps``."""
    return complete_oauth(
        deps.settings,
        code,
        state,
        states=DocumentStateStore(deps.store, deps.clock),
        installations=DocumentInstallationStore(deps.store, deps.tenants),
        error=error,
    )
