"""The tenant admin use cases over the embedded store: secrets once, hashes at rest, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.store.sqlite import SqliteStore
from shared.admin.tenants import TenantAdmin
from shared.audit import verify
from shared.clock import FixedClock
from shared.errors import BadInput, Conflict, NotFound, Unauthorized
from shared.ingestion.auth import pagerduty_signature
from shared.ingestion.service import IngestService
from shared.ports.store import Container
from shared.settings import Settings
from shared.tenants.registry import TenantDisabled, TenantRegistry
from tests.unit.autonomy.test_policy_yaml import CONTRACT

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
ACTOR = "entra:aaaaaaaa-0000-0000-0000-000000000001"
TOPOLOGY = {"services": [{"name": "checkout", "depends_on": ["db"]}, {"name": "db"}]}
PD_PING = (
    Path(__file__).parents[2] / "fixtures" / "payloads" / "pagerduty_triggered.json"
).read_bytes()
FIRING = (
    Path(__file__).parents[2] / "fixtures" / "payloads" / "alertmanager_firing.json"
).read_bytes()


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.store = SqliteStore(tmp_path / "store.sqlite3")
        self.clock = FixedClock(T0)
        self.registry = TenantRegistry(self.store, cache_seconds=0)
        self.admin = TenantAdmin(self.store, self.registry, self.clock)
        self.ingest = IngestService(self.store, self.registry, Settings(home=tmp_path), self.clock)

    def create(self, **fields: Any) -> dict[str, Any]:
        body = {"id": "acme", "name": "Acme", **fields}
        return self.admin.create(json.dumps(body).encode(), actor=ACTOR)

    def raw(self, tenant: str = "acme") -> dict[str, Any]:
        doc = self.store.get(Container.TENANTS, tenant, tenant)
        assert doc is not None
        return doc

    def audit(self, tenant: str = "acme") -> list[dict[str, Any]]:
        return sorted(self.store.query(Container.AUDIT, tenant), key=lambda r: r["seq"])


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.store.close()


def secrets_in(value: Any, secrets: list[str]) -> list[str]:
    text = json.dumps(value)
    return [s for s in secrets if s in text]


def test_create_returns_credentials_once_and_stores_only_token_hashes(env: Env) -> None:
    made = env.create(
        slack_team_id="T1",
        slack_channel_id="C1",
        prometheus_url="http://prometheus:9090",
        topology=TOPOLOGY,
        responders=["U1"],
        approvers=["U-LEAD"],
        timezone="Europe/Paris",
    )
    creds = made["credentials"]
    assert set(creds) == {"alertmanager_token", "change_token", "pagerduty_secret"}
    assert all(len(v) >= 40 for v in creds.values())
    assert secrets_in(made["tenant"], list(creds.values())) == []
    view = made["tenant"]
    assert view["credentials"]["alertmanager_token"] == {
        "set": True,
        "stored": "hash",
        "rotated_at": "2026-03-04T09:00:00.000000Z",
    }
    assert view["timezone"] == "Europe/Paris" and view["approvers"] == ["U-LEAD"]
    assert [s["name"] for s in view["topology"]["services"]] == ["checkout", "db"]

    raw = env.raw()  # the store document itself
    assert secrets_in(raw, [creds["alertmanager_token"], creds["change_token"]]) == []
    assert raw.get("alertmanager_token") is None and raw.get("change_token") is None
    assert set(raw["alertmanager_token_hash"]) == {"salt", "sha256", "set_at"}
    assert raw["alertmanager_token_hash"]["salt"] != raw["change_token_hash"]["salt"]
    assert raw["pagerduty_secrets"] == [creds["pagerduty_secret"]]  # an HMAC key: kept

    read = env.admin.read("acme")
    assert read == view
    assert secrets_in(read, list(creds.values())) == []
    assert env.admin.list() == {
        "tenants": [
            {
                "id": "acme",
                "name": "Acme",
                "disabled": False,
                "slack_team_id": "T1",
                "slack_channel_id": "C1",
                "services": 2,
            }
        ]
    }
    [record] = env.audit()
    assert (record["action"], record["actor"], record["subject"]) == (
        "tenant.create",
        ACTOR,
        "tenant:acme",
    )


def test_generated_tokens_work_for_ingestion(env: Env) -> None:
    creds = env.create()["credentials"]
    auth = {"Authorization": f"Bearer {creds['alertmanager_token']}"}
    assert env.ingest.alertmanager("acme", auth, FIRING).status.value == "accepted"
    with pytest.raises(Unauthorized, match="wrong Alertmanager token"):
        env.ingest.alertmanager("acme", {"Authorization": "Bearer nope"}, FIRING)
    with pytest.raises(Unauthorized, match="wrong change-feed token"):
        env.ingest.changes("acme", auth, b"{}")  # the Alertmanager token is not the change token
    sig = pagerduty_signature(creds["pagerduty_secret"], PD_PING)
    assert env.ingest.pagerduty("acme", {"X-PagerDuty-Signature": sig}, PD_PING)


def test_a_pagerduty_secret_given_at_create_is_not_echoed(env: Env) -> None:
    made = env.create(pagerduty_secret="from-pagerduty-0123456789")
    assert "pagerduty_secret" not in made["credentials"]
    assert secrets_in(made, ["from-pagerduty-0123456789"]) == []
    with pytest.raises(BadInput, match="field 'pagerduty_secret'"):
        env.admin.create(json.dumps({"id": "b", "pagerduty_secret": "short"}).encode(), actor=ACTOR)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1]", "body must be a JSON object"),
        (b"{", "malformed JSON"),
        (b"{}", "field 'id': required"),
        (b'{"id": "Bad Name"}', "tenant name 'Bad Name' must be lower-case"),
        (b'{"id": "a", "alertmanager_token": "mine"}', "field 'alertmanager_token': not something"),
        (b'{"id": "a", "timezone": "Mars/Base"}', "field 'timezone': Value error, unknown IANA"),
        (
            b'{"id": "a", "topology": {"services": [{"tier": 1}]}}',
            "field 'topology.services.0.name'",
        ),
        (b'{"id": "a", "responders": "U1"}', "field 'responders'"),
        (b'{"id": "a", "prometheus_url": "file:///etc/passwd"}', "field 'prometheus_url'"),
        (b'{"id": "a", "forecast_horizon_hours": 500}', "field 'forecast_horizon_hours'"),
    ],
)
def test_bad_create_bodies_name_the_field(env: Env, body: bytes, reason: str) -> None:
    with pytest.raises(BadInput) as caught:
        env.admin.create(body, actor=ACTOR)
    assert reason in caught.value.reason
    assert env.registry.list() == []


def test_create_twice_is_a_conflict(env: Env) -> None:
    env.create()
    with pytest.raises(Conflict, match="exists already"):
        env.create()


def test_update_sets_fields_keeps_credentials_and_audits_without_secrets(env: Env) -> None:
    creds = env.create(slack_channel_id="C1")["credentials"]
    hashes = env.raw()["alertmanager_token_hash"]
    env.clock.set(T0 + timedelta(hours=1))
    view = env.admin.update(
        "acme",
        json.dumps(
            {
                "slack_channel_id": None,
                "slack_bot_token": "xoxb-secret-bot-token",
                "timezone": "America/New_York",
                "responders": ["U7", "U8"],
                "topology": TOPOLOGY,
            }
        ).encode(),
        actor=ACTOR,
    )
    assert view["slack_channel_id"] is None and view["timezone"] == "America/New_York"
    assert view["responders"] == ["U7", "U8"]
    assert view["credentials"]["slack_bot_token"] == {"set": True}
    assert "xoxb-secret-bot-token" not in json.dumps(view)
    assert env.raw()["alertmanager_token_hash"] == hashes  # untouched
    auth = {"Authorization": f"Bearer {creds['alertmanager_token']}"}
    env.ingest.alertmanager("acme", auth, FIRING)
    update = env.audit()[-1]
    assert update["action"] == "tenant.update"
    assert update["detail"]["fields"]["slack_bot_token"] == "(set)"
    assert "xoxb-secret-bot-token" not in json.dumps(env.audit())
    with pytest.raises(BadInput, match="field 'name'"):
        env.admin.update("acme", b'{"name": null}', actor=ACTOR)
    with pytest.raises(BadInput, match="field 'id': not something"):
        env.admin.update("acme", b'{"id": "other"}', actor=ACTOR)
    with pytest.raises(BadInput, match="names no field"):
        env.admin.update("acme", b"{}", actor=ACTOR)
    with pytest.raises(NotFound, match="unknown tenant 'nobody'"):
        env.admin.update("nobody", b'{"name": "x"}', actor=ACTOR)
    with pytest.raises(NotFound):
        env.admin.read("nobody")


def test_rotate_replaces_bearer_tokens_at_once_and_overlaps_pagerduty(env: Env) -> None:
    old = env.create()["credentials"]
    env.clock.set(T0 + timedelta(days=1))
    rotated = env.admin.rotate("acme", b"", actor=ACTOR)
    new = rotated["credentials"]
    assert set(new) == {"alertmanager_token", "change_token", "pagerduty_secret"}
    assert all(new[k] != old[k] for k in new)
    assert secrets_in(rotated["tenant"], list(new.values()) + list(old.values())) == []
    state = rotated["tenant"]["credentials"]
    assert state["alertmanager_token"]["rotated_at"] == "2026-03-05T09:00:00.000000Z"
    assert state["pagerduty_secret"]["valid_secrets"] == 2
    assert state["pagerduty_secret"]["previous_valid_until"] == "2026-03-06T09:00:00.000000Z"

    with pytest.raises(Unauthorized, match="wrong Alertmanager token"):
        env.ingest.alertmanager(
            "acme", {"Authorization": f"Bearer {old['alertmanager_token']}"}, FIRING
        )
    env.ingest.alertmanager(
        "acme", {"Authorization": f"Bearer {new['alertmanager_token']}"}, FIRING
    )
    with pytest.raises(Unauthorized, match="wrong change-feed token"):
        env.ingest.changes("acme", {"Authorization": f"Bearer {old['change_token']}"}, b"[]")

    ping = PD_PING

    def pd(secret: str) -> None:
        env.ingest.pagerduty(
            "acme", {"X-PagerDuty-Signature": pagerduty_signature(secret, ping)}, ping
        )

    pd(old["pagerduty_secret"])  # during the overlap both verify
    pd(new["pagerduty_secret"])
    env.clock.set(T0 + timedelta(days=2, seconds=1))
    with pytest.raises(Unauthorized, match="does not match"):
        pd(old["pagerduty_secret"])
    pd(new["pagerduty_secret"])

    record = env.audit()[-1]
    assert record["action"] == "tenant.rotate" and record["actor"] == ACTOR
    assert record["detail"]["credentials"] == [
        "alertmanager_token",
        "change_token",
        "pagerduty_secret",
    ]
    assert secrets_in(env.audit(), list(new.values()) + list(old.values())) == []
    assert verify(env.store, "acme").ok


def test_rotate_one_credential_and_a_given_pagerduty_secret(env: Env) -> None:
    old = env.create()["credentials"]
    only = env.admin.rotate("acme", b'{"credentials": ["change_token"]}', actor=ACTOR)
    assert set(only["credentials"]) == {"change_token"}
    env.ingest.alertmanager(
        "acme", {"Authorization": f"Bearer {old['alertmanager_token']}"}, FIRING
    )
    given = env.admin.rotate(
        "acme",
        b'{"credentials": ["pagerduty_secret"], "pagerduty_secret": "pd-from-pagerduty-123", '
        b'"overlap_hours": 0}',
        actor=ACTOR,
    )
    assert given["credentials"] == {}
    assert env.raw()["pagerduty_secrets"] == ["pd-from-pagerduty-123"]  # no overlap asked
    for body, field in [
        (b'{"credentials": ["password"]}', "credentials"),
        (b'{"credentials": []}', "credentials"),
        (b'{"overlap_hours": 500}', "overlap_hours"),
        (b'{"overlap_hours": true}', "overlap_hours"),
        (b'{"credentials": ["change_token"], "pagerduty_secret": "x" }', "pagerduty_secret"),
        (b'{"what": 1}', "what"),
    ]:
        with pytest.raises(BadInput, match=f"field '{field}'"):
            env.admin.rotate("acme", body, actor=ACTOR)
    with pytest.raises(NotFound):
        env.admin.rotate("nobody", b"", actor=ACTOR)


def test_disable_refuses_deliveries_with_403_and_is_audited_once(env: Env) -> None:
    creds = env.create()["credentials"]
    view = env.admin.disable("acme", b'{"reason": "contract ended"}', actor=ACTOR)
    assert view["disabled"] is True and view["disabled_reason"] == "contract ended"
    auth = {"Authorization": f"Bearer {creds['alertmanager_token']}"}
    with pytest.raises(TenantDisabled, match="tenant 'acme' is disabled") as caught:
        env.ingest.alertmanager("acme", auth, FIRING)
    assert caught.value.http_status == 403
    with pytest.raises(TenantDisabled):
        env.ingest.changes("acme", {"Authorization": f"Bearer {creds['change_token']}"}, b"[]")
    env.admin.disable("acme", b"", actor=ACTOR)  # again: nothing new
    assert [r["action"] for r in env.audit()] == ["tenant.create", "tenant.disable"]
    assert env.admin.read("acme")["disabled"] is True
    with pytest.raises(BadInput, match="field 'reason'"):
        env.admin.disable("acme", b'{"reason": 5}', actor=ACTOR)


def test_set_policy_stores_the_yaml_and_audits_the_caller(env: Env) -> None:
    env.create()
    answer = env.admin.set_policy("acme", CONTRACT.encode(), actor=ACTOR)
    assert {a["action"] for a in answer["actions"]} == {
        "restart_pod",
        "scale_replicas",
        "rollback_deployment",
    }
    assert env.admin.read("acme")["policy"]["version"] == answer["version"]
    assert env.audit()[-1]["action"] == "policy.set" and env.audit()[-1]["actor"] == ACTOR
    with pytest.raises(BadInput, match=r"actions\.restart_pod\.tier"):
        env.admin.set_policy("acme", b"actions:\n  restart_pod: {tier: extreme}\n", actor=ACTOR)
    with pytest.raises(BadInput, match="empty"):
        env.admin.set_policy("acme", b"  \n", actor=ACTOR)
    with pytest.raises(BadInput, match="not UTF-8"):
        env.admin.set_policy("acme", b"\xff\xfe", actor=ACTOR)
    with pytest.raises(NotFound):
        env.admin.set_policy("nobody", CONTRACT.encode(), actor=ACTOR)
