"""The chat port: where incident messages go (Slack, or the terminal)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from shared.models.base import Model


class ChatMessage(Model):
    """A message as Slack would take it: blocks plus a plain-text fallback."""

    tenant_id: str
    incident_id: str
    text: str
    blocks: tuple[dict[str, Any], ...] = ()
    kind: str = "incident"


class PostedMessage(Model):
    """Where a message landed, so later updates replace it in place."""

    channel: str
    ts: str
    location: str | None = None
    file: str | None = None
    """With ``post_file``: the attached file (Slack's file id, or the saved path).

    None when no file was attached, or when its upload failed after the
    message had landed (logged): the message stands, and posting it again
    would only repeat it.
    """


class ChatPort(Protocol):
    def post(self, message: ChatMessage, *, channel: str | None) -> PostedMessage:
        """Post a new message."""
        ...

    def update(self, message: ChatMessage, *, posted: PostedMessage) -> PostedMessage:
        """Replace a posted message with a new version of it."""
        ...

    def reply_in_thread(
        self, posted: PostedMessage, text: str, blocks: Sequence[dict[str, Any]] = ()
    ) -> PostedMessage:
        """Add to the message's thread: the incident's timeline."""
        ...

    def post_file(
        self,
        message: ChatMessage,
        *,
        channel: str | None,
        filename: str,
        content: bytes,
        title: str,
    ) -> PostedMessage:
        """Post a new message with a file (a chart, a report) attached under it.

        The message is posted as ``post`` posts it (its blocks and buttons
        work, ``update`` replaces it); the file goes first into its thread.
        Raises ``DeliveryFailed`` only when the message itself did not land;
        ``PostedMessage.file`` is None when just the file failed.
        """
        ...


class InteractionReplies(Protocol):
    """Answers to one user's click or command, through the ``response_url`` Slack gave.

    Adapter: ``shared.adapters.chat.slack.SlackResponseUrl``; tests pass a fake.
    """

    def respond(
        self, response_url: str, text: str, *, blocks: Sequence[dict[str, Any]] = ()
    ) -> bool:
        """Post an ephemeral reply; False (and logged) when it could not be delivered.

        The click was acknowledged already and nothing waits for this, so a
        failure is a value, never an exception.
        """
        ...
