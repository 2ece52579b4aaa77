"""Live ingestion groups a storm with ``correlate``'s decision (tests/fixtures/storms)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared.adapters.store.sqlite import SqliteStore
from shared.bench.storms import pair_scores, replay_live
from shared.clock import FixedClock
from shared.correlation.storm import correlate, read_storm
from shared.errors import StoreUnavailable
from shared.ingestion.service import IngestService, ReceiptStatus
from shared.models.incident import Incident
from shared.models.tenant import Tenant
from shared.ports.store import Container, DocumentStore
from shared.settings import Settings
from shared.tenants.registry import TenantRegistry

STORMS = Path(__file__).parents[2] / "fixtures" / "storms"
SMALL = STORMS / "storm-small.json"
TRUTH = json.loads((STORMS / "storm-small.expected.json").read_text())["groups"]
DATA = json.loads(SMALL.read_text())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def grouping(groups: list[list[str]]) -> set[frozenset[str]]:
    return {frozenset(g) for g in groups}


def service_for(store: DocumentStore, tmp_path: Path, *tenants: str) -> IngestService:
    registry = TenantRegistry(store, cache_seconds=0)
    for tenant in tenants:
        registry.add(
            Tenant(
                id=tenant,
                tenant_id=tenant,
                name=tenant,
                alertmanager_token=SecretStr(f"{tenant}-token"),
                topology=DATA["topology"],
            )
        )
    clock = FixedClock(datetime.fromisoformat(DATA["deliveries"][0]["received_at"]))
    return IngestService(store, registry, Settings(home=tmp_path), clock)


def send(service: IngestService, tenant: str, body: dict[str, Any]) -> Any:
    """Post one delivery as Alertmanager does: again on a 503, until it is answered."""
    headers = {"Authorization": f"Bearer {tenant}-token"}
    for _ in range(200):
        try:
            return service.alertmanager(tenant, headers, json.dumps(body).encode())
        except StoreUnavailable:
            continue
    raise AssertionError("never answered")


def incidents_of(store: DocumentStore, tenant: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for doc in store.query(Container.INCIDENT_ALERTS, tenant):
        out.setdefault(str(doc["incidentId"]), set()).add(str(doc["fingerprint"]))
    return out


def test_onset_order_gives_correlates_groups(store: DocumentStore) -> None:
    ours = replay_live(SMALL, store, order="onset")
    theirs = correlate(read_storm(SMALL))
    assert grouping(ours) == grouping([list(g.alerts) for g in theirs.groups])


def test_arrival_order_stays_precise_and_merges_what_a_late_cause_joined(
    store: DocumentStore,
) -> None:
    live = pair_scores(replay_live(SMALL, store), TRUTH)
    theirs = pair_scores([g.alerts for g in correlate(read_storm(SMALL)).groups], TRUTH)
    assert live["precision"] >= theirs["precision"] - 0.02
    assert live["recall"] >= 0.6
    incidents = {d["id"]: Incident.from_doc(d) for d in store.query(Container.INCIDENTS, "acme")}
    held = incidents_of(store, "acme")
    by_alert = {fp: i for i, fps in held.items() for fp in fps}
    # inventory's errors came a delivery after its callers' alerts had opened two
    # incidents: it joins one (its caller began with it), and the other, which nobody
    # had seen (nothing is posted in a replay), moves into it.
    inventory = by_alert["e3"]
    assert by_alert["e1"] == by_alert["e2"] == inventory
    merged = [i for i in incidents.values() if i.merged_into is not None]
    assert merged and all(m.merged_into in held and m.id not in held for m in merged)
    (merged,) = [m for m in merged if m.merged_into == inventory]
    notes = {i.id: [n["text"] for n in i.notes] for i in incidents.values()}
    assert any(t.startswith(f"Took in {merged.id}") for t in notes[inventory])
    assert any(t.startswith(f"Merged into {inventory}") for t in notes[merged.id])
    assert "HighErrorRate on inventory joined: its service is a dependency of catalog" in (
        " ".join(notes[inventory])
    )


def test_a_storm_delivered_twice_changes_nothing(store: DocumentStore, tmp_path: Path) -> None:
    service = service_for(store, tmp_path, "acme")
    for d in DATA["deliveries"]:
        send(service, "acme", d["body"])
    before = {
        c: sorted(json.dumps(d, sort_keys=True) for d in store.query(c, "acme"))
        for c in (Container.INCIDENTS, Container.INCIDENT_ALERTS, Container.DEDUP)
    }
    again = [send(service, "acme", d["body"]) for d in DATA["deliveries"]]
    assert {r.status for r in again} == {ReceiptStatus.DUPLICATE}
    assert all(r.to_signal == () for r in again)
    after = {
        c: sorted(json.dumps(d, sort_keys=True) for d in store.query(c, "acme"))
        for c in (Container.INCIDENTS, Container.INCIDENT_ALERTS, Container.DEDUP)
    }
    assert after == before


def test_two_tenants_never_mix(store: DocumentStore, tmp_path: Path) -> None:
    service = service_for(store, tmp_path, "acme", "globex")
    for d in DATA["deliveries"]:  # the same storm, interleaved delivery by delivery
        send(service, "acme", d["body"])
        send(service, "globex", d["body"])
    acme, globex = incidents_of(store, "acme"), incidents_of(store, "globex")
    assert not set(acme) & set(globex)
    alone = SqliteStore(tmp_path / "alone.sqlite3")
    try:
        expected = grouping(replay_live(SMALL, alone))
    finally:
        alone.close()
    assert grouping([list(g) for g in acme.values()]) == expected
    assert grouping([list(g) for g in globex.values()]) == expected


def test_concurrent_deliveries_lose_nothing(store: DocumentStore, tmp_path: Path) -> None:
    service = service_for(store, tmp_path, "acme")
    start = threading.Barrier(8)

    def deliver(body: dict[str, Any]) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):  # the last few go alone
            start.wait(timeout=1)
        return send(service, "acme", body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        receipts = list(pool.map(deliver, [d["body"] for d in DATA["deliveries"]]))
    assert {r.status for r in receipts} <= {ReceiptStatus.ACCEPTED, ReceiptStatus.DUPLICATE}
    held = incidents_of(store, "acme")
    placed = [fp for fps in held.values() for fp in fps]
    firing = {fp for group in TRUTH for fp in group}
    assert sorted(placed) == sorted(firing)  # every alert in exactly one incident
    created = [t.incident_id for r in receipts for t in r.incidents if t.created]
    # Each incident created once, so started once (one merged away in the delivery
    # that created it is not started at all).
    assert len(created) == len(set(created)) and set(held) <= set(created)
    live = pair_scores([list(g) for g in held.values()], TRUTH)
    assert live["precision"] == 1.0


def test_a_late_cause_joins_the_incident_its_first_effect_opened(
    store: DocumentStore, tmp_path: Path
) -> None:
    service = service_for(store, tmp_path, "acme")
    template = DATA["deliveries"][0]["body"]

    def one(fp: str, name: str, service_name: str, starts: str) -> dict[str, Any]:
        alert = {
            "status": "firing",
            "labels": {"alertname": name, "service": service_name, "severity": "critical"},
            "annotations": {},
            "startsAt": f"2026-03-04T14:{starts}Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": fp,
        }
        return template | {"alerts": [alert]}

    first = send(service, "acme", one("cat", "HighErrorRate", "catalog", "06:30"))
    second = send(service, "acme", one("pri", "HighLatency", "pricing", "06:35"))
    late = send(service, "acme", one("inv", "HighErrorRate", "inventory", "05:00"))
    catalog, pricing = first.incidents[0].incident_id, second.incidents[0].incident_id
    assert catalog != pricing
    (joined,) = late.incidents
    assert (joined.incident_id, joined.created) == (catalog, False)
    held = incidents_of(store, "acme")
    assert held == {catalog: {"cat", "inv", "pri"}}  # pricing's, never posted, moved
    notes = {
        d["id"]: " | ".join(n["text"] for n in d["notes"])
        for d in store.query(Container.INCIDENTS, "acme")
    }
    assert "HighErrorRate on inventory joined: the likelier cause" in notes[catalog]
    assert f"Took in {pricing}" in notes[catalog]
    assert f"Merged into {catalog}" in notes[pricing]
