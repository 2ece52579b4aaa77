"""Hostile deliveries: each is a product error naming the problem, and nothing is ingested."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.errors import BadInput, Unauthorized
from shared.ingestion.auth import pagerduty_signature, verify_bearer, verify_pagerduty
from shared.ingestion.correlation import is_incident_id, new_incident_id
from shared.ingestion.service import IngestService
from shared.json_input import MAX_DEPTH, parse_json
from shared.models.events import RawEventOutcome
from shared.models.tenant import Tenant
from shared.ports.store import Container
from shared.settings import Settings
from shared.tenants.registry import TenantRegistry

PAYLOADS = Path(__file__).parents[2] / "fixtures" / "payloads"
T0 = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)
AM = {"Authorization": "Bearer am-token"}
CHG = {"Authorization": "Bearer chg-token"}
DEEP = b"[" * 10_000 + b"]" * 10_000


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[IngestService, SqliteStore]]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    tenants = TenantRegistry(store, cache_seconds=0)
    tenants.add(
        Tenant(
            id="acme",
            tenant_id="acme",
            name="Acme",
            alertmanager_token=SecretStr("am-token"),
            pagerduty_secrets=(SecretStr("pd-secret"),),
            change_token=SecretStr("chg-token"),
        )
    )
    yield IngestService(store, tenants, Settings(home=tmp_path), FixedClock(T0)), store
    store.close()


def nothing_ingested(store: SqliteStore) -> None:
    for container in (Container.INCIDENTS, Container.ALERTS, Container.CHANGES, Container.DEDUP):
        assert store.query(container, "acme") == [], container
    # The raw body is kept (README: stored before anything can fail), marked invalid.
    assert {d["outcome"] for d in store.query(Container.RAW_EVENTS, "acme")} <= {
        RawEventOutcome.INVALID.value
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (DEEP, f"nested more than {MAX_DEPTH} levels deep"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested more than"),
        (b'{"a":' * 200 + b"1" + b"}" * 200, "nested more than"),
        (b'{"x": "\\ud800"}', "field 'x' holds a lone surrogate"),
        (b'{"x": NaN}', "NaN is not JSON"),
        (b"1" * 5000, "invalid JSON"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_parse_json_refuses_with_the_reason(body: bytes, reason: str) -> None:
    with pytest.raises(BadInput, match=reason):
        parse_json(body)


def test_parse_json_keeps_what_is_fine() -> None:
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    assert parse_json(b'"\\ud83d\\ude00"') == "\U0001f600"  # a surrogate *pair*


def test_deep_json_on_every_webhook_is_a_400(service: tuple[IngestService, SqliteStore]) -> None:
    ingest, store = service
    pd = {"X-PagerDuty-Signature": pagerduty_signature("pd-secret", DEEP)}
    for receive, headers in (
        (ingest.alertmanager, AM),
        (ingest.pagerduty, pd),
        (ingest.changes, CHG),
    ):
        with pytest.raises(BadInput, match="nested more than 64 levels deep"):
            receive("acme", headers, DEEP)
    nothing_ingested(store)


def test_a_lone_surrogate_in_a_label_is_a_400(service: tuple[IngestService, SqliteStore]) -> None:
    ingest, store = service
    text = json.dumps(payload("alertmanager_firing.json"))
    body = text.replace('"alertname": "', '"alertname": "\\ud800', 1).encode()
    with pytest.raises(BadInput, match=r"alerts\.0\.labels\.alertname' holds a lone surrogate"):
        ingest.alertmanager("acme", AM, body)
    nothing_ingested(store)


@pytest.mark.parametrize(
    "starts_at",
    [
        "0999-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "0009-05-05T00:00:00Z",
        "2200-01-01T00:00:00Z",
    ],
)
def test_an_alert_time_outside_1970_to_2200_is_a_400_naming_the_field(
    service: tuple[IngestService, SqliteStore], starts_at: str
) -> None:
    ingest, store = service
    data = payload("alertmanager_firing.json")
    data["alerts"][1]["startsAt"] = starts_at
    with pytest.raises(BadInput, match=r"field 'alerts\.1\.startsAt'.*outside 1970-01-01"):
        ingest.alertmanager("acme", AM, json.dumps(data).encode())
    nothing_ingested(store)


def test_alertmanagers_zero_end_time_still_means_unset(
    service: tuple[IngestService, SqliteStore],
) -> None:
    ingest, store = service
    data = payload("alertmanager_firing.json")
    for alert in data["alerts"]:
        alert["endsAt"] = "0001-01-01T00:00:00Z"
    receipt = ingest.alertmanager("acme", AM, json.dumps(data).encode())
    assert receipt.incidents
    alerts = store.query(Container.ALERTS, "acme")
    assert alerts and all(a.get("ends_at", a.get("endsAt")) is None for a in alerts)


def test_a_change_at_the_end_of_the_calendar_is_a_400(
    service: tuple[IngestService, SqliteStore],
) -> None:
    ingest, store = service
    change = {"kind": "config", "service": "checkout", "at": "9999-12-31T23:59:59.999999-14:00"}
    with pytest.raises(BadInput, match=r"change #0: field 'at'.*outside 1970-01-01"):
        ingest.changes("acme", CHG, json.dumps(change).encode())
    nothing_ingested(store)


def test_a_pagerduty_time_out_of_range_is_a_400(service: tuple[IngestService, SqliteStore]) -> None:
    ingest, store = service
    data = payload("pagerduty_triggered.json")
    data["event"]["occurred_at"] = "0999-01-01T00:00:00Z"
    raw = json.dumps(data).encode()
    headers = {"X-PagerDuty-Signature": pagerduty_signature("pd-secret", raw)}
    with pytest.raises(BadInput, match=r"field 'event\.occurred_at'"):
        ingest.pagerduty("acme", headers, raw)
    nothing_ingested(store)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer \udcff\udcfe", "Bearer \ud800", "Bearer tök€n", "Bearer am-tokén"],
)
def test_a_non_ascii_or_non_utf8_bearer_token_is_wrong_credentials(authorization: str) -> None:
    with pytest.raises(Unauthorized, match="wrong Alertmanager token"):
        verify_bearer({"Authorization": authorization}, SecretStr("am-token"), what="Alertmanager")


@pytest.mark.parametrize("signature", ["v1=é", "v1=\udcff", "v1=abc,v1=\u2603"])
def test_a_non_ascii_pagerduty_signature_is_wrong_credentials(signature: str) -> None:
    with pytest.raises(Unauthorized, match="does not match"):
        verify_pagerduty({"X-PagerDuty-Signature": signature}, b"{}", [SecretStr("pd-secret")])


def test_minted_incident_ids_have_the_strict_shape() -> None:
    assert all(is_incident_id(new_incident_id(T0)) for _ in range(200))
    for bad in ("x/../acme--INC-260304-A1B2C3", "prod--INC-1", "INC-260304-A1B2C3\n", "INC-1"):
        assert not is_incident_id(bad)
