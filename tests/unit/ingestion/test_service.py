"""The ingestion use case over the embedded store: dedup, correlation, failures."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.errors import (
    BadInput,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    StoreUnavailable,
    Unauthorized,
)
from shared.incidents import work
from shared.incidents.alerts import with_alerts
from shared.incidents.reconcile import open_incidents
from shared.ingestion.auth import pagerduty_signature
from shared.ingestion.normalisers import normalise_alertmanager
from shared.ingestion.service import IngestService, ReceiptStatus
from shared.models.base import doc_id, iso
from shared.models.events import RawEventOutcome
from shared.models.incident import Incident, IncidentStatus
from shared.models.tenant import Tenant
from shared.ports.store import Container, DocumentStore, Filter
from shared.settings import Settings
from shared.tenants.registry import TenantRegistry

PAYLOADS = Path(__file__).parents[2] / "fixtures" / "payloads"
AM = {"Authorization": "Bearer am-token"}
T0 = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / name).read_text())


def body(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def pd_headers(raw: bytes, webhook_id: str = "w-1") -> dict[str, str]:
    return {
        "X-PagerDuty-Signature": pagerduty_signature("pd-secret", raw),
        "X-Webhook-Id": webhook_id,
    }


class Env:
    def __init__(self, store: DocumentStore, clock: FixedClock, settings: Settings) -> None:
        self.store, self.clock = store, clock
        self.registry = TenantRegistry(store, cache_seconds=0)
        self.registry.add(
            Tenant(
                id="acme",
                tenant_id="acme",
                name="Acme",
                alertmanager_token=SecretStr("am-token"),
                pagerduty_secrets=(SecretStr("pd-secret"),),
                change_token=SecretStr("chg-token"),
            )
        )
        self.service = IngestService(store, self.registry, settings, clock)

    def incidents(self) -> list[Incident]:
        docs = self.store.query(Container.INCIDENTS, "acme")
        return [with_alerts(self.store, Incident.from_doc(d), limit=1000) for d in docs]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    settings = Settings(home=tmp_path)
    store = SqliteStore(tmp_path / "store.sqlite3")
    yield Env(store, FixedClock(T0), settings)
    store.close()


def test_an_alertmanager_group_splits_by_cause_and_stores_raw(env: Env) -> None:
    """checkout's errors and node-3's disk share a group, not a cause: two incidents."""
    receipt = env.service.alertmanager("acme", AM, body(payload("alertmanager_firing.json")))
    assert receipt.status is ReceiptStatus.ACCEPTED
    assert all(t.created for t in receipt.incidents)
    by_id = {i.id: i for i in env.incidents()}
    assert set(by_id) == {t.incident_id for t in receipt.incidents}
    disk, errors = (by_id[t.incident_id] for t in receipt.incidents)  # earliest onset first
    assert (disk.instances, disk.services, len(disk.alerts)) == (("node-3",), (), 1)
    assert (errors.services, errors.severity.value, len(errors.alerts)) == (
        ("checkout",),
        "critical",
        1,
    )
    assert receipt.to_json()["incidents"] == [t.incident_id for t in receipt.incidents]
    raw = env.store.get(Container.RAW_EVENTS, "acme", receipt.raw_event_id)
    assert raw is not None
    assert raw["outcome"] == RawEventOutcome.ACCEPTED
    assert raw["incident_ids"] == [t.incident_id for t in receipt.incidents]
    assert json.loads(raw["body"])["groupKey"] == payload("alertmanager_firing.json")["groupKey"]


def test_redelivery_is_a_duplicate_pointing_at_the_same_incidents(env: Env) -> None:
    raw = body(payload("alertmanager_firing.json"))
    first = env.service.alertmanager("acme", AM, raw)
    state = env.store.get(Container.DEDUP, "acme", "grouping-state")
    again = env.service.alertmanager("acme", AM, raw)
    assert again.status is ReceiptStatus.DUPLICATE
    assert [t.incident_id for t in again.incidents] == [t.incident_id for t in first.incidents]
    assert not any(t.created for t in again.incidents)
    assert again.to_signal == ()
    assert len(env.incidents()) == 2
    assert env.store.get(Container.DEDUP, "acme", "grouping-state") == state  # nothing moved
    # Both deliveries are kept: nothing a sender gave us is lost.
    assert len(env.store.query(Container.RAW_EVENTS, "acme")) == 2


def test_resolution_resolves_the_incident_when_nothing_fires(env: Env) -> None:
    firing = payload("alertmanager_firing.json")
    firing["alerts"] = firing["alerts"][:1]
    env.service.alertmanager("acme", AM, body(firing))
    receipt = env.service.alertmanager("acme", AM, body(payload("alertmanager_resolved.json")))
    assert receipt.incidents[0].status is IncidentStatus.RESOLVED
    (incident,) = env.incidents()
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.resolved_at == T0


def test_pagerduty_dedups_on_signed_event_id_not_webhook_id(env: Env) -> None:
    raw = body(payload("pagerduty_triggered.json"))
    first = env.service.pagerduty("acme", pd_headers(raw, "w-1"), raw)
    again = env.service.pagerduty("acme", pd_headers(raw, "w-2"), raw)
    assert first.status is ReceiptStatus.ACCEPTED
    assert again.status is ReceiptStatus.DUPLICATE
    assert len(env.incidents()) == 1


def test_same_service_joins_by_onset_and_a_later_onset_opens_new(env: Env) -> None:
    """Onsets decide, not arrival: PagerDuty's page began 90 s after checkout's errors."""
    am = env.service.alertmanager("acme", AM, body(payload("alertmanager_firing.json")))
    errors = am.incidents[1].incident_id  # the disk alert began first
    env.clock.set(T0 + timedelta(minutes=10))
    raw = body(payload("pagerduty_triggered.json"))
    pd = env.service.pagerduty("acme", pd_headers(raw), raw)
    assert pd.incidents[0].incident_id == errors
    assert not pd.incidents[0].created
    env.clock.set(T0 + timedelta(minutes=41))
    later = payload("pagerduty_triggered.json")
    later["event"]["id"] = "another-event"
    later["event"]["data"]["id"] = "PINC888"
    later["event"]["data"]["created_at"] = "2026-03-04T14:40:00Z"  # long after the last onset
    raw = body(later)
    third = env.service.pagerduty("acme", pd_headers(raw), raw)
    assert third.incidents[0].created
    assert third.incidents[0].incident_id != errors


def test_other_service_opens_its_own_incident(env: Env) -> None:
    first = payload("alertmanager_firing.json")
    first["alerts"] = first["alerts"][:1]
    second = json.loads(json.dumps(first))
    second["alerts"][0]["labels"]["service"] = "search"
    second["alerts"][0]["fingerprint"] = "beef"
    a = env.service.alertmanager("acme", AM, body(first))
    b = env.service.alertmanager("acme", AM, body(second))
    assert a.incidents[0].incident_id != b.incidents[0].incident_id
    assert len(env.incidents()) == 2


def test_pagerduty_note_is_attached(env: Env) -> None:
    raw = body(payload("pagerduty_triggered.json"))
    env.service.pagerduty("acme", pd_headers(raw), raw)
    note = body(payload("pagerduty_annotated.json"))
    receipt = env.service.pagerduty("acme", pd_headers(note), note)
    assert receipt.status is ReceiptStatus.ACCEPTED
    (incident,) = env.incidents()
    assert [n["source"] for n in incident.notes] == ["correlation", "pagerduty"]
    assert incident.notes[-1]["text"] == "Rolling back v2.3.1 now."


def test_unhandled_pagerduty_event_is_ignored_but_kept(env: Env) -> None:
    raw = body(payload("pagerduty_service_updated.json"))
    receipt = env.service.pagerduty("acme", pd_headers(raw), raw)
    assert receipt.status is ReceiptStatus.IGNORED
    assert env.incidents() == []
    stored = env.store.get(Container.RAW_EVENTS, "acme", receipt.raw_event_id)
    assert stored is not None and stored["outcome"] == RawEventOutcome.IGNORED


def test_rejections(env: Env) -> None:
    raw = body(payload("alertmanager_firing.json"))
    with pytest.raises(NotFound):
        env.service.alertmanager("nobody", AM, raw)
    with pytest.raises(Unauthorized):
        env.service.alertmanager("acme", {"Authorization": "Bearer nope"}, raw)
    with pytest.raises(Unauthorized):
        env.service.pagerduty("acme", {"X-PagerDuty-Signature": "v1=00"}, raw)
    with pytest.raises(PayloadTooLarge):
        env.service.alertmanager("acme", AM, b" " * (1024 * 1024 + 1))
    assert env.store.query(Container.RAW_EVENTS, "acme") == []  # unauthenticated: not kept


def test_malformed_body_is_kept_and_rejected_with_reason(env: Env) -> None:
    with pytest.raises(BadInput, match="malformed JSON at line 1"):
        env.service.alertmanager("acme", AM, b'{"version": "4",')
    (raw,) = env.store.query(Container.RAW_EVENTS, "acme")
    assert raw["outcome"] == RawEventOutcome.INVALID
    assert raw["body"] == '{"version": "4",'


class FlakyStore:
    """Fails the first incident creation the way a throttled store does."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.failures = 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def create(self, container: Container, tenant_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        if container is Container.INCIDENTS and self.failures:
            self.failures -= 1
            raise StoreUnavailable("throttled")
        return self.inner.create(container, tenant_id, doc)


