"""Admission under truly concurrent incidents, on the embedded SQLite store.

Many threads run ``remediation.begin`` for proposals of the same action and
service at the same instant (a barrier releases them together, and none
writes before all have read): only as many as the policy allows move to
executing; the others end ``failed`` with the re-check's reason, audited and
told in the thread. A Hypothesis property draws the limits and checks the
outcome with ``invariants.history_violations``. Claims end with their
executions, a dead ``begin``'s claim lapses with its lease, one tenant's
admissions never hold up another's, the fleet is read live again when the
executor can, and the claim holds on the Cosmos-protocol server too.
"""

from __future__ import annotations

import json
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from shared.adapters.executors.kubernetes import KubernetesApi, KubernetesExecutor
from shared.adapters.store import open_store
from shared.adapters.store.sqlite import SqliteStore
from shared.audit import verify
from shared.autonomy import admission, remediation
from shared.autonomy.actions import ActionRecord, ActionState, create, load, transition
from shared.autonomy.engine import Decision, Execution, Fleet, Outcome, State, may_execute
from shared.autonomy.invariants import Run, history_violations
from shared.autonomy.policies import set_policy
from shared.autonomy.policy import parse_policy
from shared.autonomy.proposals import proposal_of
from shared.clock import FixedClock
from shared.errors import PreconditionFailed
from shared.models.incident import Incident
from shared.models.tenant import Service, Tenant, Topology
from shared.ports.chat import ChatMessage, PostedMessage
from shared.ports.executor import ActionPlan, ActionRequest, ExecutionResult, Readiness
from shared.ports.store import Container, Document, DocumentStore, Filter
from shared.settings import Settings
from shared.tenants.registry import TenantRegistry
from tests.contract.executor.conftest import shop
from tests.fixtures.k8s_server import TOKEN, serve
from tests.fixtures.servers import COSMOS_KEY

T0 = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
THREADS = 16
PODS = tuple(f"checkout-{i}" for i in range(4))
ONE_AT_A_TIME = """\
actions:
  restart_pod: {tier: low, mode: active, limits: {max_concurrent: 1, per_service_per_hour: 50}}
"""
HALF_THE_FLEET = """\
limits: {max_concurrent: 50}
actions:
  restart_pod:
    tier: low
    mode: active
    limits: {max_concurrent: 50, per_service_per_hour: 50, max_fleet_share: 0.5, min_healthy: 1}
"""


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at


@dataclass
class Chat:
    lines: list[str] = field(default_factory=list)

    def post(self, message: ChatMessage, *, channel: str | None) -> PostedMessage:
        return PostedMessage(channel="C1", ts="1")

    def update(self, message: ChatMessage, *, posted: PostedMessage) -> PostedMessage:
        return posted

    def reply_in_thread(self, posted: PostedMessage, text: str, blocks: Any = ()) -> PostedMessage:
        if not blocks:
            self.lines.append(text)
        return PostedMessage(channel="C1", ts="2")

    def post_file(self, *args: Any, **kwargs: Any) -> PostedMessage:
        raise NotImplementedError


class Executor:
    """Never reached by these tests' assertions beyond ``begin``; present for the deps."""

    def plan(self, request: ActionRequest) -> ActionPlan:
        return ActionPlan(feasible=True, summary="s", expected_impact="x", undo="y")

    def execute(self, request: ActionRequest) -> ExecutionResult:
        raise NotImplementedError

    def readiness(self, request: ActionRequest, result: ExecutionResult) -> Readiness:
        raise NotImplementedError

    def undo(self, request: ActionRequest, result: ExecutionResult) -> ExecutionResult:
        raise NotImplementedError


@dataclass
class Deps:
    store: SqliteStore
    tenants: TenantRegistry
    clock: Clock
    settings: Settings
    chat: Chat = field(default_factory=Chat)
    executor: Any = field(default_factory=lambda: Executor())

    def chat_for(self, tenant: Tenant) -> Chat:
        return self.chat

    def metrics_for(self, tenant: Tenant) -> None:
        return None

    def executor_for(self, tenant: Tenant) -> Any:
        return self.executor


