"""A late cause merges incidents nobody has seen, and links the ones people may have seen.

catalog and pricing both call inventory. catalog's errors and pricing's
latency arrive first and open an incident each; inventory's errors, which
began before both, arrive last and join catalog's incident (it explains
catalog). pricing's incident then moves into catalog's unless its message was
posted or a responder touched it. The message and the merge race on pricing's
own document: the tests below put the post before, between and after each
step of the merge, and in a thread beside it.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.errors import StoreUnavailable
from shared.incidents import alerts as members
from shared.incidents import merge, work
from shared.incidents.lifecycle import apply_action
from shared.incidents.message import post_or_update
from shared.incidents.reconcile import open_incidents
from shared.ingestion import correlation
from shared.ingestion.correlation import IncidentTouch
from shared.ingestion.service import Receipt, ReceiptStatus
from shared.models.base import doc_id, iso
from shared.models.incident import Incident, IncidentStatus
from shared.models.tenant import Tenant, Topology
from shared.ports.store import Container, DocumentStore
from shared.settings import Settings

T0 = datetime(2026, 3, 4, 14, 7, tzinfo=UTC)
TOPOLOGY = {
    "services": [
        {"name": "inventory", "instances": ["node-6"]},
        {"name": "catalog", "depends_on": ["inventory"], "instances": ["node-7"]},
        {"name": "pricing", "depends_on": ["inventory"], "instances": ["node-8"]},
    ]
}
AM = {"Authorization": "Bearer am-token"}


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    runtime = make_runtime(tmp_path)
    yield runtime
    runtime.store.close()


def make_runtime(home: Path) -> bootstrap.Runtime:
    settings = Settings(home=home, echo_messages=False)
    store = SqliteStore(home / "store.sqlite3")
    runtime = bootstrap.build(settings, store=store, clock=FixedClock(T0))
    runtime.tenants.add(
        Tenant(
            id="acme",
            tenant_id="acme",
            name="Acme",
            alertmanager_token=SecretStr("am-token"),
            topology=Topology.model_validate(TOPOLOGY),
        )
    )
    return runtime


def alert(fp: str, name: str, service: str, starts: str, status: str = "firing") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "service": service, "severity": "critical"},
        "annotations": {},
        "startsAt": f"2026-03-04T14:{starts}Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-03-04T14:20:00Z",
        "fingerprint": fp,
    }


CAT = alert("cat", "HighErrorRate", "catalog", "06:30")
PRI = alert("pri", "HighLatency", "pricing", "06:35")
INV = alert("inv", "HighErrorRate", "inventory", "05:00")


def send(
    rt: bootstrap.Runtime, *alerts: dict[str, Any], after: int = 0, key: str = "{}"
) -> Receipt:
    """One Alertmanager delivery, ``after`` seconds past T0; again on a 503, as a sender does.

    ``key``: its group key; the same alerts under another key are a new delivery
    (a repeat at the next ``repeat_interval``), not a duplicate of the first.
    """
    clock = rt.clock
    assert isinstance(clock, FixedClock)
    clock.set(T0 + timedelta(seconds=after))
    body = {"version": "4", "status": "firing", "groupKey": key, "alerts": list(alerts)}
    raw = json.dumps(body).encode()
    for _ in range(200):
        with contextlib.suppress(StoreUnavailable):
            return rt.ingest.alertmanager("acme", AM, raw)
    raise AssertionError("never answered")


def effects(rt: bootstrap.Runtime) -> tuple[str, str]:
    """catalog's and pricing's incidents, each opened by its own delivery."""
    (catalog,) = send(rt, CAT).incidents
    (pricing,) = send(rt, PRI, after=10).incidents
    assert catalog.created and pricing.created and catalog.incident_id != pricing.incident_id
    return catalog.incident_id, pricing.incident_id


def late_cause(rt: bootstrap.Runtime) -> Receipt:
    return send(rt, INV, after=30)


def held(store: DocumentStore) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for doc in store.query(Container.INCIDENT_ALERTS, "acme"):
        out.setdefault(str(doc["incidentId"]), set()).add(str(doc["fingerprint"]))
    return out


def incident(store: DocumentStore, incident_id: str) -> Incident:
    doc = store.get(Container.INCIDENTS, "acme", incident_id)
    assert doc is not None
    return Incident.from_doc(doc)


def notes(store: DocumentStore, incident_id: str) -> str:
    return " | ".join(n["text"] for n in incident(store, incident_id).notes)


def posted(store: DocumentStore, incident_id: str) -> bool:
    return store.get(Container.MESSAGES, "acme", f"incident:{incident_id}") is not None


def fp_points_at(store: DocumentStore, fingerprint: str) -> str:
    doc = store.get(Container.DEDUP, "acme", doc_id("fp:", fingerprint))
    assert doc is not None
    return str(doc["incidentId"])


def assert_merged(store: DocumentStore, catalog: str, pricing: str) -> None:
    assert held(store) == {catalog: {"cat", "inv", "pri"}}
    survivor, gone = incident(store, catalog), incident(store, pricing)
    assert (gone.status, gone.merged_into, gone.alert_count) == (
        IncidentStatus.RESOLVED,
        catalog,
        1,
    )
    assert survivor.merged_into is None and survivor.status is IncidentStatus.OPEN
    assert survivor.alert_count == 3  # counted once, however often the merge ran
    assert set(survivor.services) == {"catalog", "inventory", "pricing"}
    assert f"Merged into {catalog} before anyone was told of it" in notes(store, pricing)
    assert f"Took in {pricing} (HighLatency on pricing; 1 alert(s))" in notes(store, catalog)
    assert fp_points_at(store, "pri") == catalog
    assert not posted(store, pricing)


def assert_linked(store: DocumentStore, catalog: str, pricing: str) -> None:
    assert held(store) == {catalog: {"cat", "inv"}, pricing: {"pri"}}
    assert incident(store, pricing).merged_into is None
    assert incident(store, pricing).status is not IncidentStatus.RESOLVED
    assert f"Likely same cause as {pricing}" in notes(store, catalog)
    assert f"Likely same cause as {catalog}" in notes(store, pricing)
    assert fp_points_at(store, "pri") == pricing


def test_an_incident_nobody_has_seen_moves_into_the_one_its_late_cause_joined(
    rt: bootstrap.Runtime,
) -> None:
    catalog, pricing = effects(rt)
    revision = incident(rt.store, catalog).alert_revision
    receipt = late_cause(rt)
    # The survivor analyses again; pricing's orchestration is not told (it ends at its post).
    assert receipt.incidents == (
        IncidentTouch(catalog, created=False, status=IncidentStatus.OPEN, signal=True),
    )
    assert_merged(rt.store, catalog, pricing)
    assert incident(rt.store, catalog).alert_revision > revision
    assert incident(rt.store, catalog).wake_requested_at is not None
    # Its orchestration, still analysing, reaches its first post: it ends without posting.
    assert post_or_update(rt, "acme", pricing) == {
        "posted": None,
        "status": "resolved",
        "merged_into": catalog,
    }
    assert not posted(rt.store, pricing)
    assert post_or_update(rt, "acme", catalog)["status"] == "open"
    assert posted(rt.store, catalog)
    # Repeats and resolutions of pricing's alert now go to the survivor.
    again = send(rt, PRI, after=40, key="repeat")
    assert [t.incident_id for t in again.incidents] == [catalog]
    resolved = [alert(fp, n, s, t, "resolved") for fp, n, s, t in _fired()]
    done = send(rt, *resolved, after=600)
    assert [(t.incident_id, t.status) for t in done.incidents] == [
        (catalog, IncidentStatus.RESOLVED)
    ]
    assert held(rt.store) == {catalog: {"cat", "inv", "pri"}}


def _fired() -> list[tuple[str, str, str, str]]:
    return [
        (a["fingerprint"], a["labels"]["alertname"], a["labels"]["service"], a["startsAt"][14:-1])
        for a in (CAT, PRI, INV)
    ]


def test_the_reconciliation_timer_leaves_a_merged_incident_alone(rt: bootstrap.Runtime) -> None:
    catalog, pricing = effects(rt)
    late_cause(rt)
    found = open_incidents(rt.store, rt.tenants, now=T0 + timedelta(hours=1))
    assert [o.incident_id for o in found] == [catalog]
    # Even a document that read as open (say, written by an older reader) stays ended.
    doc = rt.store.get(Container.INCIDENTS, "acme", pricing)
    assert doc is not None
    rt.store.upsert(Container.INCIDENTS, "acme", {**doc, "status": "open"})
    found = open_incidents(rt.store, rt.tenants, now=T0 + timedelta(hours=1))
    assert [o.incident_id for o in found] == [catalog]


def _posted(rt: bootstrap.Runtime, incident_id: str) -> None:
    post_or_update(rt, "acme", incident_id)


def _acknowledged(rt: bootstrap.Runtime, incident_id: str) -> None:
    # A PagerDuty acknowledgement of its alert, or a click: either way a person has it.
    apply_action(rt, "acme", incident_id, {"action": "acknowledge", "user_name": "ann"})


def _posted_before_announced_at_existed(rt: bootstrap.Runtime, incident_id: str) -> None:
    rt.store.create(
        Container.MESSAGES,
        "acme",
        {"id": f"incident:{incident_id}", "tenantId": "acme", "posted": {}},
    )


def _clicked(rt: bootstrap.Runtime, incident_id: str) -> None:
    work.enqueue(rt.store, "acme", incident_id, "feedback", {"verdict": "likely"}, now=T0)


def _noted_in_pagerduty(rt: bootstrap.Runtime, incident_id: str) -> None:
    doc = rt.store.get(Container.INCIDENTS, "acme", incident_id)
    assert doc is not None
    note = {"at": iso(T0), "source": "pagerduty", "text": "looking"}
    rt.store.upsert(Container.INCIDENTS, "acme", {**doc, "notes": [*doc["notes"], note]})


SEEN = pytest.mark.parametrize(
    "seen",
    [
        _posted,
        _acknowledged,
        _posted_before_announced_at_existed,
        _clicked,
        _noted_in_pagerduty,
    ],
    ids=lambda f: f.__name__.strip("_"),
)


@SEEN
def test_incidents_people_may_have_seen_are_linked_not_moved(
    rt: bootstrap.Runtime, seen: Callable[[bootstrap.Runtime, str], None]
) -> None:
    catalog, pricing = effects(rt)
    seen(rt, catalog)
    seen(rt, pricing)
    receipt = late_cause(rt)
    assert [t.incident_id for t in receipt.incidents] == [catalog]
    assert_linked(rt.store, catalog, pricing)


@SEEN
def test_the_one_people_may_have_seen_survives(
    rt: bootstrap.Runtime, seen: Callable[[bootstrap.Runtime, str], None]
) -> None:
    """The cause joins pricing's incident, not catalog's: catalog's moves there instead."""
    catalog, pricing = effects(rt)
    seen(rt, pricing)
    receipt = late_cause(rt)
    assert [t.incident_id for t in receipt.incidents] == [pricing]
    assert held(rt.store) == {pricing: {"cat", "inv", "pri"}}
    assert incident(rt.store, catalog).merged_into == pricing
    assert incident(rt.store, pricing).alert_count == 3
    assert {fp_points_at(rt.store, fp) for fp in ("cat", "inv", "pri")} == {pricing}