def test_transient_failure_then_retry_processes_the_delivery(env: Env, tmp_path: Path) -> None:
    flaky = FlakyStore(env.store)
    service = IngestService(flaky, env.registry, Settings(home=tmp_path), env.clock)  # type: ignore[arg-type]
    raw = body(payload("alertmanager_firing.json"))
    with pytest.raises(StoreUnavailable):
        service.alertmanager("acme", AM, raw)
    decided = env.store.get(Container.DEDUP, "acme", "grouping-state")
    assert decided is not None  # the decision was stored before the store failed
    retry = service.alertmanager("acme", AM, raw)
    assert retry.status is ReceiptStatus.ACCEPTED
    assert all(t.created for t in retry.incidents)
    # The retry recovers the decision: the incidents get the ids their groups were given.
    assert sorted(t.incident_id for t in retry.incidents) == sorted(
        decided["incidents"] or [g["id"] for g in decided["grouper"]["groups"]]
    )
    assert len(env.incidents()) == 2


def test_concurrent_alerts_of_one_service_land_in_one_incident(env: Env) -> None:
    template = payload("alertmanager_firing.json")
    template["alerts"] = template["alerts"][:1]
    barrier = threading.Barrier(12)
    receipts = []
    lock = threading.Lock()

    def send(i: int) -> None:
        data = json.loads(json.dumps(template))
        data["alerts"][0]["fingerprint"] = f"fp-{i}"
        data["alerts"][0]["labels"]["alertname"] = f"Alert{i}"
        barrier.wait()
        receipt = env.service.alertmanager("acme", AM, body(data))
        with lock:
            receipts.append(receipt)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (incident,) = env.incidents()
    assert len(incident.alerts) == 12
    assert sum(r.incidents[0].created for r in receipts) == 1
    assert {r.incidents[0].incident_id for r in receipts} == {incident.id}


