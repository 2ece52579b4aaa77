"""Bearer tokens and PagerDuty v1 signatures, including secret rotation."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from shared.errors import Unauthorized
from shared.ingestion.auth import pagerduty_signature, verify_bearer, verify_pagerduty

BODY = b'{"event": {"id": "1"}}'


def test_bearer_accepts_right_token_case_insensitive_header() -> None:
    verify_bearer({"authorization": "Bearer s3cret"}, SecretStr("s3cret"), what="x")
    verify_bearer({"Authorization": "bearer   s3cret "}, SecretStr("s3cret"), what="x")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing Authorization"),
        ({"Authorization": "Basic abc"}, "not 'Bearer"),
        ({"Authorization": "Bearer "}, "not 'Bearer"),
        ({"Authorization": "Bearer wrong"}, "wrong x token"),
    ],
)
def test_bearer_rejections_say_why(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verify_bearer(headers, SecretStr("s3cret"), what="x")


def test_bearer_without_configured_token_is_refused() -> None:
    with pytest.raises(Unauthorized, match="no x token"):
        verify_bearer({"Authorization": "Bearer anything"}, None, what="x")


def test_pagerduty_signature_matches_any_secret_and_any_offered_signature() -> None:
    old, new = SecretStr("old-secret"), SecretStr("new-secret")
    # PagerDuty sends one signature per active secret during a rotation.
    header = f"{pagerduty_signature('unrelated', BODY)},{pagerduty_signature('new-secret', BODY)}"
    verify_pagerduty({"X-PagerDuty-Signature": header}, BODY, [old, new])
    verify_pagerduty(
        {"x-pagerduty-signature": pagerduty_signature("old-secret", BODY)}, BODY, [old]
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-PagerDuty-Signature"),
        ({"X-PagerDuty-Signature": "v0=abc"}, "no v1= signature"),
        ({"X-PagerDuty-Signature": pagerduty_signature("other", BODY)}, "does not match"),
    ],
)
def test_pagerduty_rejections(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verify_pagerduty(headers, BODY, [SecretStr("secret")])


def test_pagerduty_signature_covers_the_body() -> None:
    signature = pagerduty_signature("secret", BODY)
    with pytest.raises(Unauthorized):
        verify_pagerduty({"X-PagerDuty-Signature": signature}, BODY + b" ", [SecretStr("secret")])