def test_a_post_between_the_grouping_decision_and_the_move_wins(
    rt: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grouping decided while pricing was unseen; its message goes out before the move."""
    catalog, pricing = effects(rt)
    post_or_update(rt, "acme", catalog)
    decide = correlation.state.decide

    def decide_then_post(*args: Any, **kwargs: Any) -> Any:
        decided = decide(*args, **kwargs)
        if decided[1]:  # the late cause's decision, with its link
            post_or_update(rt, "acme", pricing)
        return decided

    monkeypatch.setattr(correlation.state, "decide", decide_then_post)
    late_cause(rt)
    assert_linked(rt.store, catalog, pricing)
    assert posted(rt.store, pricing)


def test_a_post_after_the_check_and_before_the_merge_is_written_wins(
    rt: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge looked (nobody had seen it); the post claims it before the merge writes."""
    catalog, pricing = effects(rt)
    post_or_update(rt, "acme", catalog)
    look = merge.seen_by_people

    def look_then_post(store: DocumentStore, tenant_id: str, doc: dict[str, Any]) -> str | None:
        found = look(store, tenant_id, doc)
        if doc["id"] == pricing:
            post_or_update(rt, "acme", pricing)
        return found

    monkeypatch.setattr(merge, "seen_by_people", look_then_post)
    late_cause(rt)
    assert_linked(rt.store, catalog, pricing)
    assert posted(rt.store, pricing)


def test_a_post_after_the_merge_never_happens(
    rt: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The orchestration composed its message before the merge and claims it after."""
    catalog, pricing = effects(rt)
    claim = merge.claim_post

    def merge_then_claim(store: DocumentStore, tenant_id: str, incident_id: str, at: Any) -> Any:
        late_cause(rt)
        return claim(store, tenant_id, incident_id, at)

    monkeypatch.setattr(merge, "claim_post", merge_then_claim)
    assert post_or_update(rt, "acme", pricing)["merged_into"] == catalog
    assert_merged(rt.store, catalog, pricing)


def test_a_post_racing_a_merge_ends_one_way_or_the_other(tmp_path: Path) -> None:
    outcomes = []
    for trial in range(12):
        home = tmp_path / str(trial)
        home.mkdir()
        rt = make_runtime(home)
        try:
            catalog, pricing = effects(rt)
            post_or_update(rt, "acme", catalog)  # it survives, whatever becomes of pricing
            start = threading.Barrier(2)

            def post(
                rt: bootstrap.Runtime = rt, pricing: str = pricing, start: Any = start
            ) -> None:
                start.wait(timeout=5)
                post_or_update(rt, "acme", pricing)

            def cause(rt: bootstrap.Runtime = rt, start: Any = start) -> None:
                start.wait(timeout=5)
                late_cause(rt)

            threads = [threading.Thread(target=post), threading.Thread(target=cause)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if incident(rt.store, pricing).merged_into is not None:
                assert_merged(rt.store, catalog, pricing)
                outcomes.append("merged, never posted")
            else:
                assert_linked(rt.store, catalog, pricing)
                assert posted(rt.store, pricing)
                outcomes.append("posted, linked")
        finally:
            rt.store.close()
    assert set(outcomes) <= {"merged, never posted", "posted, linked"}


def test_a_redelivered_late_cause_changes_nothing(rt: bootstrap.Runtime) -> None:
    catalog, pricing = effects(rt)
    late_cause(rt)
    before = snapshot(rt.store)
    again = late_cause(rt)
    assert again.status is ReceiptStatus.DUPLICATE and again.to_signal == ()
    assert snapshot(rt.store) == before
    assert_merged(rt.store, catalog, pricing)


def snapshot(store: DocumentStore) -> dict[str, list[str]]:
    return {
        c: sorted(json.dumps(d, sort_keys=True) for d in store.query(c, "acme"))
        for c in (Container.INCIDENTS, Container.INCIDENT_ALERTS, Container.DEDUP)
    }


@pytest.mark.parametrize("where", ["before the merge", "after it was marked", "mid-move"])
def test_a_merge_a_crash_interrupted_is_finished_by_the_retry(
    rt: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    catalog, pricing = effects(rt)
    crashed: list[str] = []

    def once(real: Callable[..., Any]) -> Callable[..., Any]:
        def crash(*args: Any, **kwargs: Any) -> Any:
            if not crashed:
                if where == "mid-move":  # the first alert written to the survivor, then down
                    real(*args, **kwargs)
                crashed.append(where)
                raise StoreUnavailable("down")
            return real(*args, **kwargs)

        return crash

    if where == "before the merge":
        monkeypatch.setattr(merge, "absorb", once(merge.absorb))
    elif where == "after it was marked":
        monkeypatch.setattr(members, "move", once(members.move))
    else:
        monkeypatch.setattr(members, "_put", once(members._put))
    raw = json.dumps({"version": "4", "status": "firing", "alerts": [INV]}).encode()
    with pytest.raises(StoreUnavailable):
        rt.ingest.alertmanager("acme", AM, raw)  # answered 503: Alertmanager sends it again
    assert crashed
    receipt = rt.ingest.alertmanager("acme", AM, raw)
    assert receipt.status is ReceiptStatus.ACCEPTED
    assert_merged(rt.store, catalog, pricing)


def test_a_cause_in_the_same_delivery_as_its_effects_opens_one_incident(
    rt: bootstrap.Runtime,
) -> None:
    """Effects first by onset, their cause 15-20 s after: nothing is created to merge."""
    late = alert("inv", "HighErrorRate", "inventory", "06:50")
    receipt = send(rt, CAT, PRI, late)
    (only,) = receipt.incidents
    assert only.created
    assert held(rt.store) == {only.incident_id: {"cat", "inv", "pri"}}
    assert len(rt.store.query(Container.INCIDENTS, "acme")) == 1
    assert incident(rt.store, only.incident_id).alert_count == 3


def test_concurrent_deliveries_merge_once_and_lose_nothing(tmp_path: Path) -> None:
    """The late cause beside repeats and a new pricing alert, in threads.

    Each alert ends in one incident, the merged one holds none, and the fingerprints
    follow. (A count may be short by an alert that a racing delivery recorded in
    pricing's incident just before the merge moved it: see ``merge``.)
    """
    extra = alert("pri2", "HighErrorRate", "pricing", "06:40")
    for trial in range(6):
        home = tmp_path / str(trial)
        home.mkdir()
        rt = make_runtime(home)
        try:
            catalog, pricing = effects(rt)
            bodies = [
                (INV,),
                (PRI,),
                (extra,),
                (INV, PRI),
                (extra, CAT),
            ]
            start = threading.Barrier(len(bodies))

            def deliver(
                alerts: tuple[dict[str, Any], ...], rt: bootstrap.Runtime = rt, start: Any = start
            ) -> None:
                start.wait(timeout=5)
                send(rt, *alerts, after=30)

            threads = [threading.Thread(target=deliver, args=(b,)) for b in bodies]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            placed = held(rt.store)
            every = [fp for fps in placed.values() for fp in fps]
            assert sorted(every) == ["cat", "inv", "pri", "pri2"], placed  # each in one incident
            for incident_id, fps in placed.items():
                found = incident(rt.store, incident_id)
                assert found.merged_into is None
                assert found.alert_count <= len(fps)
            gone = incident(rt.store, pricing)
            if gone.merged_into is not None:
                assert pricing not in placed and gone.merged_into == catalog
                assert {fp_points_at(rt.store, fp) for fp in ("pri", "inv", "cat")} == {catalog}
        finally:
            rt.store.close()