def test_changes_are_stored_and_validated(env: Env) -> None:
    headers = {"Authorization": "Bearer chg-token"}
    change = {
        "kind": "deployment",
        "service": "checkout",
        "at": "2026-03-04T13:52:00Z",
        "version": "v2.3.1",
        "previous_version": "v2.3.0",
        "author": "dana",
    }
    receipt = env.service.changes(
        "acme", headers, body({"changes": [change, {**change, "version": "v2.3.2"}]})
    )
    assert len(receipt.change_ids) == 2
    again = env.service.changes("acme", headers, body(change))  # idempotent by content
    assert again.change_ids[0] == receipt.change_ids[0]
    stored = env.store.query(Container.CHANGES, "acme", [Filter("service", "=", "checkout")])
    assert len(stored) == 2
    with pytest.raises(BadInput, match=r"change #0: field 'kind'"):
        env.service.changes("acme", headers, body({**change, "kind": "reboot"}))
    with pytest.raises(BadInput, match="deployments only"):
        env.service.changes("acme", headers, body({**change, "kind": "config"}))
    with pytest.raises(Unauthorized):
        env.service.changes("acme", AM, body(change))


def test_a_dead_host_and_its_services_symptoms_are_one_incident(env: Env) -> None:
    from shared.models.tenant import Service, Topology

    tenant = env.registry.get("acme")
    topology = Topology(services=(Service(name="checkout", instances=("node-3",)),))
    env.registry.add(tenant.model_copy(update={"topology": topology}), replace=True)
    service_alert = payload("alertmanager_firing.json")
    host_alert = json.loads(json.dumps(service_alert))
    service_alert["alerts"] = service_alert["alerts"][:1]
    host_alert["alerts"] = host_alert["alerts"][1:]
    host_alert["alerts"][0]["labels"]["alertname"] = "NodeDown"  # node-3 stopped answering
    first = env.service.alertmanager("acme", AM, body(host_alert))
    second = env.service.alertmanager("acme", AM, body(service_alert))
    assert second.incidents[0].incident_id == first.incidents[0].incident_id
    (incident,) = env.incidents()
    assert [n["text"] for n in incident.notes] == [
        "Opened by NodeDown on node-3 (alert c0ffee0000000002)",
        "HighErrorRate on checkout joined: runs on node-3, which is failing "
        "(alert c0ffee0000000002, onset +60 s)",
    ]
    reason = env.store.get(Container.DEDUP, "acme", doc_id("fp:", "c0ffee0000000001"))
    assert reason is not None and reason["reason"].startswith("runs on node-3")
    unrelated = json.loads(json.dumps(host_alert))
    unrelated["alerts"][0]["labels"]["instance"] = "node-9:9100"
    unrelated["alerts"][0]["fingerprint"] = "other-host"
    third = env.service.alertmanager("acme", AM, body(unrelated))
    assert third.incidents[0].incident_id != first.incidents[0].incident_id