class RacingStore(SqliteStore):
    """The real SQLite store, with two ways to force the interleavings of a race.

    ``gate``: each thread's first write to the work container (a claim or a
    state move) waits until every thread has reached its own: all have read
    the state, nobody has written. ``after_admission``: run right after an
    admission write (another writer between ``begin``'s claim and its next step).
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate: threading.Barrier | None = None
        self.after_admission: Callable[[], None] | None = None
        self._through: set[int] = set()

    def hold_writes(self, parties: int | None) -> None:
        """Gate the first work write of each of ``parties`` threads (None: stop)."""
        self.gate = None if parties is None else threading.Barrier(parties)
        self._through = set()

    def _before_write(self, container: Container) -> None:
        me = threading.get_ident()
        if container is Container.WORK and self.gate is not None and me not in self._through:
            self._through.add(me)
            self.gate.wait(timeout=30)

    def _after_write(self, doc: Document) -> None:
        if doc.get("id") == admission.ADMISSION_ID and self.after_admission is not None:
            self.after_admission()

    def create(self, container: Container, tenant_id: str, doc: Document) -> Document:
        self._before_write(container)
        stored = super().create(container, tenant_id, doc)
        self._after_write(doc)
        return stored

    def replace(
        self, container: Container, tenant_id: str, doc: Document, *, etag: str
    ) -> Document:
        self._before_write(container)
        stored = super().replace(container, tenant_id, doc, etag=etag)
        self._after_write(doc)
        return stored


def add_tenant(
    deps: Deps, tenant_id: str, policy: str, *, instances: tuple[str, ...] = PODS
) -> None:
    deps.tenants.add(
        Tenant(
            id=tenant_id,
            tenant_id=tenant_id,
            name=tenant_id.title(),
            slack_team_id=f"T0{tenant_id.upper()}",
            topology=Topology(services=(Service(name="checkout", instances=instances),)),
        )
    )
    set_policy(deps.store, tenant_id, policy, now=T0, actor="test")
    incident = Incident(
        id="INC-1",
        tenant_id=tenant_id,
        title="checkout errors",
        services=("checkout",),
        first_seen=T0,
        last_seen=T0,
        created_at=T0,
        updated_at=T0,
    )
    deps.store.create(Container.INCIDENTS, tenant_id, incident.to_doc())
    posted = {"channel": "C1", "ts": "100.1"}
    deps.store.create(Container.MESSAGES, tenant_id, {"id": "incident:INC-1", "posted": posted})


@pytest.fixture
def deps(tmp_path: Path) -> Iterator[Deps]:
    settings = Settings(home=tmp_path / "home", echo_messages=False)
    store = RacingStore(settings.sqlite_path)
    made = Deps(store=store, tenants=TenantRegistry(store), clock=Clock(), settings=settings)
    add_tenant(made, "acme", ONE_AT_A_TIME)
    yield made
    store.close()


def proposals(
    deps: Deps,
    tenant_id: str,
    n: int,
    *,
    prefix: str = "rem",
    action: str = "restart_pod",
    namespace: str = "prod",
) -> list[str]:
    """``n`` low-risk runs on checkout (its pods in turn), each its own proposal, ready to run."""
    ids = []
    for i in range(n):
        record = ActionRecord(
            id=f"{prefix}-{i:02d}",
            tenant_id=tenant_id,
            incident_id="INC-1",
            action=action,
            service="checkout",
            target=f"{namespace}/{PODS[i % len(PODS)]}",
            tier="low",
            mode="active",
            runbook_id="rb",
            category="bad_deployment",
            confidence=0.8,
            proposed_at=deps.clock.now(),
            updated_at=deps.clock.now(),
        )
        assert create(deps.store, record)
        ids.append(record.id)
    return ids


def begin_together(deps: Deps, jobs: list[tuple[str, str]]) -> dict[str, bool]:
    """``begin`` for every (tenant, proposal) in its own thread, released at once, and
    none writing until all have read (``RacingStore.gate``)."""
    barrier = threading.Barrier(len(jobs))
    store = deps.store
    assert isinstance(store, RacingStore)
    store.hold_writes(len(jobs))
    went: dict[str, bool] = {}
    errors: list[BaseException] = []

    def run(tenant_id: str, proposal_id: str) -> None:
        barrier.wait()
        try:
            went[f"{tenant_id}/{proposal_id}"] = remediation.begin(deps, tenant_id, proposal_id)[
                "go"
            ]
        except Exception as exc:  # noqa: BLE001 - surfaced below, with the thread's result
            errors.append(exc)

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    store.hold_writes(None)
    assert not errors, errors
    assert len(went) == len(jobs)
    return went


def state(deps: Deps, tenant_id: str, proposal_id: str) -> ActionRecord:
    record = load(deps.store, tenant_id, proposal_id)
    assert record is not None
    return record


def running_claims(deps: Deps, tenant_id: str) -> set[str]:
    return {c.proposal_id for c in admission.claims(deps.store, tenant_id) if c.running}


# --- at the same instant --------------------------------------------------------------


def test_sixteen_at_once_only_one_runs_the_rest_are_refused_with_the_reason(deps: Deps) -> None:
    ids = proposals(deps, "acme", THREADS)
    went = begin_together(deps, [("acme", i) for i in ids])

    ran = [i for i in ids if went[f"acme/{i}"]]
    assert len(ran) == 1
    assert running_claims(deps, "acme") == set(ran)
    for i in ids:
        record = state(deps, "acme", i)
        if i in ran:
            assert record.state is ActionState.EXECUTING
            continue
        assert record.state is ActionState.FAILED
        assert any("already running (limit 1 at once)" in r for r in record.reasons), record.reasons
        assert record.why.startswith("refused right before running")
    refusals = deps.store.query(
        Container.AUDIT, "acme", [Filter("action", "=", "remediation.refused")]
    )
    assert len(refusals) == THREADS - 1
    assert len(deps.chat.lines) == THREADS - 1  # each refusal told in the incident's thread
    assert verify(deps.store, "acme").ok


FLOOR_OF_THREE = HALF_THE_FLEET.replace("max_fleet_share: 0.5, min_healthy: 1", "min_healthy: 3")
TENANT_OF_THREE = """\
limits: {max_concurrent: 3}
actions:
  clear_cache: {tier: low, mode: active, limits: {max_concurrent: 50, per_service_per_hour: 50}}
