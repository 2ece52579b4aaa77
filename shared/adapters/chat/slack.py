"""The production chat adapter: Slack's Web API through slack-sdk's ``WebClient``.

Transport concerns stay here: the client retries 429s (honouring
``Retry-After``) and dropped connections itself, and what is left over becomes
``DeliveryFailed`` with ``permanent`` saying whether retrying can help. A
Slack error answered with HTTP 200 and ``{"ok": false, "error": ...}`` names a
problem with the request or the installation (a revoked token, a channel the
bot cannot see): sending the same request again fails the same way, so such
errors are permanent unless Slack says it is busy or broken.

``chat_for`` says whether a tenant can be reached on Slack; ``shared.bootstrap``
falls back to the terminal adapter otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from shared.adapters.chat.terminal import TerminalChat
from shared.errors import DeliveryFailed
from shared.models.tenant import Tenant
from shared.notify.mrkdwn import escape
from shared.ports.chat import ChatMessage, PostedMessage
from shared.settings import Settings

log = logging.getLogger("sre_copilot.slack")

TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
"""Slack error codes that a later retry can get past; every other code is permanent."""

PERMANENT_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "missing_scope",
        "message_not_found",
        "cant_update_message",
        "msg_too_long",
        "invalid_blocks",
        "user_not_in_channel",
    }
)
"""The ones we expect; listed so that the docs and tests can name them."""


def web_client(
    token: str | None,
    base_url: str,
    *,
    timeout: int = 10,
    rate_limit_retries: int = 2,
    connection_retries: int = 2,
) -> WebClient:
    """A ``WebClient`` that retries 429s and dropped connections before giving up."""
    return WebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=timeout,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
            ConnectionErrorRetryHandler(max_retry_count=connection_retries),
        ],
    )


def delivery_error(exc: Exception, method: str) -> DeliveryFailed:
    """The ``DeliveryFailed`` for what the client raised, with Slack's error code."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        data = exc.response.data
        code = str(data.get("error", "")) if isinstance(data, dict) else ""
        if status == 429:
            return DeliveryFailed(f"{method}: ratelimited (after retries)", permanent=False)
        if status >= 500:
            return DeliveryFailed(f"{method}: Slack answered HTTP {status}", permanent=False)
        if not code:
            return DeliveryFailed(f"{method}: unexpected answer (HTTP {status})", permanent=False)
        return DeliveryFailed(f"{method}: {code}", permanent=code not in TRANSIENT_ERRORS)
    return DeliveryFailed(f"{method}: cannot reach Slack ({type(exc).__name__})", permanent=False)


CLIENT_FAILURES = (SlackClientError, OSError, HTTPException)
"""What a Web API call can raise: API errors, and transport failures (URLError is an OSError)."""


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _ts(data: dict[str, Any], key: str) -> str:
    ts = _text(data, key)
    if ts is None:
        # ok: true without a ts is not Slack's documented answer; do not record a bogus one.
        raise DeliveryFailed(f"answer without {key!r}", permanent=False)
    return ts