def test_a_disk_filling_is_not_the_cause_of_a_services_errors(env: Env) -> None:
    from shared.models.tenant import Service, Topology

    tenant = env.registry.get("acme")
    topology = Topology(services=(Service(name="checkout", instances=("node-3",)),))
    env.registry.add(tenant.model_copy(update={"topology": topology}), replace=True)
    receipt = env.service.alertmanager("acme", AM, body(payload("alertmanager_firing.json")))
    assert len({t.incident_id for t in receipt.incidents}) == 2


def test_alert_changes_wake_the_orchestration_once_per_drain(env: Env) -> None:
    """One wake until the orchestration drains; every change bumps the revision it reads."""

    def alert(i: int, status: str = "firing") -> bytes:
        data = payload("alertmanager_firing.json")
        data["alerts"] = data["alerts"][:1]
        data["alerts"][0]["fingerprint"] = f"fp-{i}"
        data["alerts"][0]["status"] = status
        data["status"] = status
        return body(data)

    created = env.service.alertmanager("acme", AM, alert(0)).incidents[0]
    assert created.created
    first = env.service.alertmanager("acme", AM, alert(1)).incidents[0]
    assert first.signal  # no wake pending: wake it
    env.clock.set(T0 + timedelta(seconds=3))
    assert not env.service.alertmanager("acme", AM, alert(2)).incidents[0].signal
    taken = work.take(env.store, "acme", first.incident_id)  # the orchestration drains
    assert taken["revision"] == 2
    env.clock.set(T0 + timedelta(seconds=4))
    assert env.service.alertmanager("acme", AM, alert(3)).incidents[0].signal
    env.clock.set(T0 + timedelta(seconds=4) + work.WAKE_REPEAT)
    # A wake unanswered this long may be lost: the next change sends another.
    touch = env.service.alertmanager("acme", AM, alert(3, "resolved")).incidents[0]
    assert touch.signal
    assert work.take(env.store, "acme", first.incident_id)["revision"] == 4


def test_a_late_firing_after_resolution_opens_no_ghost_incident(env: Env) -> None:
    resolved = payload("pagerduty_triggered.json")
    resolved["event"]["event_type"] = "incident.resolved"
    resolved["event"]["data"]["status"] = "resolved"
    resolved["event"]["id"] = "evt-resolved"
    triggered = payload("pagerduty_triggered.json")
    for data in (resolved, triggered):  # the resolution overtook the trigger's retry
        raw = body(data)
        env.service.pagerduty("acme", pd_headers(raw), raw)
    assert env.incidents() == []
    (alert,) = env.store.query(Container.ALERTS, "acme")
    assert alert["status"] == "resolved"


