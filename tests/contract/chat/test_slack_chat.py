"""The Slack chat adapter: the real ``WebClient`` against a local double of the Web API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from pydantic import SecretStr
from rich.console import Console

from shared.adapters.chat.slack import (
    PERMANENT_ERRORS,
    TRANSIENT_ERRORS,
    SlackChat,
    chat_for,
    respond,
    web_client,
)
from shared.adapters.chat.terminal import TerminalChat
from shared.errors import DeliveryFailed
from shared.models.tenant import Tenant
from shared.ports.chat import ChatMessage, ChatPort
from shared.settings import Settings
from tests.fixtures.servers import free_port
from tests.fixtures.slack_server import SlackServer

BLOCKS = (
    {"type": "header", "text": {"type": "plain_text", "text": "CRITICAL checkout"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*What is happening*"}},
)


def message(text: str = "CRITICAL checkout down (INC-1)", blocks: tuple = BLOCKS) -> ChatMessage:
    return ChatMessage(tenant_id="acme", incident_id="INC-1", text=text, blocks=blocks)


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


def chat(slack: SlackServer, token: str = "xoxb-test", **retries: int) -> SlackChat:
    return SlackChat(web_client(token, slack.base_url, **retries), default_channel="C0INCIDENTS")


def test_post_sends_blocks_with_text_fallback_and_returns_where_it_landed(
    slack: SlackServer,
) -> None:
    posted = chat(slack).post(message(), channel="C0INCIDENTS")

    (call,) = slack.calls_of("chat.postMessage")
    assert call.token == "xoxb-test"
    assert call.content_type.startswith("application/json")
    assert call.body["channel"] == "C0INCIDENTS"
    assert call.body["text"] == "CRITICAL checkout down (INC-1)"
    assert call.body["blocks"] == [dict(b) for b in BLOCKS]
    assert posted.channel == "C0INCIDENTS"
    assert (posted.channel, posted.ts) in slack.messages


def test_post_without_a_channel_uses_the_default_and_refuses_when_there_is_none(
    slack: SlackServer,
) -> None:
    assert chat(slack).post(message(), channel=None).channel == "C0INCIDENTS"
    with pytest.raises(DeliveryFailed) as caught:
        SlackChat(web_client("xoxb-test", slack.base_url)).post(message(), channel=None)
    assert caught.value.permanent


def test_update_replaces_the_same_message_in_place(slack: SlackServer) -> None:
    adapter = chat(slack)
    posted = adapter.post(message(), channel="C0INCIDENTS")
    new_blocks = ({"type": "section", "text": {"type": "mrkdwn", "text": "resolved"}},)

    updated = adapter.update(message("RESOLVED checkout", new_blocks), posted=posted)

    assert updated == posted
    (call,) = slack.calls_of("chat.update")
    assert (call.body["channel"], call.body["ts"]) == (posted.channel, posted.ts)
    stored = slack.messages[(posted.channel, posted.ts)]
    assert stored["text"] == "RESOLVED checkout"
    assert stored["blocks"] == [dict(b) for b in new_blocks]
    assert len(slack.messages) == 1


def test_reply_in_thread_and_ephemeral(slack: SlackServer) -> None:
    adapter = chat(slack)
    posted = adapter.post(message(), channel="C0INCIDENTS")

    reply = adapter.reply_in_thread(posted, "Marked hypothesis 1 likely")
    ts = adapter.post_ephemeral("C0INCIDENTS", "U123", "Only you can see this")

    assert slack.messages[(reply.channel, reply.ts)]["thread_ts"] == posted.ts
    assert reply.ts != posted.ts
    (call,) = slack.calls_of("chat.postEphemeral")
    assert call.body == {"channel": "C0INCIDENTS", "user": "U123", "text": "Only you can see this"}
    assert ts


def test_a_429_with_retry_after_is_retried_then_succeeds(slack: SlackServer) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=0)

    posted = chat(slack).post(message(), channel="C0INCIDENTS")

    assert len(slack.calls_of("chat.postMessage")) == 2
    assert (posted.channel, posted.ts) in slack.messages


def test_still_rate_limited_after_the_retries_is_transient(slack: SlackServer) -> None:
    slack.rate_limit("chat.postMessage", times=2, retry_after=0)

    with pytest.raises(DeliveryFailed) as caught:
        chat(slack, rate_limit_retries=1).post(message(), channel="C0INCIDENTS")

    assert not caught.value.permanent
    assert "ratelimited" in caught.value.reason
    assert len(slack.calls_of("chat.postMessage")) == 2


def test_an_unknown_token_is_invalid_auth_and_permanent(slack: SlackServer) -> None:
    with pytest.raises(DeliveryFailed) as caught:
        chat(slack, token="xoxb-revoked").post(message(), channel="C0INCIDENTS")

    assert caught.value.permanent
    assert "invalid_auth" in caught.value.reason


def test_an_unknown_channel_is_permanent(slack: SlackServer) -> None:
    slack.channels = {"C0INCIDENTS"}

    with pytest.raises(DeliveryFailed) as caught:
        chat(slack).post(message(), channel="C0GONE")

    assert caught.value.permanent
    assert "channel_not_found" in caught.value.reason


@pytest.mark.parametrize(
    ("code", "permanent"),
    [(code, True) for code in sorted(PERMANENT_ERRORS)]
    + [(code, False) for code in sorted(TRANSIENT_ERRORS)],
)
def test_slack_error_codes_keep_their_name_and_retryability(
    slack: SlackServer, code: str, permanent: bool
) -> None:
    slack.fail("chat.update", code)
    adapter = chat(slack)
    posted = adapter.post(message(), channel="C0INCIDENTS")

    with pytest.raises(DeliveryFailed) as caught:
        adapter.update(message(), posted=posted)

    assert caught.value.permanent is permanent
    assert code in caught.value.reason


def test_server_errors_and_unreachable_slack_are_transient(slack: SlackServer) -> None:
    slack.server_error("chat.postMessage", status=503)
    with pytest.raises(DeliveryFailed) as caught:
        chat(slack).post(message(), channel="C0INCIDENTS")
    assert not caught.value.permanent

    nowhere = SlackChat(
        web_client("xoxb-test", f"http://127.0.0.1:{free_port()}/api/", connection_retries=0)
    )
    with pytest.raises(DeliveryFailed) as caught:
        nowhere.post(message(), channel="C0INCIDENTS")
    assert not caught.value.permanent


def test_respond_posts_an_ephemeral_reply_to_the_response_url(slack: SlackServer) -> None:
    assert respond(slack.response_url("r1"), "Thanks, recorded.")

    (reply,) = slack.replies_to("r1")
    assert reply["text"] == "Thanks, recorded."
    assert reply["response_type"] == "ephemeral"
    assert reply["replace_original"] is False


def test_respond_reports_an_expired_response_url_without_raising(slack: SlackServer) -> None:
    slack.expire_response_url("r1")

    assert respond(slack.response_url("r1"), "too late") is False
    assert slack.replies_to("r1") == []


def tenant(**fields: object) -> Tenant:
    return Tenant.model_validate({"id": "acme", "tenantId": "acme", "name": "Acme", **fields})


def test_chat_for_prefers_the_tenant_token_and_needs_a_channel(
    slack: SlackServer, tmp_path: Path
) -> None:
    slack.tokens["xoxb-acme"] = "T0ACME"
    settings = Settings(
        home=tmp_path, slack_bot_token=SecretStr("xoxb-test"), slack_api_base_url=slack.base_url
    )

    with_token = chat_for(
        settings,
        tenant(slack_channel_id="C0ACME", slack_bot_token="xoxb-acme"),
        tmp_path / "messages",
    )
    assert with_token is not None
    with_token.post(message(), channel=None)
    assert slack.calls_of("chat.postMessage")[-1].token == "xoxb-acme"
    saved = json.loads((tmp_path / "messages" / "acme__INC-1.json").read_text())
    assert saved["channel"] == "C0ACME"

    fallback = chat_for(settings, tenant(slack_channel_id="C0ACME"))
    assert fallback is not None
    fallback.post(message(), channel=None)
    assert slack.calls_of("chat.postMessage")[-1].token == "xoxb-test"

    assert chat_for(settings, tenant(slack_bot_token="xoxb-acme")) is None
    no_token = Settings(home=tmp_path, slack_bot_token=SecretStr(""))
    assert chat_for(no_token, tenant(slack_channel_id="C0ACME")) is None


@pytest.fixture(params=["terminal", "slack"])
def port(request: pytest.FixtureRequest, slack: SlackServer, tmp_path: Path) -> ChatPort:
    if request.param == "terminal":
        return TerminalChat(tmp_path / "messages", echo=False)
    return chat(slack)


def test_contract_an_update_lands_where_the_post_did(port: ChatPort) -> None:
    posted = port.post(message(), channel="C0INCIDENTS")
    updated = port.update(message("RESOLVED"), posted=posted)

    assert (updated.channel, updated.ts) == (posted.channel, posted.ts)
    assert posted.channel == "C0INCIDENTS"


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def test_post_file_posts_the_message_then_uploads_the_file_into_its_thread(
    slack: SlackServer,
) -> None:
    posted = chat(slack).post_file(
        message(), channel="C0INCIDENTS", filename="forecast.png", content=PNG, title="Forecast"
    )

    (post,) = slack.calls_of("chat.postMessage")
    assert post.body["blocks"] == [dict(b) for b in BLOCKS]
    (announce,) = slack.calls_of("files.getUploadURLExternal")
    assert announce.token == "xoxb-test"
    assert (announce.body["filename"], int(announce.body["length"])) == ("forecast.png", len(PNG))
    (upload,) = slack.completed_uploads()
    assert upload.content == PNG
    assert (upload.title, upload.channel, upload.thread_ts) == (
        "Forecast",
        "C0INCIDENTS",
        posted.ts,
    )
    assert posted.file == upload.file_id
    shared = [m for m in slack.messages.values() if m.get("files")]
    assert [(m["thread_ts"], m["files"][0]["id"]) for m in shared] == [(posted.ts, posted.file)]


def test_post_file_keeps_the_message_when_only_the_upload_fails(slack: SlackServer) -> None:
    slack.fail_upload(times=1, status=500)

    posted = chat(slack, connection_retries=0).post_file(
        message(), channel="C0INCIDENTS", filename="forecast.png", content=PNG, title="Forecast"
    )

    assert (posted.channel, posted.ts) in slack.messages
    assert posted.file is None
    assert slack.completed_uploads() == []
    assert slack.calls_of("files.completeUploadExternal") == []


def test_post_file_with_an_upload_refused_by_slack_keeps_the_message(slack: SlackServer) -> None:
    slack.fail("files.getUploadURLExternal", "file_uploads_disabled")

    posted = chat(slack).post_file(
        message(), channel="C0INCIDENTS", filename="forecast.png", content=PNG, title="Forecast"
    )

    assert posted.file is None
    assert len(slack.calls_of("chat.postMessage")) == 1


def test_post_file_raises_when_the_message_itself_does_not_land(slack: SlackServer) -> None:
    slack.channels = {"C0INCIDENTS"}

    with pytest.raises(DeliveryFailed) as caught:
        chat(slack).post_file(
            message(), channel="C0GONE", filename="forecast.png", content=PNG, title="Forecast"
        )

    assert caught.value.permanent
    assert slack.calls_of("files.getUploadURLExternal") == []


def test_post_file_through_chat_for_also_saves_the_file_beside_the_mirrored_message(
    slack: SlackServer, tmp_path: Path
) -> None:
    settings = Settings(
        home=tmp_path, slack_bot_token=SecretStr("xoxb-test"), slack_api_base_url=slack.base_url
    )
    adapter = chat_for(settings, tenant(slack_channel_id="C0ACME"), tmp_path / "messages")
    assert adapter is not None

    posted = adapter.post_file(
        message(), channel=None, filename="forecast.png", content=PNG, title="Forecast"
    )

    assert posted.file is not None and posted.file.startswith("F")
    saved = json.loads((tmp_path / "messages" / "acme__INC-1.json").read_text())
    (entry,) = saved["files"]
    assert Path(entry["path"]).read_bytes() == PNG


def test_contract_post_file_attaches_the_bytes_and_update_keeps_the_message(
    port: ChatPort, slack: SlackServer
) -> None:
    posted = port.post_file(
        message(), channel="C0INCIDENTS", filename="chart.png", content=PNG, title="Chart"
    )
    updated = port.update(message("RESOLVED"), posted=posted)

    assert posted.file is not None
    assert (updated.channel, updated.ts) == (posted.channel, posted.ts)
    if isinstance(port, TerminalChat):
        assert Path(posted.file).read_bytes() == PNG
    else:
        assert slack.uploads[posted.file].content == PNG


def test_terminal_post_file_saves_the_file_beside_the_message_and_says_where(
    tmp_path: Path,
) -> None:
    out = StringIO()
    terminal = TerminalChat(tmp_path, console=Console(file=out, width=200))

    posted = terminal.post_file(
        message(), channel=None, filename="../evil name.png", content=PNG, title="Forecast"
    )
    terminal.update(message("later"), posted=posted)

    assert posted.file is not None
    path = Path(posted.file)
    assert path.parent == tmp_path  # the name cannot climb out of the messages folder
    assert path.read_bytes() == PNG
    saved = json.loads((tmp_path / "acme__INC-1.json").read_text())
    assert saved["text"] == "later"
    assert saved["files"] == [
        {"filename": "../evil name.png", "title": "Forecast", "path": str(path)}
    ]
    assert str(path) in out.getvalue().replace("\n", "")
