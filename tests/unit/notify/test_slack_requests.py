"""Verifying and reading Slack's requests; the button encoding both sides share."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from shared.errors import BadInput, PayloadTooLarge, Unauthorized
from shared.notify.actions import (
    ACTION_ID_LIMIT,
    VALUE_LIMIT,
    ActionKind,
    ActionValue,
    action_id,
    button,
    decode_value,
    encode_value,
    parse_action_id,
)
from shared.notify.slack_requests import (
    SIGNATURE_WINDOW_SECONDS,
    CommandName,
    is_ssl_check,
    parse_command,
    parse_interaction,
    verify_request,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000


def sign(body: bytes, timestamp: int | str = NOW, secret: str = SECRET) -> dict[str, str]:
    """Headers as Slack sends them (computed here by hand, not with the SDK under test)."""
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def verify(headers: dict[str, str], body: bytes, now: float = NOW) -> None:
    verify_request(SECRET, headers, body, now=lambda: now)


BODY = b"token=x&team_id=T0ACME&user_id=U1&command=%2Fsre&text=status"


def test_a_signed_request_verifies_with_any_header_case() -> None:
    verify(sign(BODY), BODY)
    verify({k.lower(): v for k, v in sign(BODY).items()}, BODY)


def test_the_window_is_five_minutes_either_way() -> None:
    verify(sign(BODY, NOW - SIGNATURE_WINDOW_SECONDS), BODY)
    with pytest.raises(Unauthorized, match="stale"):
        verify(sign(BODY, NOW - SIGNATURE_WINDOW_SECONDS - 1), BODY)
    with pytest.raises(Unauthorized, match="future"):
        verify(sign(BODY, NOW + SIGNATURE_WINDOW_SECONDS + 1), BODY)


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        (sign(BODY, secret="another-secret"), BODY, "does not match"),
        (sign(BODY), BODY + b"&text=why", "does not match"),
        ({**sign(BODY), "X-Slack-Signature": "v1=abc"}, BODY, "v0"),
        (sign(BODY, "17e8"), BODY, "Unix time"),
        ({**sign(BODY), "X-Slack-Request-Timestamp": "-1700000000"}, BODY, "Unix time"),
        (
            {**sign(BODY), "X-Slack-Request-Timestamp": "\uff11\uff17\uff10\uff10"},
            BODY,
            "Unix time",
        ),
        ({"X-Slack-Signature": sign(BODY)["X-Slack-Signature"]}, BODY, "Timestamp"),
        ({"X-Slack-Request-Timestamp": str(NOW)}, BODY, "X-Slack-Signature"),
        ({}, BODY, "X-Slack-Request-Timestamp, X-Slack-Signature"),
        (sign(b"\xff\xfe"), b"\xff\xfe", "UTF-8"),
    ],
    ids=[
        "wrong-secret",
        "altered-body",
        "not-v0",
        "junk-timestamp",
        "negative-timestamp",
        "non-ascii-digits",
        "no-timestamp",
        "no-signature",
        "no-headers",
        "not-utf8",
    ],
)
def test_every_failure_is_unauthorized_with_its_reason(
    headers: dict[str, str], body: bytes, reason: str
) -> None:
    with pytest.raises(Unauthorized) as caught:
        verify(headers, body)
    assert reason in caught.value.reason


def test_a_replayed_body_with_its_old_signature_is_refused_once_stale() -> None:
    captured = sign(BODY, NOW)
    verify(captured, BODY, now=NOW + 60)
    with pytest.raises(Unauthorized, match="stale"):
        verify(captured, BODY, now=NOW + SIGNATURE_WINDOW_SECONDS + 60)


def test_without_a_signing_secret_nothing_verifies() -> None:
    with pytest.raises(Unauthorized, match="SLACK_SIGNING_SECRET"):
        verify_request("", sign(BODY), BODY, now=lambda: NOW)


def test_an_oversized_body_is_refused_before_hashing() -> None:
    big = b"x" * 2048
    with pytest.raises(PayloadTooLarge):
        verify_request(SECRET, sign(big), big, now=lambda: NOW, max_body_bytes=1024)


# --- the button encoding --------------------------------------------------------

VALUE = ActionValue(
    incident_id="INC-260304-A1B2C3",
    tenant_id="acme",
    category="bad_deployment",
    target="checkout",
    model_version="scoring@3",
)


@pytest.mark.parametrize(
    ("kind", "rank", "text"),
    [
        (ActionKind.LIKELY, 1, "hyp_likely:1"),
        (ActionKind.NOT_IT, 12, "hyp_not_it:12"),
        (ActionKind.RESOLVE_WITH, 2, "resolve_with:2"),
        (ActionKind.ACK, None, "ack"),
    ],
)
def test_action_ids_round_trip(kind: ActionKind, rank: int | None, text: str) -> None:
    assert action_id(kind, rank) == text
    assert parse_action_id(text) == (kind, rank)


def test_action_ids_that_are_not_ours_parse_to_none_and_bad_ranks_are_refused() -> None:
    assert parse_action_id("open_runbook") is None
    assert parse_action_id("ack:1") is None
    for bad in (
        "hyp_likely:",
        "hyp_likely:0",
        "hyp_likely:x",
        "hyp_likely:-1",
        "hyp_likely:\u0661",
    ):
        with pytest.raises(BadInput):
            parse_action_id(bad)
    with pytest.raises(BadInput):
        action_id(ActionKind.LIKELY)
    with pytest.raises(BadInput):
        action_id(ActionKind.ACK, 1)
    with pytest.raises(BadInput):
        action_id(ActionKind.LIKELY, 10 ** (ACTION_ID_LIMIT - 10))


def test_values_round_trip_compactly() -> None:
    text = encode_value(VALUE)
    assert json.loads(text) == {
        "i": "INC-260304-A1B2C3",
        "t": "acme",
        "c": "bad_deployment",
        "g": "checkout",
        "v": "scoring@3",
    }
    assert " " not in text
    assert decode_value(text) == VALUE
    ack = ActionValue(incident_id="INC-1", tenant_id="acme")
    assert json.loads(encode_value(ack)) == {"i": "INC-1", "t": "acme"}
    assert decode_value(encode_value(ack)) == ack


def test_values_beyond_slack_limit_are_refused_not_truncated() -> None:
    fits = ActionValue(incident_id="INC-1", tenant_id="acme", target="x" * 1900)
    assert len(encode_value(fits)) <= VALUE_LIMIT
    too_long = ActionValue(incident_id="INC-1", tenant_id="acme", target="x" * VALUE_LIMIT)
    with pytest.raises(BadInput, match="2000"):
        encode_value(too_long)


@pytest.mark.parametrize(
    "text", ["", "nope", "[1]", '{"t":"acme"}', '{"i":"INC-1","t":""}', '{"i":"I","t":"a","c":3}']
)
def test_values_that_we_did_not_make_are_bad_input(text: str) -> None:
    with pytest.raises(BadInput):
        decode_value(text)


def test_button_builds_an_element_the_parser_reads_back() -> None:
    element = button("Likely", ActionKind.LIKELY, VALUE, rank=1, style="primary")
    assert element["type"] == "button"
    assert element["style"] == "primary"
    action = parse_interaction(interaction_body(element["action_id"], element["value"]))
    assert action is not None
    assert (action.kind, action.rank, action.target) == (ActionKind.LIKELY, 1, "checkout")
    with pytest.raises(BadInput):
        button("Likely", ActionKind.LIKELY, ActionValue(incident_id="I", tenant_id="a"), rank=1)


# --- interaction payloads -------------------------------------------------------


def payload(action_id_text: str, value: str | None, **overrides: Any) -> dict[str, Any]:
    """A ``block_actions`` payload shaped as Slack documents it."""
    action: dict[str, Any] = {
        "action_id": action_id_text,
        "block_id": "hyp-1",
        "text": {"type": "plain_text", "text": "Likely", "emoji": True},
        "type": "button",
        "action_ts": "1700000000.123456",
    }
    if value is not None:
        action["value"] = value
    data: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T0ACME", "domain": "acme"},
        "user": {"id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T0ACME"},
        "api_app_id": "A0SRECOPILOT",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": "C0INCIDENTS",
            "is_ephemeral": False,
        },
        "trigger_id": "123.456.abc",
        "channel": {"id": "C0INCIDENTS", "name": "incidents"},
        "message": {"type": "message", "ts": "1700000000.000100", "text": "CRITICAL"},
        "response_url": "https://hooks.slack.com/actions/T0ACME/1/xyz",
        "actions": [action],
    }
    data.update(overrides)
    return data


def interaction_body(action_id_text: str, value: str | None, **overrides: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload(action_id_text, value, **overrides))}).encode()


def test_a_click_on_a_hypothesis_button_parses_to_a_frozen_action() -> None:
    action = parse_interaction(interaction_body("hyp_not_it:2", encode_value(VALUE)))

    assert action is not None
    assert action.kind is ActionKind.NOT_IT
    assert (action.team_id, action.user_id, action.user_name) == ("T0ACME", "U0ALICE", "alice")
    assert (action.incident_id, action.tenant_id, action.rank) == ("INC-260304-A1B2C3", "acme", 2)
    assert (action.category, action.target, action.model_version) == (
        "bad_deployment",
        "checkout",
        "scoring@3",
    )
    assert action.response_url == "https://hooks.slack.com/actions/T0ACME/1/xyz"
    assert (action.channel_id, action.message_ts) == ("C0INCIDENTS", "1700000000.000100")
    assert action.trigger_id == "123.456.abc"
    assert action.action_id == "hyp_not_it:2"
    with pytest.raises(AttributeError):
        action.user_id = "U0MALLORY"  # type: ignore[misc]


def test_ack_needs_no_hypothesis() -> None:
    value = encode_value(ActionValue(incident_id="INC-1", tenant_id="acme"))
    action = parse_interaction(interaction_body("ack", value))
    assert action is not None
    assert (action.kind, action.rank, action.category) == (ActionKind.ACK, None, None)


def test_clicks_we_do_not_handle_are_none() -> None:
    assert parse_interaction(interaction_body("open_runbook", None)) is None
    view = urlencode({"payload": json.dumps({"type": "view_submission"})}).encode()
    assert parse_interaction(view) is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"payload=not-json",
        urlencode({"payload": "[]"}).encode(),
        interaction_body("hyp_likely:1", None),
        interaction_body("hyp_likely:1", "{}"),
        interaction_body("hyp_likely:1", encode_value(ActionValue(incident_id="I", tenant_id="a"))),
        interaction_body("hyp_likely:1", encode_value(VALUE), team={}, user={}),
        interaction_body("hyp_likely:1", encode_value(VALUE), response_url=None),
        interaction_body("hyp_likely:1", encode_value(VALUE), actions=[]),
    ],
    ids=[
        "empty",
        "not-json",
        "not-object",
        "no-value",
        "foreign-value",
        "no-hypothesis",
        "no-team",
        "no-response-url",
        "no-actions",
    ],
)
def test_malformed_interactions_are_bad_input(body: bytes) -> None:
    with pytest.raises(BadInput):
        parse_interaction(body)


# --- slash commands -------------------------------------------------------------


def command_body(text: str, **fields: str) -> bytes:
    form = {
        "token": "legacy",
        "team_id": "T0ACME",
        "team_domain": "acme",
        "channel_id": "C0INCIDENTS",
        "channel_name": "incidents",
        "user_id": "U0ALICE",
        "user_name": "alice",
        "command": "/sre",
        "text": text,
        "api_app_id": "A0SRECOPILOT",
        "response_url": "https://hooks.slack.com/commands/T0ACME/1/xyz",
        "trigger_id": "123.456.abc",
    }
    form.update(fields)
    return urlencode(form).encode()


@pytest.mark.parametrize(
    ("text", "name", "argument"),
    [
        ("status", CommandName.STATUS, None),
        ("  STATUS ", CommandName.STATUS, None),
        ("why INC-260304-A1B2C3", CommandName.WHY, "INC-260304-A1B2C3"),
        ("help", CommandName.HELP, None),
        ("", CommandName.HELP, None),
        ("why", CommandName.HELP, None),
        ("status now please", CommandName.HELP, None),
        ("restart checkout", CommandName.HELP, None),
    ],
)
def test_slash_commands(text: str, name: CommandName, argument: str | None) -> None:
    command = parse_command(command_body(text))
    assert (command.name, command.argument) == (name, argument)
    assert (command.team_id, command.user_id, command.command) == ("T0ACME", "U0ALICE", "/sre")
    assert command.response_url == "https://hooks.slack.com/commands/T0ACME/1/xyz"


def test_a_command_without_team_or_user_is_bad_input() -> None:
    with pytest.raises(BadInput):
        parse_command(command_body("status", team_id=""))


def test_ssl_check() -> None:
    assert is_ssl_check(b"ssl_check=1&token=legacy")
    assert not is_ssl_check(command_body("status"))
    assert not is_ssl_check(b"\xff")
