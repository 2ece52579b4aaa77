"""Ids from buttons and payloads reach nothing outside the clicking workspace's own tenant."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.incident import instance_id
from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.errors import BadInput, NotFound, Unauthorized
from shared.ingestion.correlation import INCIDENT_ID, is_incident_id
from shared.models.incident import Incident
from shared.models.tenant import Tenant
from shared.notify.actions import ActionKind, ActionValue, action_id, decode_value, encode_value
from shared.notify.interactions import OutcomeKind, handle_action
from shared.notify.slack_requests import parse_interaction, verify_request
from shared.ports.store import Container
from shared.tenants.registry import TENANT_NAME, TenantRegistry

T0 = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)
ACME_INC = "INC-260304-A1B2C3"


@dataclass
class Deps:
    store: SqliteStore
    tenants: TenantRegistry
    clock: FixedClock


@pytest.fixture
def deps(tmp_path: Path) -> Iterator[Deps]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    tenants = TenantRegistry(store, cache_seconds=0)
    for name, team in (("acme", "T0ACME"), ("gamma", "T0GAMMA")):
        tenants.add(Tenant(id=name, tenant_id=name, name=name.title(), slack_team_id=team))
    store.create(
        Container.INCIDENTS,
        "acme",
        Incident(
            id=ACME_INC,
            tenant_id="acme",
            title="Acme's",
            first_seen=T0,
            last_seen=T0,
            created_at=T0,
            updated_at=T0,
        ).to_doc(),
    )
    yield Deps(store, tenants, FixedClock(T0))
    store.close()


def click_body(incident_id: str, tenant_id: str, team: str, kind: ActionKind) -> bytes:
    value = ActionValue(
        incident_id=incident_id,
        tenant_id=tenant_id,
        category=None if kind is ActionKind.ACK else "bad_deployment",
        target=None if kind is ActionKind.ACK else "checkout",
    )
    payload = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": "U0EVE", "username": "eve"},
        "response_url": "https://hooks.slack.com/actions/1",
        "actions": [
            {
                "action_id": action_id(kind, None if kind is ActionKind.ACK else 1),
                "value": encode_value(value),
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def written(deps: Deps) -> list[dict[str, Any]]:
    found = []
    for tenant in ("acme", "gamma"):
        for container in (Container.FEEDBACK, Container.AUDIT, Container.DEDUP):
            found += deps.store.query(container, tenant)
    return found


@pytest.mark.parametrize("kind", [ActionKind.ACK, ActionKind.RESOLVE_WITH, ActionKind.LIKELY])
@pytest.mark.parametrize(
    "incident_id",
    [
        f"x/../acme--{ACME_INC}",  # a path out of gamma's instance into acme's
        f"../acme--{ACME_INC}",
        f"prod--{ACME_INC}",  # gamma + prod--INC... is gamma--prod + INC...
        ACME_INC,  # well-formed, but acme's incident, not gamma's
        "INC-260304-FFFFFF",  # well-formed, but no such incident
    ],
)
def test_a_click_naming_an_incident_outside_the_workspace_writes_nothing(
    deps: Deps, kind: ActionKind, incident_id: str
) -> None:
    action = parse_interaction(click_body(incident_id, "gamma", "T0GAMMA", kind))
    assert action is not None

    outcome = handle_action(deps, action)

    assert outcome.kind is OutcomeKind.UNKNOWN_INCIDENT
    assert outcome.text == "That incident is not in this workspace; nothing was recorded."
    assert outcome.event is None
    assert written(deps) == []


def test_a_button_naming_another_tenant_is_refused(deps: Deps) -> None:
    action = parse_interaction(click_body(ACME_INC, "acme", "T0GAMMA", ActionKind.ACK))
    assert action is not None

    outcome = handle_action(deps, action)

    assert outcome.kind is OutcomeKind.NOT_AUTHORISED
    assert outcome.event is None
    assert written(deps) == []


def test_the_own_incident_is_acted_on(deps: Deps) -> None:
    action = parse_interaction(click_body(ACME_INC, "acme", "T0ACME", ActionKind.ACK))
    assert action is not None

    outcome = handle_action(deps, action)

    assert outcome.kind is OutcomeKind.ACKNOWLEDGED
    assert outcome.event is not None
    assert (outcome.event.tenant_id, outcome.event.incident_id) == ("acme", ACME_INC)


@pytest.mark.parametrize("name", ["gamma--prod", "a--b", "acme-", "acme\n", "Acme", "-acme", "a/b"])
def test_tenant_names_cannot_hold_the_instance_separator(deps: Deps, name: str) -> None:
    with pytest.raises(BadInput):
        deps.tenants.add(Tenant(id=name, tenant_id=name, name="x"))
    with pytest.raises(NotFound):
        deps.tenants.get(name)


TENANTS = st.from_regex(TENANT_NAME.pattern.replace("\\Z", "$"), fullmatch=True).filter(
    lambda t: TENANT_NAME.match(t) is not None
)
INCIDENTS = st.from_regex(INCIDENT_ID, fullmatch=True)


@given(TENANTS, INCIDENTS, TENANTS, INCIDENTS)
def test_instance_ids_are_never_ambiguous(t1: str, i1: str, t2: str, i2: str) -> None:
    assert is_incident_id(i1) and is_incident_id(i2)
    assert instance_id(t1, i1).split("--", 1) == [t1, i1]
    if (t1, i1) != (t2, i2):
        assert instance_id(t1, i1) != instance_id(t2, i2)


# --- the request layer --------------------------------------------------------

SECRET = "s3cret"
NOW = 1_700_000_000


def signed(body: bytes, signature: str | None = None) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), f"v0:{NOW}:".encode() + body, hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": str(NOW),
        "X-Slack-Signature": signature or f"v0={digest.hexdigest()}",
    }


@pytest.mark.parametrize("signature", ["v0=é", "v0=\udcff\udcfe", "v0=" + "☃" * 64])
def test_a_non_ascii_slack_signature_is_unauthorized(signature: str) -> None:
    with pytest.raises(Unauthorized, match="signature does not match"):
        verify_request(SECRET, signed(b"payload=x", signature), b"payload=x", now=lambda: NOW)


def test_a_signed_body_still_verifies() -> None:
    verify_request(SECRET, signed(b"payload=x"), b"payload=x", now=lambda: NOW)


def test_a_deeply_nested_interaction_payload_is_bad_input() -> None:
    body = urlencode({"payload": "[" * 10_000 + "]" * 10_000}).encode()
    with pytest.raises(BadInput, match="interaction payload is nested more than 64 levels"):
        parse_interaction(body)


@pytest.mark.parametrize(
    "value", ['{"i": ["x"], "t": "acme"}', "[" * 1000 + "]" * 1000, '{"i": "\\ud800", "t": "a"}']
)
def test_hostile_button_values_are_bad_input(value: str) -> None:
    with pytest.raises(BadInput):
        decode_value(value)