def test_a_retry_while_the_first_attempt_is_in_flight_is_told_to_retry(env: Env) -> None:
    raw = body(payload("alertmanager_firing.json"))
    dedup_key = normalise_alertmanager(json.loads(raw), tenant_id="acme").dedup_key
    record = {
        "id": doc_id("delivery:", dedup_key),
        "tenantId": "acme",
        "state": "processing",
        "rawEventId": "r0",
        "claimedAt": iso(T0),
    }
    env.store.create(Container.DEDUP, "acme", record)
    with pytest.raises(StoreUnavailable, match="being processed"):
        env.service.alertmanager("acme", AM, raw)
    env.clock.set(T0 + timedelta(minutes=2))  # the first attempt died: its claim is taken over
    assert env.service.alertmanager("acme", AM, raw).status is ReceiptStatus.ACCEPTED


def test_contention_is_a_503_not_a_4xx_that_senders_drop(env: Env, tmp_path: Path) -> None:
    class Contended(FlakyStore):
        def replace(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            raise PreconditionFailed("incidents/x moved on")

    raw = body(payload("alertmanager_firing.json"))
    env.service.alertmanager("acme", AM, raw)
    service = IngestService(
        Contended(env.store),
        env.registry,
        Settings(home=tmp_path),
        env.clock,  # type: ignore[arg-type]
    )
    again = payload("alertmanager_firing.json")
    again["alerts"][0]["fingerprint"] = "another"
    with pytest.raises(StoreUnavailable, match="contention"):
        service.alertmanager("acme", AM, body(again))


def test_a_time_beyond_the_calendar_is_a_400(env: Env) -> None:
    data = payload("alertmanager_firing.json")
    data["alerts"][0]["startsAt"] = "9999-12-31T23:00:00-05:00"
    with pytest.raises(BadInput, match=r"field 'alerts\.0\.startsAt'.*outside 1970-01-01"):
        env.service.alertmanager("acme", AM, body(data))


def _outcomes(env: Env) -> list[tuple[str, str | None]]:
    docs = env.store.query(Container.RAW_EVENTS, "acme", order_by="received_at")
    return [(d["outcome"], d.get("reason")) for d in docs]


def test_a_delivery_answered_503_while_in_flight_closes_its_raw_event(env: Env) -> None:
    raw = body(payload("alertmanager_firing.json"))
    dedup_key = normalise_alertmanager(json.loads(raw), tenant_id="acme").dedup_key
    env.store.create(
        Container.DEDUP,
        "acme",
        {
            "id": doc_id("delivery:", dedup_key),
            "tenantId": "acme",
            "state": "processing",
            "rawEventId": "r0",
            "claimedAt": iso(T0),
        },
    )
    with pytest.raises(StoreUnavailable):
        env.service.alertmanager("acme", AM, raw)
    [(outcome, reason)] = _outcomes(env)
    assert outcome == RawEventOutcome.FAILED
    assert reason is not None and "being processed" in reason


def test_every_answer_leaves_no_raw_event_received(env: Env, tmp_path: Path) -> None:
    class Contended(FlakyStore):
        def replace(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            raise PreconditionFailed("incidents/x moved on")

    raw = body(payload("alertmanager_firing.json"))
    env.service.alertmanager("acme", AM, raw)  # accepted
    env.service.alertmanager("acme", AM, raw)  # duplicate
    with pytest.raises(BadInput):
        env.service.alertmanager("acme", AM, b"{not json")
    contended = IngestService(
        Contended(env.store),  # type: ignore[arg-type]
        env.registry,
        Settings(home=tmp_path),
        env.clock,
    )
    again = payload("alertmanager_firing.json")
    again["alerts"][0]["status"] = "resolved"
    with pytest.raises(StoreUnavailable, match="contention"):
        contended.alertmanager("acme", AM, body(again))
    outcomes = [outcome for outcome, _ in _outcomes(env)]
    assert sorted(outcomes) == sorted(["accepted", "duplicate", "invalid", "failed"])
    assert all(reason for outcome, reason in _outcomes(env) if outcome != "accepted")


class CountingStore(FlakyStore):
    """Counts the bytes each call reads and writes on the incidents."""

    def __init__(self, inner: DocumentStore) -> None:
        super().__init__(inner)
        self.failures = 0
        self.incident_bytes = 0

    def get(self, container: Container, tenant_id: str, doc_id: str) -> Any:
        doc = self.inner.get(container, tenant_id, doc_id)
        if container is Container.INCIDENTS and doc is not None:
            self.incident_bytes += len(json.dumps(doc))
        return doc

    def replace(self, container: Container, tenant_id: str, doc: Any, *, etag: str) -> Any:
        if container is Container.INCIDENTS:
            self.incident_bytes += len(json.dumps(doc))
        return self.inner.replace(container, tenant_id, doc, etag=etag)


def test_a_delivery_costs_the_same_however_many_alerts_its_incident_holds(
    env: Env, tmp_path: Path
) -> None:
    counting = CountingStore(env.store)
    service = IngestService(counting, env.registry, Settings(home=tmp_path), env.clock)  # type: ignore[arg-type]
    template = payload("alertmanager_firing.json")
    template["alerts"] = template["alerts"][:1]

    def deliver(i: int) -> int:
        data = json.loads(json.dumps(template))
        data["alerts"][0]["fingerprint"] = f"fp-{i}"
        counting.incident_bytes = 0
        service.alertmanager("acme", AM, body(data))
        return counting.incident_bytes

    early = [deliver(i) for i in range(1, 6)]
    for i in range(6, 300):
        deliver(i)
    late = [deliver(i) for i in range(300, 305)]
    assert max(late) <= max(early) + 16  # digits of the count, not the alerts
    (incident,) = env.incidents()
    assert incident.alert_count == 304
    assert len(env.store.query(Container.INCIDENT_ALERTS, "acme")) == 304


def one_alert(fingerprint: str, severity: str) -> bytes:
    data = payload("alertmanager_firing.json")
    data["alerts"] = data["alerts"][:1]
    data["alerts"][0]["fingerprint"] = fingerprint
    data["alerts"][0]["labels"]["severity"] = severity
    return body(data)


def test_info_alerts_alone_are_stored_with_no_orchestration_until_one_escalates(env: Env) -> None:
    quiet = env.service.alertmanager("acme", AM, one_alert("i-1", "info"))
    (touch,) = quiet.incidents
    assert touch.created and not touch.signal
    assert quiet.to_signal == ()  # nothing for the edge to start: no message
    (incident,) = env.incidents()
    assert (incident.severity.value, incident.status) == ("info", IncidentStatus.OPEN)
    assert open_incidents(env.store, env.registry, now=T0) == []  # nor does reconciliation

    env.clock.set(T0 + timedelta(seconds=1))
    more = env.service.alertmanager("acme", AM, one_alert("i-2", "info"))
    assert more.incidents[0].incident_id == touch.incident_id
    assert more.to_signal == ()
    # No wake was marked pending for it, so the escalation below is not swallowed.
    assert env.incidents()[0].wake_requested_at is None

    env.clock.set(T0 + timedelta(seconds=2))
    loud = env.service.alertmanager("acme", AM, one_alert("w-1", "warning"))
    (escalated,) = loud.to_signal  # its orchestration starts (a wake of none starts it)
    assert escalated.incident_id == touch.incident_id
    assert [i.incident_id for i in open_incidents(env.store, env.registry, now=T0)] == [
        touch.incident_id
    ]


def test_info_alerts_join_an_open_incident_and_wake_it(env: Env) -> None:
    opened = env.service.alertmanager("acme", AM, one_alert("c-1", "critical")).incidents[0]
    env.clock.set(T0 + timedelta(seconds=1))
    joined = env.service.alertmanager("acme", AM, one_alert("i-1", "info"))
    (touch,) = joined.to_signal
    assert touch.incident_id == opened.incident_id
    assert env.incidents()[0].severity.value == "critical"
