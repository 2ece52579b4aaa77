"""Installing into a workspace: single-use states, the code exchange, the team -> tenant map.

The code exchange runs the real ``WebClient`` against the local Slack double.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from pydantic import SecretStr

from shared.adapters.slack_installations import (
    DocumentInstallationStore,
    DocumentStateStore,
    slugify,
)
from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.errors import BadInput, NotFound, Unauthorized
from shared.models.tenant import Tenant
from shared.notify.oauth import (
    BOT_SCOPES,
    CALLBACK_PATH,
    InstallResult,
    begin_install,
    complete_oauth,
    failure_page,
    finish_install,
    install_url,
    success_page,
)
from shared.ports.store import SYSTEM_TENANT, Container
from shared.settings import Settings
from shared.tenants.registry import TenantRegistry
from tests.fixtures.slack_server import OAuthGrant, SlackServer

REPO = Path(__file__).parents[3]
T0 = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)
PUBLIC = "https://copilot.example.com"


@dataclass
class Env:
    settings: Settings
    store: SqliteStore
    clock: FixedClock
    tenants: TenantRegistry
    slack: SlackServer

    @property
    def states(self) -> DocumentStateStore:
        return DocumentStateStore(self.store, self.clock)

    @property
    def installations(self) -> DocumentInstallationStore:
        return DocumentInstallationStore(self.store, self.tenants)

    def grant(self, code: str = "code-1", **fields: str) -> None:
        values = {"team_id": "T0ACME", "team_name": "Acme Corp!", "bot_token": "xoxb-acme"}
        values.update(fields)
        self.slack.grant(code, OAuthGrant(redirect_uri=PUBLIC + CALLBACK_PATH, **values))

    def complete(
        self, code: str | None, state: str | None, error: str | None = None
    ) -> InstallResult:
        return complete_oauth(
            self.settings,
            code,
            state,
            states=self.states,
            installations=self.installations,
            error=error,
        )


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    with SlackServer() as slack:
        settings = Settings(
            home=tmp_path,
            slack_client_id=slack.client_id,
            slack_client_secret=SecretStr(slack.client_secret),
            slack_api_base_url=slack.base_url,
            slack_oauth_authorize_url="https://slack.example/oauth/v2/authorize",
            public_base_url=PUBLIC + "/",
        )
        yield Env(settings, store, FixedClock(T0), TenantRegistry(store, cache_seconds=0), slack)
    store.close()


# --- states -------------------------------------------------------------------


def test_a_state_is_good_once(env: Env) -> None:
    state = env.states.issue()

    env.states.redeem(state)

    with pytest.raises(Unauthorized, match="used already"):
        env.states.redeem(state)
    other = env.states.issue()
    assert other != state
    assert env.states.consume(other) is True
    assert env.states.consume(other) is False


def test_a_state_expires_after_ten_minutes(env: Env) -> None:
    fresh, stale = env.states.issue(), env.states.issue()

    env.clock.set(T0 + timedelta(minutes=9, seconds=59))
    env.states.redeem(fresh)
    env.clock.set(T0 + timedelta(minutes=10))
    with pytest.raises(Unauthorized, match="expired"):
        env.states.redeem(stale)


def test_a_state_is_kept_past_expiry_with_a_ttl(env: Env) -> None:
    state = env.states.issue()
    (doc,) = env.store.query(Container.DEDUP, SYSTEM_TENANT)
    assert doc["id"].endswith(state)
    assert doc["ttl"] > 600
    assert doc["consumedAt"] is None


@pytest.mark.parametrize(
    ("state", "error"),
    [
        (None, BadInput),
        ("", BadInput),
        ("../../etc/passwd", Unauthorized),
        ("A" * 43, Unauthorized),
    ],
    ids=["missing", "empty", "junk", "unknown"],
)
def test_bad_states_are_refused_with_a_reason(
    env: Env, state: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error, match="start the install again"):
        env.states.redeem(state)


# --- the authorize URL -----------------------------------------------------------


def test_install_url_asks_for_the_manifest_scopes_with_a_live_state(env: Env) -> None:
    url = install_url(env.settings, env.states)

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://slack.example/oauth/v2/authorize"
    )
    assert query["client_id"] == env.slack.client_id
    assert query["scope"].split(",") == list(BOT_SCOPES)
    assert query["redirect_uri"] == PUBLIC + CALLBACK_PATH
    env.states.redeem(query["state"])


def test_without_client_credentials_install_is_not_found(env: Env, tmp_path: Path) -> None:
    unconfigured = Settings(home=tmp_path, slack_client_id="", slack_client_secret=SecretStr(""))
    with pytest.raises(NotFound, match="SLACK_CLIENT_ID"):
        install_url(unconfigured, env.states)


def test_manifest_scopes_and_urls_match_the_code() -> None:
    manifest = yaml.safe_load((REPO / "slack" / "manifest.yml").read_text())
    assert tuple(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
    (redirect,) = manifest["oauth_config"]["redirect_urls"]
    assert redirect.endswith(CALLBACK_PATH)
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/api/slack/interactions")
    (command,) = manifest["features"]["slash_commands"]
    assert (command["command"], urlsplit(command["url"]).path) == ("/sre", "/api/slack/commands")
    assert manifest["settings"]["org_deploy_enabled"] is False
    assert manifest["settings"]["socket_mode_enabled"] is False


# --- the callback ------------------------------------------------------------------


def test_callback_for_a_new_workspace_creates_its_tenant(env: Env) -> None:
    env.grant(channel_id="C0ACMEINC")
    state = env.states.issue()

    result = env.complete("code-1", state)

    assert result.created
    assert (result.tenant_id, result.team_id, result.channel_id) == (
        "acme-corp",
        "T0ACME",
        "C0ACMEINC",
    )
    tenant = env.tenants.by_slack_team("T0ACME")
    assert tenant is not None
    assert tenant.id == "acme-corp"
    assert tenant.name == "Acme Corp!"
    assert tenant.slack_bot_token is not None
    assert tenant.slack_bot_token.get_secret_value() == "xoxb-acme"
    assert tenant.slack_channel_id == "C0ACMEINC"
    installation = env.installations.find_installation(enterprise_id=None, team_id="T0ACME")
    assert installation is not None
    assert installation.bot_token == "xoxb-acme"
    assert installation.bot_id == "BBOT"
    assert installation.bot_scopes == list(BOT_SCOPES)
    assert installation.user_id == "UINSTALLER"
    bot = env.installations.find_bot(enterprise_id=None, team_id="T0ACME")
    assert bot is not None
    assert bot.bot_token == "xoxb-acme"
    (exchange,) = env.slack.calls_of("oauth.v2.access")
    assert exchange.headers["authorization"].startswith("Basic ")
    assert exchange.body["redirect_uri"] == PUBLIC + CALLBACK_PATH


def test_callback_for_a_known_workspace_updates_its_tenant(env: Env) -> None:
    env.tenants.add(
        Tenant(
            id="acme",
            tenant_id="acme",
            name="Acme",
            slack_team_id="T0ACME",
            slack_channel_id="C0OLD",
            slack_bot_token=SecretStr("xoxb-old"),
            responders=("U0ALICE",),
        )
    )
    env.grant()

    result = env.complete("code-1", env.states.issue())

    assert not result.created
    tenant = env.tenants.get("acme")
    assert tenant.slack_bot_token is not None
    assert tenant.slack_bot_token.get_secret_value() == "xoxb-acme"
    assert tenant.slack_channel_id == "C0OLD"  # no channel picked: the old one stays
    assert tenant.responders == ("U0ALICE",)
    assert [t.id for t in env.tenants.list()] == ["acme"]


def test_a_new_workspace_named_like_an_existing_tenant_gets_a_unique_name(env: Env) -> None:
    env.tenants.add(Tenant(id="acme-corp", tenant_id="acme-corp", name="Other Acme"))
    env.grant()

    result = env.complete("code-1", env.states.issue())

    assert result.tenant_id == "acme-corp-2"
    assert env.tenants.get("acme-corp").slack_team_id is None


def test_a_workspace_name_without_latin_letters_names_the_tenant_after_the_team(
    env: Env,
) -> None:
    env.grant(team_name="日本")

    assert env.complete("code-1", env.states.issue()).tenant_id == "slack-t0acme"


def test_the_state_is_checked_before_the_code_is_spent(env: Env) -> None:
    env.grant()

    with pytest.raises(Unauthorized):
        env.complete("code-1", "B" * 43)
    with pytest.raises(BadInput):
        env.complete("code-1", None)

    assert env.slack.calls_of("oauth.v2.access") == []
    assert env.tenants.by_slack_team("T0ACME") is None


def test_a_reused_state_is_refused_even_with_a_fresh_code(env: Env) -> None:
    env.grant("code-1")
    env.grant("code-2")
    state = env.states.issue()
    env.complete("code-1", state)

    with pytest.raises(Unauthorized, match="used already"):
        env.complete("code-2", state)
    assert len(env.slack.calls_of("oauth.v2.access")) == 1


def test_a_code_slack_refuses_is_bad_input_and_nothing_is_saved(env: Env) -> None:
    with pytest.raises(BadInput, match="invalid_code"):
        env.complete("never-granted", env.states.issue())
    assert env.tenants.list() == []


def test_an_install_cancelled_in_slack_is_bad_input(env: Env) -> None:
    with pytest.raises(BadInput, match="access_denied"):
        env.complete(None, env.states.issue(), error="access_denied")


def test_uninstall_forgets_the_token_but_keeps_the_tenant(env: Env) -> None:
    env.grant()
    env.complete("code-1", env.states.issue())

    env.installations.delete_installation(enterprise_id=None, team_id="T0ACME")

    assert env.installations.find_installation(enterprise_id=None, team_id="T0ACME") is None
    tenant = env.tenants.get("acme-corp")
    assert tenant.slack_bot_token is None
    assert tenant.slack_team_id == "T0ACME"


def test_begin_and_finish_with_runtime_like_deps(env: Env) -> None:
    env.grant()
    query = parse_qs(urlsplit(begin_install(env)).query)

    result = finish_install(env, "code-1", query["state"][0])

    assert result.tenant_id == "acme-corp"
    assert "slack://app?team=T0ACME" in success_page(result)
    assert "&lt;script&gt;" in failure_page("<script>")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme Corp!", "acme-corp"),
        ("Ümlaut Größe", "umlaut-groe"),
        ("日本", ""),
        ("x" * 80, "x" * 63),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug
