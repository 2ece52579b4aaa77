"""Live ingestion moves an alert a cause arriving after it explains better (issue 9).

Alertmanager batches alerts, so a web pod not ready may be delivered before
web's own errors, which began first: the pod goes to its dead host's
incident, and when web's errors arrive and join checkout's incident, the pod
follows them there, as onset order would have placed it, unless people may
have seen the incident it is in.
"""

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
from shared.incidents import merge
from shared.ingestion.correlation import Correlator
from shared.ingestion.normalisers import normalise_alertmanager
from shared.ingestion.service import IngestService, Receipt
from shared.models.incident import Incident
from shared.models.tenant import Service, Tenant, Topology
from shared.ports.store import Container, DocumentStore
from shared.settings import Settings
from shared.tenants.registry import TenantRegistry

TOPOLOGY = Topology(
    services=(
        Service(name="web", depends_on=("checkout",), instances=("node-1",)),
        Service(name="checkout", instances=("node-2",)),
    )
)
AT = datetime(2026, 3, 4, 14, 10, tzinfo=UTC)


def body(*alerts: tuple[str, str, dict[str, str], str], status: str = "firing") -> bytes:
    return json.dumps(
        {
            "version": "4",
            "receiver": "sre",
            "status": status,
            "groupKey": "{}:{}",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://am",
            "alerts": [
                {
                    "status": status,
                    "labels": {"alertname": name, "severity": "critical", **labels},
                    "annotations": {},
                    "startsAt": f"2026-03-04T14:{starts}Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "fingerprint": fp,
                }
                for fp, name, labels, starts in alerts
            ],
        }
    ).encode()


NODE = ("node", "KubeNodeNotReady", {"instance": "node-1"}, "00:00")
CHECKOUT = ("co", "HighErrorRate", {"service": "checkout"}, "00:05")
POD = ("pod", "KubePodNotReady", {"service": "web", "pod": "web-1"}, "02:00")
WEB = ("web", "HighErrorRate", {"service": "web"}, "01:00")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def service(store: DocumentStore, tmp_path: Path) -> IngestService:
    registry = TenantRegistry(store, cache_seconds=0)
    registry.add(
        Tenant(
            id="acme",
            tenant_id="acme",
            name="acme",
            alertmanager_token=SecretStr("token"),
            topology=TOPOLOGY,
        )
    )
    return IngestService(store, registry, Settings(home=tmp_path), FixedClock(AT))


def send(service: IngestService, raw: bytes) -> Receipt:
    return service.alertmanager("acme", {"Authorization": "Bearer token"}, raw)


def held(store: DocumentStore) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for doc in store.query(Container.INCIDENT_ALERTS, "acme"):
        out.setdefault(str(doc["incidentId"]), set()).add(str(doc["fingerprint"]))
    return out


def incident(store: DocumentStore, incident_id: str) -> Incident:
    doc = store.get(Container.INCIDENTS, "acme", incident_id)
    assert doc is not None
    return Incident.from_doc(doc)


def first_two(service: IngestService, store: DocumentStore) -> tuple[str, str]:
    """The dead host's incident holding the pod, and checkout's."""
    send(service, body(NODE, CHECKOUT))
    send(service, body(POD))
    by_alert = {fp: i for i, fps in held(store).items() for fp in fps}
    assert by_alert["pod"] == by_alert["node"] != by_alert["co"]
    return by_alert["node"], by_alert["co"]


def fp_incident(store: DocumentStore, fingerprint: str) -> Any:
    doc = store.get(Container.DEDUP, "acme", f"fp:{fingerprint}")
    return None if doc is None else doc["incidentId"]


def test_the_pod_follows_its_services_errors_arriving_after_it(
    service: IngestService, store: DocumentStore
) -> None:
    node, checkout = first_two(service, store)
    receipt = send(service, body(WEB))
    assert held(store) == {node: {"node"}, checkout: {"co", "web", "pod"}}
    assert {t.incident_id for t in receipt.incidents} == {node, checkout}
    assert (incident(store, node).alert_count, incident(store, checkout).alert_count) == (1, 3)
    assert "web" in incident(store, checkout).services
    out = " ".join(n["text"] for n in incident(store, node).notes)
    into = " ".join(n["text"] for n in incident(store, checkout).notes)
    assert f"Alert pod moved to {checkout}" in out and "HighErrorRate on web" in out
    assert f"Alert pod moved here from {node}" in into
    assert fp_incident(store, "pod") == checkout
    # Its resolution goes where it went.
    send(service, body(POD, status="resolved"))
    (member,) = [
        d for d in store.query(Container.INCIDENT_ALERTS, "acme") if d["fingerprint"] == "pod"
    ]
    assert (member["incidentId"], member["status"]) == (checkout, "resolved")


def test_an_alert_people_may_have_seen_stays(service: IngestService, store: DocumentStore) -> None:
    node, checkout = first_two(service, store)
    assert merge.claim_post(store, "acme", node, AT) is None  # its message went out
    send(service, body(WEB))
    assert held(store) == {node: {"node", "pod"}, checkout: {"co", "web"}}
    assert (incident(store, node).alert_count, incident(store, checkout).alert_count) == (2, 2)
    assert fp_incident(store, "pod") == node


def test_a_move_retried_counts_once(service: IngestService, store: DocumentStore) -> None:
    node, checkout = first_two(service, store)
    send(service, body(WEB))
    before = {i: incident(store, i).alert_count for i in (node, checkout)}
    # A crash after the move, before web's fingerprint was written: the delivery
    # comes again, its grouping state recalls the move, which finds it done.
    store.delete(Container.DEDUP, "acme", "fp:web")
    (web,) = normalise_alertmanager(json.loads(body(WEB)), tenant_id="acme").alerts
    Correlator(store).apply("acme", [web], AT, TOPOLOGY)
    assert held(store) == {node: {"node"}, checkout: {"co", "web", "pod"}}
    assert {i: incident(store, i).alert_count for i in (node, checkout)} == before
    again = merge.move_alert(store, "acme", "pod", node, checkout, reason="again", at=AT)
    assert (again.outcome, again.into, again.moved) == (merge.Outcome.MERGED, checkout, ())
    assert {i: incident(store, i).alert_count for i in (node, checkout)} == before


def test_a_re_fire_after_a_finished_move_stays_where_it_landed(
    service: IngestService, store: DocumentStore
) -> None:
    node, checkout = first_two(service, store)
    send(service, body(WEB))  # pod moves from node to checkout
    # The same fingerprint fires again into node, whose message then goes out.
    (moved,) = [
        d for d in store.query(Container.INCIDENT_ALERTS, "acme") if d["fingerprint"] == "pod"
    ]
    refire = {**moved, "id": "member-refire", "incidentId": node}
    refire.pop("_etag", None)
    store.create(Container.INCIDENT_ALERTS, "acme", refire)
    assert merge.claim_post(store, "acme", node, AT) is None
    before = {i: incident(store, i).alert_count for i in (node, checkout)}

    again = merge.move_alert(store, "acme", "pod", node, checkout, reason="again", at=AT)

    assert (again.outcome, again.moved) == (merge.Outcome.MERGED, ())
    assert held(store) == {node: {"node", "pod"}, checkout: {"co", "web", "pod"}}
    assert {i: incident(store, i).alert_count for i in (node, checkout)} == before


def test_a_move_interrupted_after_its_mark_is_finished_once(
    service: IngestService, store: DocumentStore
) -> None:
    node, checkout = first_two(service, store)
    before = {i: incident(store, i).alert_count for i in (node, checkout)}
    # A crash right after the source was marked: its count is down, the alert not moved.
    source = incident(store, node)
    note = {"at": "2026-03-04T14:10:00Z", "source": "correlation", "key": "moved-out:pod"}
    marked = source.model_copy(
        update={
            "alert_count": source.alert_count - 1,
            "notes": (*source.notes, note | {"text": "x"}),
        }
    )
    store.upsert(Container.INCIDENTS, "acme", marked.to_doc())
    for _ in range(2):
        done = merge.move_alert(store, "acme", "pod", node, checkout, reason="retry", at=AT)
        assert done.outcome is merge.Outcome.MERGED
    assert held(store) == {node: {"node"}, checkout: {"co", "pod"}}
    assert incident(store, node).alert_count == before[node] - 1
    assert incident(store, checkout).alert_count == before[checkout] + 1


def test_move_alert_refuses_once_the_incident_was_posted(
    service: IngestService, store: DocumentStore
) -> None:
    node, checkout = first_two(service, store)
    # Posted between the grouping's decision and the move: the post wins.
    assert merge.claim_post(store, "acme", node, AT) is None
    done = merge.move_alert(store, "acme", "pod", node, checkout, reason="late", at=AT)
    assert done.outcome is merge.Outcome.SEEN
    assert held(store) == {node: {"node", "pod"}, checkout: {"co"}}
    assert (incident(store, node).alert_count, incident(store, checkout).alert_count) == (2, 1)