class SlackChat:
    """``ChatPort`` over Slack, plus the thread replies and ephemerals interactivity needs.

    With ``mirror`` (the terminal adapter without echo), every message that
    reached Slack is also saved as JSON, so local tools can read what was sent.
    """

    def __init__(
        self,
        client: WebClient,
        *,
        default_channel: str | None = None,
        mirror: TerminalChat | None = None,
    ) -> None:
        self._client = client
        self._default_channel = default_channel
        self._mirror = mirror

    def post(self, message: ChatMessage, *, channel: str | None) -> PostedMessage:
        target = channel or self._default_channel
        if not target:
            raise DeliveryFailed("chat.postMessage: no channel to post to", permanent=True)
        data = self._call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=target,
                text=message.text,
                blocks=list(message.blocks) or None,
                unfurl_links=False,
                unfurl_media=False,
            ),
        )
        posted = PostedMessage(channel=_text(data, "channel") or target, ts=_ts(data, "ts"))
        self._keep(message, posted)
        return posted

    def update(self, message: ChatMessage, *, posted: PostedMessage) -> PostedMessage:
        data = self._call(
            "chat.update",
            lambda: self._client.chat_update(
                channel=posted.channel,
                ts=posted.ts,
                text=message.text,
                # An empty list clears the blocks of the old version; None would keep them.
                blocks=list(message.blocks),
            ),
        )
        updated = PostedMessage(
            channel=_text(data, "channel") or posted.channel, ts=_text(data, "ts") or posted.ts
        )
        self._keep(message, updated)
        return updated

    def reply_in_thread(
        self, posted: PostedMessage, text: str, blocks: Sequence[dict[str, Any]] = ()
    ) -> PostedMessage:
        """A reply under the incident's message (the follow-ups stay with the incident).

        ``text`` is a plain timeline line (it names users, hypotheses, targets:
        text from outside), so it is escaped for ``mrkdwn`` here and cannot ping
        or link; ``blocks`` are sent as rendered.
        """
        line = escape(text)
        data = self._call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=posted.channel, thread_ts=posted.ts, text=line, blocks=list(blocks) or None
            ),
        )
        return PostedMessage(channel=_text(data, "channel") or posted.channel, ts=_ts(data, "ts"))

    def post_file(
        self,
        message: ChatMessage,
        *,
        channel: str | None,
        filename: str,
        content: bytes,
        title: str,
    ) -> PostedMessage:
        """The message, then the file as the first reply in its thread.

        Uploaded with ``files_upload_v2`` (``files.getUploadURLExternal``, the
        bytes POSTed to the URL it returns, ``files.completeUploadExternal``
        shared into the thread). Not an image block with ``slack_file``:
        Slack processes uploads asynchronously, and a message naming a file
        that is still being processed, or not yet shared where the message
        goes, is refused as ``invalid_blocks`` (python-slack-sdk #1521, #1658).
        """
        posted = self.post(message, channel=channel)
        try:
            data = self._call(
                "files_upload_v2",
                lambda: self._client.files_upload_v2(
                    channel=posted.channel,
                    thread_ts=posted.ts,
                    filename=filename,
                    content=content,
                    title=title,
                ),
            )
        except DeliveryFailed:
            return posted  # logged in _call; the message stands without its file
        file = data.get("file")
        file_id = _text(file, "id") if isinstance(file, dict) else None
        if self._mirror is not None:
            self._mirror.post_file(
                message, channel=posted.channel, filename=filename, content=content, title=title
            )
        return posted.model_copy(update={"file": file_id})

    def post_ephemeral(self, channel: str, user: str, text: str) -> str:
        """A message only ``user`` sees; returns its ``message_ts``."""
        data = self._call(
            "chat.postEphemeral",
            lambda: self._client.chat_postEphemeral(channel=channel, user=user, text=text),
        )
        return _ts(data, "message_ts")

    def _call(self, method: str, send: Callable[[], SlackResponse]) -> dict[str, Any]:
        try:
            data = send().data
        except CLIENT_FAILURES as exc:
            if isinstance(exc, HTTPError):
                exc.close()  # the file upload step lets urllib's HTTPError (and its socket) out
            failure = delivery_error(exc, method)
            log.warning("slack delivery failed: %s", failure.reason)
            raise failure from exc
        if not isinstance(data, dict):
            raise DeliveryFailed(f"{method}: answer is not a JSON object", permanent=False)
        return data

    def _keep(self, message: ChatMessage, posted: PostedMessage) -> None:
        if self._mirror is not None:
            self._mirror.update(message, posted=posted)


def respond(response_url: str, text: str, *, blocks: Sequence[dict[str, Any]] = ()) -> bool:
    """Answer an interaction or command through its ``response_url`` (ephemeral).

    Meant for a background thread: failure is logged and reported as False,
    because the user's click has been acknowledged already and nothing waits.
    """
    client = WebhookClient(
        response_url, timeout=10, retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2)]
    )
    try:
        result = client.send(
            text=text,
            blocks=list(blocks) or None,
            response_type="ephemeral",
            replace_original=False,
        )
    except CLIENT_FAILURES as exc:
        log.warning("response_url reply failed: %s", type(exc).__name__)
        return False
    if result.status_code != 200:
        log.warning("response_url reply refused: HTTP %s %s", result.status_code, result.body)
        return False
    return True


class SlackResponseUrl:
    """``InteractionReplies`` through Slack's ``response_url`` (see ``respond``)."""

    def respond(
        self, response_url: str, text: str, *, blocks: Sequence[dict[str, Any]] = ()
    ) -> bool:
        return respond(response_url, text, blocks=blocks)


def chat_for(
    settings: Settings, tenant: Tenant, messages_dir: Path | None = None
) -> SlackChat | None:
    """Slack for ``tenant`` when it has a channel and there is a bot token, else None.

    The tenant's own token (from its OAuth install, or set by the CLI) comes
    first; ``SLACK_BOT_TOKEN`` serves a single-workspace setup. With
    ``messages_dir``, sent messages are also saved there (see ``SlackChat``).
    """
    if not tenant.slack_channel_id:
        return None
    token = tenant.slack_bot_token.get_secret_value() if tenant.slack_bot_token else ""
    token = token or settings.slack_bot_token.get_secret_value()
    if not token:
        return None
    mirror = TerminalChat(messages_dir, echo=False) if messages_dir is not None else None
    return SlackChat(
        web_client(token, settings.slack_api_base_url),
        default_channel=tenant.slack_channel_id,
        mirror=mirror,
    )
