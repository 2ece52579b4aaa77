"""Requests from Slack: proving they came from Slack, and reading them.

Verification is Slack's ``v0`` scheme through slack-sdk's ``SignatureVerifier``
(HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the app's signing secret),
with the documented 5-minute window against replays. Everything that fails it
raises ``Unauthorized`` with the reason, and nothing else: a junk timestamp
must not surface as a ``ValueError`` (which the SDK would raise) and become a
500.

Parsing turns the two kinds of request the app receives into frozen values:
an interaction payload (a button click, ``block_actions``) into an
``InteractionAction``, and a slash command into a ``SlashCommand``. Anything
malformed is ``BadInput``; a click on a button that is not ours (a link
button) parses to None, to be acknowledged and ignored.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import Clock as SignatureClock
from slack_sdk.signature import SignatureVerifier

from shared.errors import BadInput, PayloadTooLarge, Unauthorized
from shared.json_input import parse_json
from shared.notify.actions import ActionKind, decode_value, parse_action_id

SIGNATURE_WINDOW_SECONDS = 5 * 60
MAX_BODY_BYTES = 1024 * 1024
"""Slack's payloads are a few kilobytes; anything this large is not from Slack."""

_TIMESTAMP_HEADER = "x-slack-request-timestamp"
_SIGNATURE_HEADER = "x-slack-signature"


class _FixedClock(SignatureClock):
    """Hands the verifier the same ``now`` the window check used."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def verify_request(
    signing_secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: Callable[[], float] = time.time,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> None:
    """Return if Slack signed ``body``; raise ``Unauthorized`` with the reason otherwise."""
    if not signing_secret.strip():
        raise Unauthorized("Slack requests cannot be verified: SLACK_SIGNING_SECRET is not set")
    if len(body) > max_body_bytes:
        raise PayloadTooLarge(f"body of {len(body)} bytes exceeds {max_body_bytes}")
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(_TIMESTAMP_HEADER, "").strip()
    signature = lowered.get(_SIGNATURE_HEADER, "").strip()
    missing = [
        name
        for name, present in (
            ("X-Slack-Request-Timestamp", timestamp),
            ("X-Slack-Signature", signature),
        )
        if not present
    ]
    if missing:
        raise Unauthorized(f"missing Slack signature header(s): {', '.join(missing)}")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise Unauthorized("X-Slack-Request-Timestamp is not a Unix time in seconds")
    moment = now()
    age = moment - int(timestamp)
    if abs(age) > SIGNATURE_WINDOW_SECONDS:
        raise Unauthorized(
            f"stale request: timestamp is {int(abs(age))} s "
            f"{'old' if age > 0 else 'in the future'} (window {SIGNATURE_WINDOW_SECONDS} s)"
        )
    if not signature.startswith("v0="):
        raise Unauthorized("X-Slack-Signature is not a v0 signature")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unauthorized("body is not UTF-8, so it cannot carry a valid signature") from None
    verifier = SignatureVerifier(signing_secret, clock=_FixedClock(moment))
    expected = verifier.generate_signature(timestamp=timestamp, body=body)
    # On bytes: the SDK compares str, which raises for a non-ASCII header value.
    offered = signature.encode("utf-8", "surrogatepass")
    if expected is None or not hmac.compare_digest(expected.encode(), offered):
        raise Unauthorized("Slack signature does not match (wrong signing secret or altered body)")


def is_ssl_check(body: bytes) -> bool:
    """Slack's certificate probe of a slash command URL: unsigned, answered with 200."""
    form = _form(body, lenient=True)
    return form.get("ssl_check") == "1"


def _form(body: bytes, *, lenient: bool = False) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        if lenient:
            return {}
        raise BadInput("body is not UTF-8") from None
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


# --- interactions ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractionAction:
    """One click on one of our buttons, with who clicked where, and what it names."""

    team_id: str
    user_id: str
    user_name: str
    kind: ActionKind
    action_id: str
    value: str
    """The button's raw value, as Slack sent it back."""
    tenant_id: str
    """The tenant the button was rendered for (checked against the team's tenant)."""
    incident_id: str
    rank: int | None
    category: str | None
    target: str | None
    model_version: str | None
    response_url: str
    channel_id: str | None
    message_ts: str | None
    trigger_id: str | None