"""
TWO_AN_HOUR = """\
limits: {max_concurrent: 50}
actions:
  clear_cache: {tier: low, mode: active, limits: {max_concurrent: 50, per_service_per_hour: 2}}
"""


@pytest.mark.parametrize(
    ("policy", "action", "allowed", "why"),
    [
        (HALF_THE_FLEET, "restart_pod", 2, "of 4 of checkout out at once"),
        (FLOOR_OF_THREE, "restart_pod", 1, "(floor 3)"),
        (TENANT_OF_THREE, "clear_cache", 3, "actions already running in the tenant (limit 3"),
        (TWO_AN_HOUR, "clear_cache", 2, "in the last hour (limit 2)"),
    ],
    ids=["fleet-share", "healthy-floor", "tenant-concurrency", "per-hour"],
)
def test_each_limit_admits_exactly_what_it_allows(
    deps: Deps, policy: str, action: str, allowed: int, why: str
) -> None:
    set_policy(deps.store, "acme", policy, now=T0, actor="test")
    ids = proposals(deps, "acme", THREADS, action=action)
    went = begin_together(deps, [("acme", i) for i in ids])

    ran = [i for i in ids if went[f"acme/{i}"]]
    assert len(ran) == allowed
    assert all(state(deps, "acme", i).state is ActionState.EXECUTING for i in ran)
    refused = [state(deps, "acme", i) for i in ids if i not in ran]
    assert all(r.state is ActionState.FAILED for r in refused)
    assert all(any(why in line for line in r.reasons) for r in refused), refused[0].reasons


def test_tenants_do_not_block_each_other(deps: Deps) -> None:
    add_tenant(deps, "globex", ONE_AT_A_TIME)
    jobs = [("acme", i) for i in proposals(deps, "acme", THREADS // 2)]
    jobs += [("globex", i) for i in proposals(deps, "globex", THREADS // 2)]
    went = begin_together(deps, jobs)

    for tenant_id in ("acme", "globex"):
        ran = [k for k, ok in went.items() if ok and k.startswith(f"{tenant_id}/")]
        assert len(ran) == 1, (tenant_id, ran)
        assert len(running_claims(deps, tenant_id)) == 1


@st.composite
def races(draw: st.DrawFn) -> tuple[str, int, list[str]]:
    """A policy with random limits, a fleet size, and the actions that begin at once."""
    limits = {
        "max_concurrent": draw(st.integers(1, 4)),
        "per_service_per_hour": draw(st.integers(1, 6)),
        "max_fleet_share": draw(st.sampled_from((0.25, 0.5, 0.75, 1.0))),
        "min_healthy": draw(st.integers(0, 3)),
    }
    text = (
        f"limits: {{max_concurrent: {draw(st.integers(1, 5))}}}\n"
        "actions:\n"
        f"  restart_pod: {{tier: low, mode: active, limits: {json.dumps(limits)}}}\n"
        "  clear_cache: {tier: low, mode: active, limits: "
        f"{{max_concurrent: {draw(st.integers(1, 4))}, per_service_per_hour: 6}}}}\n"
    )
    started = draw(
        st.lists(st.sampled_from(("restart_pod", "clear_cache")), min_size=2, max_size=8)
    )
    return text, draw(st.integers(2, 6)), started


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(races())
def test_whatever_the_limits_concurrent_runs_keep_them_and_refuse_only_with_cause(
    race: tuple[str, int, list[str]],
) -> None:
    """Safety: the runs admitted together break no limit (``invariants.history_violations``,
    written apart from the engine). No over-refusal: each refused run would be refused
    with every admitted one running, as taking turns implies."""
    text, size, started = race
    with tempfile.TemporaryDirectory() as home:
        settings_ = Settings(home=Path(home), echo_messages=False)
        store = RacingStore(settings_.sqlite_path)
        deps = Deps(store=store, tenants=TenantRegistry(store), clock=Clock(), settings=settings_)
        try:
            pods = tuple(f"checkout-{i}" for i in range(size))
            add_tenant(deps, "acme", text, instances=pods)
            ids = [
                proposals(deps, "acme", 1, prefix=f"rem-{n}", action=action)[0]
                for n, action in enumerate(started)
            ]
            went = begin_together(deps, [("acme", i) for i in ids])
            records = {i: state(deps, "acme", i) for i in ids}
        finally:
            store.close()

    policy = parse_policy(text)
    fleet = State(fleets={"checkout": Fleet(size=size, healthy=size)})
    ran = [records[i] for i in ids if went[f"acme/{i}"]]
    runs = [Run(r.action, r.service, T0, T0 + timedelta(minutes=5), r.out_of_service) for r in ran]
    assert history_violations(policy, fleet, runs) == []
    all_running = fleet.model_copy(
        update={
            "executions": tuple(
                Execution(
                    action=r.action,
                    service=r.service,
                    started_at=T0,
                    out_of_service=r.out_of_service,
                )
                for r in ran
            )
        }
    )
    for i in ids:
        if not went[f"acme/{i}"]:
            assert records[i].state is ActionState.FAILED
            assert not may_execute(policy, proposal_of(records[i]), all_running, T0).executes


# --- the life of a claim --------------------------------------------------------------


def test_a_released_claim_admits_the_next(deps: Deps) -> None:
    first, second, third = proposals(deps, "acme", 3)
    assert remediation.begin(deps, "acme", first) == {"go": True}
    assert remediation.begin(deps, "acme", second) == {"go": False}
    assert state(deps, "acme", second).state is ActionState.FAILED

    deps.clock.at = T0 + timedelta(minutes=3)
    remediation.finish(deps, "acme", first, "verified", "healthy")
    remediation.finish(deps, "acme", first, "verified", "healthy")  # a retried activity
    assert running_claims(deps, "acme") == set()
    # A retried begin of the refused one stays refused, though the limit now has room.
    assert remediation.begin(deps, "acme", second) == {"go": False}
    assert state(deps, "acme", second).state is ActionState.FAILED
    assert remediation.begin(deps, "acme", third) == {"go": True}
    assert running_claims(deps, "acme") == {third}
    finished = [c for c in admission.claims(deps.store, "acme") if not c.running]
    assert [c.proposal_id for c in finished] == [first]  # still counts for the hour


def test_a_dead_begins_claim_lapses_with_its_lease(deps: Deps) -> None:
    dead, waiting, later = proposals(deps, "acme", 3)
    record = state(deps, "acme", dead)
    admitted = admission.admit(deps.store, record, 1, lambda _: allow(record), T0)
    assert admitted.admitted and running_claims(deps, "acme") == {dead}
    # The begin that claimed it died before moving its record: within the lease it counts.
    assert remediation.begin(deps, "acme", waiting) == {"go": False}
    assert any("already running" in r for r in state(deps, "acme", waiting).reasons)

    deps.clock.at = T0 + admission.LEASE + timedelta(seconds=1)
    assert remediation.begin(deps, "acme", later) == {"go": True}
    assert running_claims(deps, "acme") == {later}


def test_a_retried_begin_keeps_its_own_claim(deps: Deps) -> None:
    retried, other = proposals(deps, "acme", 2)
    record = state(deps, "acme", retried)
    admission.admit(deps.store, record, 1, lambda _: allow(record), T0)
    # The first attempt claimed and died; the retry is judged without counting itself.
    assert remediation.begin(deps, "acme", retried) == {"go": True}
    assert state(deps, "acme", retried).state is ActionState.EXECUTING
    assert [c.proposal_id for c in admission.claims(deps.store, "acme")] == [retried]
    assert remediation.begin(deps, "acme", other) == {"go": False}


def test_a_duplicate_begin_that_lost_the_move_goes_on(
    deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    (proposal,) = proposals(deps, "acme", 1)
    before = state(deps, "acme", proposal)
    assert remediation.begin(deps, "acme", proposal) == {"go": True}
    # A second run of the same activity read the record before the first moved it.
    monkeypatch.setattr(remediation, "_record", lambda *_: before)
    assert remediation.begin(deps, "acme", proposal) == {"go": True}
    assert state(deps, "acme", proposal).state is ActionState.EXECUTING
    assert running_claims(deps, "acme") == {proposal}  # its claim is kept, not given back


def test_a_begin_given_up_ends_failed_and_gives_its_claim_back(deps: Deps) -> None:
    gave_up, other = proposals(deps, "acme", 2)
    record = state(deps, "acme", gave_up)
    admission.admit(deps.store, record, 1, lambda _: allow(record), T0)
    # Its begin claimed and then kept failing; the orchestration ends it.
    remediation.finish(deps, "acme", gave_up, "failed", "could not begin: store down")
    ended = state(deps, "acme", gave_up)
    assert ended.state is ActionState.FAILED and ended.why == "could not begin: store down"
    assert admission.claims(deps.store, "acme") == ()  # it never ran: nothing to count
    assert remediation.begin(deps, "acme", other) == {"go": True}


def test_a_claim_ends_when_its_record_ended_without_a_release(deps: Deps) -> None:
    crashed, next_one = proposals(deps, "acme", 2)
    assert remediation.begin(deps, "acme", crashed) == {"go": True}
    # finish moved the record and died before releasing the claim.
    transition(
        deps.store,
        "acme",
        crashed,
        ActionState.VERIFIED,
        now=T0,
        reason="healthy",
        changes={"finished_at": "2026-03-04T14:01:00.000000Z"},
    )
    assert running_claims(deps, "acme") == {crashed}
    assert remediation.begin(deps, "acme", next_one) == {"go": True}
    ended = {c.proposal_id: c.running for c in admission.claims(deps.store, "acme")}
    assert ended == {crashed: False, next_one: True}


def test_a_record_that_lost_the_race_after_its_claim_gives_the_claim_back(
    deps: Deps,
) -> None:
    (lost,) = proposals(deps, "acme", 1)
    store = deps.store
    assert isinstance(store, RacingStore)

    def stopped() -> None:
        store.after_admission = None
        transition(store, "acme", lost, ActionState.FAILED, now=T0, reason="moved elsewhere")

    store.after_admission = stopped
    assert remediation.begin(deps, "acme", lost) == {"go": False}
    assert state(deps, "acme", lost).state is ActionState.FAILED
    assert admission.claims(deps.store, "acme") == ()


def test_endless_conflicts_stay_a_retryable_error(deps: Deps) -> None:
    first, contended = proposals(deps, "acme", 2)
    assert remediation.begin(deps, "acme", first) == {"go": True}
    record = state(deps, "acme", contended)
    store = deps.store

    def judge(executions: tuple[Execution, ...]) -> Decision:
        # Another admission writes between every read and write of this one.
        doc = store.get(Container.WORK, "acme", admission.ADMISSION_ID)
        assert doc is not None
        etag = doc.pop("_etag")
        store.replace(Container.WORK, "acme", doc, etag=etag)
        return allow(record)

    with pytest.raises(PreconditionFailed):
        admission.admit(store, record, 1, judge, T0)
    assert running_claims(deps, "acme") == {first}


def test_records_that_ran_before_admission_still_count(deps: Deps) -> None:
    legacy, new = proposals(deps, "acme", 2)
    transition(
        deps.store,
        "acme",
        legacy,
        ActionState.EXECUTING,
        now=T0,
        reason="ran before admission existed",
        changes={"executed_at": "2026-03-04T13:59:00.000000Z", "out_of_service": 1},
    )
    assert admission.claims(deps.store, "acme") == ()
    assert remediation.begin(deps, "acme", new) == {"go": False}
    assert any("already running" in r for r in state(deps, "acme", new).reasons)


def allow(record: ActionRecord) -> Decision:
    """A passing verdict (the test plays a ``begin`` that got this far)."""
    proposal = proposal_of(record)
    return Decision(outcome=Outcome.EXECUTE_NOW, reasons=("ok",), action=proposal.action)


def test_the_fleet_is_read_again_from_the_cluster_right_before_running(deps: Deps) -> None:
    set_policy(deps.store, "acme", HALF_THE_FLEET, now=T0, actor="test")
    before, after = proposals(deps, "acme", 2, namespace="shop")
    cluster = shop()  # shop/checkout: 3 replicas, all ready
    with serve(cluster) as url:
        api = KubernetesApi(url, TOKEN, timeout_seconds=5)
        deps.executor = KubernetesExecutor(api, deps.store, FixedClock(T0))
        try:
            assert remediation.begin(deps, "acme", before) == {"go": True}
            remediation.finish(deps, "acme", before, "verified", "healthy")
            cluster.degrade("shop", "checkout", ready=1)  # since it was proposed
            assert remediation.begin(deps, "acme", after) == {"go": False}
        finally:
            api.close()

    refused = state(deps, "acme", after)
    assert refused.state is ActionState.FAILED
    assert "would leave 0 healthy of 3 in checkout (floor 1)" in refused.reasons
    assert any("read from the cluster" in r and "1 ready" in r for r in refused.reasons)


# --- on both store adapters -----------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("cosmos", marks=pytest.mark.cosmos)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "sqlite":
        settings = Settings(store="sqlite", home=tmp_path / "home")
    else:
        settings = Settings(
            store="cosmos",
            cosmos_endpoint=request.getfixturevalue("cosmos_server"),
            cosmos_key=SecretStr(COSMOS_KEY),
            cosmos_database=f"admission-{uuid.uuid4().hex[:12]}",
            cosmos_verify_tls=False,
            cosmos_create_if_missing=True,
        )
    opened = open_store(settings)
    yield opened
    opened.close()


def test_admission_holds_on_every_store_adapter(any_store: DocumentStore) -> None:
    """The claim is the store's conditional create/replace, so the limit holds on Cosmos too."""
    policy = parse_policy(HALF_THE_FLEET)
    fleets = {"checkout": Fleet(size=len(PODS), healthy=len(PODS))}
    records = []
    for i in range(8):
        record = ActionRecord(
            id=f"rem-{i}",
            tenant_id="acme",
            incident_id="INC-1",
            action="restart_pod",
            service="checkout",
            target=f"prod/{PODS[i % len(PODS)]}",
            tier="low",
            mode="active",
            runbook_id="rb",
            category="bad_deployment",
            confidence=0.8,
            proposed_at=T0,
            updated_at=T0,
        )
        assert create(any_store, record)
        records.append(record)

    def admit(record: ActionRecord) -> bool:
        def judge(executions: tuple[Execution, ...]) -> Decision:
            state = State(executions=executions, fleets=fleets)
            return may_execute(policy, proposal_of(record), state, T0)

        return admission.admit(any_store, record, 1, judge, T0).admitted

    with ThreadPoolExecutor(max_workers=len(records)) as pool:
        admitted = [r.id for r, ok in zip(records, pool.map(admit, records), strict=True) if ok]

    assert len(admitted) == 2  # half of a fleet of 4
    assert {c.proposal_id for c in admission.claims(any_store, "acme")} == set(admitted)