def _str(data: Mapping[str, Any], *path: str) -> str | None:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if isinstance(node, str) and node else None


def parse_interaction(body: bytes) -> InteractionAction | None:
    """A ``block_actions`` click on one of our buttons; None for anything we do not handle.

    ``BadInput`` when the payload is malformed, or when it is one of our
    buttons but its value is not what ``actions.encode_value`` makes.
    """
    raw = _form(body).get("payload")
    if raw is None:
        raise BadInput("interaction request without a 'payload' form field")
    payload = parse_json(raw, what="interaction payload")
    if not isinstance(payload, dict):
        raise BadInput("interaction payload is not a JSON object")
    if payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise BadInput("block_actions payload without actions")
    # Slack sends one action per click; a payload with more is not a click we render.
    action = actions[0]
    action_id_text = _str(action, "action_id")
    if action_id_text is None:
        raise BadInput("action without an action_id")
    parsed = parse_action_id(action_id_text)
    if parsed is None:
        return None
    kind, rank = parsed
    value_text = _str(action, "value")
    if value_text is None:
        raise BadInput(f"action {action_id_text!r} without a value")
    value = decode_value(value_text)
    if kind.needs_hypothesis and (value.category is None or value.target is None):
        raise BadInput(f"action {action_id_text!r} does not name a hypothesis")
    team_id = _str(payload, "team", "id") or _str(payload, "user", "team_id")
    user_id = _str(payload, "user", "id")
    response_url = _str(payload, "response_url")
    if team_id is None or user_id is None:
        raise BadInput("interaction payload without team or user")
    if response_url is None:
        raise BadInput("interaction payload without a response_url")
    return InteractionAction(
        team_id=team_id,
        user_id=user_id,
        user_name=_str(payload, "user", "username") or _str(payload, "user", "name") or user_id,
        kind=kind,
        action_id=action_id_text,
        value=value_text,
        tenant_id=value.tenant_id,
        incident_id=value.incident_id,
        rank=rank,
        category=value.category,
        target=value.target,
        model_version=value.model_version,
        response_url=response_url,
        channel_id=_str(payload, "channel", "id") or _str(payload, "container", "channel_id"),
        message_ts=_str(payload, "container", "message_ts") or _str(payload, "message", "ts"),
        trigger_id=_str(payload, "trigger_id"),
    )


# --- slash commands --------------------------------------------------------


class CommandName(StrEnum):
    STATUS = "status"
    WHY = "why"
    HELP = "help"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlashCommand:
    """``/sre <text>`` as Slack posts it, with the sub-command it asks for.

    Anything that is not ``status``, ``why <incident>`` or ``help`` asks for
    help, so a typo gets the usage instead of silence.
    """

    team_id: str
    user_id: str
    user_name: str
    channel_id: str | None
    command: str
    text: str
    response_url: str | None
    trigger_id: str | None
    name: CommandName
    argument: str | None = None


def parse_command(body: bytes) -> SlashCommand:
    """The form Slack posts for a slash command; ``BadInput`` without team or user."""
    form = _form(body)
    team_id, user_id = form.get("team_id", ""), form.get("user_id", "")
    if not team_id or not user_id:
        raise BadInput("slash command without team_id or user_id")
    text = " ".join(form.get("text", "").split())
    words = text.split(" ") if text else []
    name, argument = CommandName.HELP, None
    if words and words[0].lower() == "status" and len(words) == 1:
        name = CommandName.STATUS
    elif words and words[0].lower() == "why" and len(words) == 2:
        name, argument = CommandName.WHY, words[1]
    return SlashCommand(
        team_id=team_id,
        user_id=user_id,
        user_name=form.get("user_name") or user_id,
        channel_id=form.get("channel_id") or None,
        command=form.get("command", ""),
        text=text,
        response_url=form.get("response_url") or None,
        trigger_id=form.get("trigger_id") or None,
        name=name,
        argument=argument,
    )
