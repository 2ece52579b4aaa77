"""Earned trust: shadow mode's agreement with responders, readiness, and promotion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.audit import append, verify
from shared.autonomy import trust
from shared.autonomy.actions import ActionRecord, ActionState, create
from shared.autonomy.policies import load_policy, set_policy, with_mode
from shared.autonomy.policy import Mode, parse_policy
from shared.models.audit import AuditRecord
from shared.ports.store import Container, DocumentStore
from shared.settings import load_settings
from tests.fixtures.cli import run

T0 = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
POLICY = """\
approvers: [U-ADMIN]
actions:
  restart_pod:         {tier: low}          # shadow by default
  scale_replicas:      {tier: medium, mode: active}
  rollback_deployment: {tier: high, approvers: [U-LEAD]}
"""
HYPOTHESIS = ("bad_deployment", "checkout")


def shadowed(
    tenant: str, incident: str, *, action: str = "restart_pod", hypothesis: tuple[str, str]
) -> ActionRecord:
    category, target = hypothesis
    return ActionRecord(
        id=f"rem-{tenant}-{incident}-{action}",
        tenantId=tenant,
        incident_id=incident,
        action=action,
        service=target,
        target=f"default/{target}",
        tier="low",
        mode="shadow",
        state=ActionState.SHADOWED,
        runbook_id="rb-1",
        category=category,
        hypothesis_target=target,
        confidence=0.8,
        proposed_at=T0,
        updated_at=T0,
    )


def resolve(
    store: DocumentStore, tenant: str, incident: str, hypothesis: tuple[str, str] | None
) -> None:
    """What ``lifecycle.apply_action`` leaves: a resolved incident and its audit record."""
    store.upsert(
        Container.INCIDENTS, tenant, {"id": incident, "tenantId": tenant, "status": "resolved"}
    )
    detail = {"category": hypothesis[0], "target": hypothesis[1], "rank": 1} if hypothesis else {}
    append(
        store,
        tenant,
        AuditRecord(
            id=f"audit-{incident}",
            tenantId=tenant,
            at=T0,
            actor="U-ONCALL",
            action="incident.resolve",
            subject=incident,
            detail=detail,
        ),
    )


def seed(store: DocumentStore, tenant: str, *, agree: int, disagree: int, open_: int = 0) -> None:
    for n in range(agree + disagree + open_):
        incident = f"inc-{n}"
        create(store, shadowed(tenant, incident, hypothesis=HYPOTHESIS))
        if n < agree:
            resolve(store, tenant, incident, HYPOTHESIS)
        elif n < agree + disagree:
            resolve(store, tenant, incident, ("capacity", "checkout"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    set_policy(opened, "acme", POLICY, now=T0, actor="test")
    yield opened
    opened.close()


def row(store: DocumentStore, action: str = "restart_pod") -> trust.Agreement:
    return next(a for a in trust.status(store, "acme") if a.action == action)


# --- agreement ---------------------------------------------------------------------------


def test_agreement_counts_agree_and_disagree_and_ignores_the_unresolved(
    store: SqliteStore,
) -> None:
    seed(store, "acme", agree=3, disagree=1, open_=2)
    create(store, shadowed("acme", "inc-9", hypothesis=HYPOTHESIS))
    resolve(store, "acme", "inc-9", None)  # resolved without naming a hypothesis
    got = row(store)
    assert (got.shadowed, got.judged, got.agreed) == (7, 4, 3)
    assert got.share == 0.75
    assert got.row()["agreement"] == 0.75


def test_another_target_of_the_same_category_disagrees(store: SqliteStore) -> None:
    create(store, shadowed("acme", "inc-1", hypothesis=HYPOTHESIS))
    resolve(store, "acme", "inc-1", ("bad_deployment", "payments"))
    assert (row(store).judged, row(store).agreed) == (1, 0)


def test_other_tenants_are_ignored(store: SqliteStore) -> None:
    seed(store, "acme", agree=1, disagree=0)
    seed(store, "globex", agree=5, disagree=5)
    resolve(store, "globex", "inc-0", ("capacity", "checkout"))  # same id, other tenant
    got = row(store)
    assert (got.shadowed, got.judged, got.agreed) == (1, 1, 1)


def test_one_incident_counts_once_per_action_its_latest_proposal_judged() -> None:
    older = shadowed("acme", "inc-1", hypothesis=("capacity", "checkout"))
    newer = shadowed("acme", "inc-1", hypothesis=HYPOTHESIS).model_copy(
        update={"id": "rem-2", "proposed_at": T0 + timedelta(minutes=5)}
    )
    found = trust.tally(
        [newer, older], {"inc-1": trust.Resolution("inc-1", "bad_deployment", "Checkout")}
    )
    assert found == {"restart_pod": (2, 1, 1)}


# --- readiness -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agree", "disagree", "ready", "why"),
    [
        (9, 0, False, "9 of 10 judged incidents needed"),
        (9, 1, True, "ready for promotion to low"),
        (8, 2, False, "agreement 80% below 90%"),
        (18, 2, True, "ready for promotion to low"),
    ],
)
def test_readiness_needs_enough_judged_incidents_and_agreement(
    agree: int, disagree: int, ready: bool, why: str
) -> None:
    records = [shadowed("acme", f"i{n}", hypothesis=HYPOTHESIS) for n in range(agree + disagree)]
    resolutions = {
        f"i{n}": trust.Resolution(f"i{n}", *(HYPOTHESIS if n < agree else ("capacity", "x")))
        for n in range(agree + disagree)
    }
    got = trust.assess(parse_policy(POLICY), records, resolutions)
    first = got[0]
    assert (first.action, first.ready, first.why) == ("restart_pod", ready, why)
    assert {a.action: a.why for a in got}["scale_replicas"] == "active already"


def test_thresholds_are_parameters() -> None:
    records = [shadowed("acme", "i1", hypothesis=HYPOTHESIS)]
    resolutions = {"i1": trust.Resolution("i1", *HYPOTHESIS)}
    got = trust.assess(parse_policy(POLICY), records, resolutions, min_judged=1, threshold=1.0)
    assert got[0].ready


# --- promotion -----------------------------------------------------------------------------


def test_promote_is_refused_when_not_ready(store: SqliteStore) -> None:
    seed(store, "acme", agree=5, disagree=0)
    done = trust.promote(store, "acme", "restart_pod", by="U-ADMIN", now=T0)
    assert done.outcome is trust.Outcome.NOT_READY and done.refused
    assert "5 of 10 judged incidents needed" in done.message
    stored = load_policy(store, "acme")
    assert stored is not None and stored.policy.actions["restart_pod"].mode is Mode.SHADOW


def test_promote_is_refused_to_someone_not_an_approver(store: SqliteStore) -> None:
    seed(store, "acme", agree=10, disagree=0)
    done = trust.promote(store, "acme", "restart_pod", by="U-RANDOM", now=T0, force=True)
    assert done.outcome is trust.Outcome.NOT_APPROVER
    assert "U-RANDOM may not promote restart_pod" in done.message
    # an action's own approvers and the tenant-level ones both may
    assert trust.approvers(parse_policy(POLICY), "rollback_deployment") == ("U-LEAD", "U-ADMIN")


def test_promote_sets_active_and_is_audited_in_an_intact_chain(store: SqliteStore) -> None:
    seed(store, "acme", agree=10, disagree=1)
    done = trust.promote(store, "acme", "restart_pod", by="U-ADMIN", now=T0)
    assert done.outcome is trust.Outcome.PROMOTED, done.message
    stored = load_policy(store, "acme")
    assert stored is not None
    assert stored.policy.actions["restart_pod"].mode is Mode.ACTIVE
    assert stored.policy.actions["rollback_deployment"].approvers == ("U-LEAD",)
    assert stored.source.startswith("# restart_pod promoted to active by U-ADMIN\n")
    records = store.query(Container.AUDIT, "acme")
    promoted = [r for r in records if r["action"] == "autonomy.promote"]
    assert len(promoted) == 1 and promoted[0]["detail"]["forced"] is False
    assert promoted[0]["detail"]["agreement"]["judged"] == 11
    changes = [r for r in records if r["action"] == "policy.set"]
    assert changes[-1]["actor"] == "U-ADMIN" and changes[-1]["detail"]["why"]["promoted"]
    assert verify(store, "acme").ok
    assert row(store).why == "active already"
    again = trust.promote(store, "acme", "restart_pod", by="U-ADMIN", now=T0)
    assert again.outcome is trust.Outcome.UNCHANGED and not again.refused


def test_force_promotes_and_is_audited_as_forced(store: SqliteStore) -> None:
    done = trust.promote(store, "acme", "rollback_deployment", by="U-LEAD", now=T0, force=True)
    assert done.outcome is trust.Outcome.PROMOTED and "forced" in done.message
    promoted = [
        r for r in store.query(Container.AUDIT, "acme") if r["action"] == "autonomy.promote"
    ]
    assert promoted[0]["detail"]["forced"] is True
    assert verify(store, "acme").ok


# --- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def home(cli_home: Path) -> Path:
    """A CLI home with tenant acme, its policy, and ten agreeing shadowed incidents."""
    assert run("tenants", "add", "acme")[0] == 0
    rt = bootstrap.build(load_settings())
    try:
        set_policy(rt.store, "acme", POLICY, now=T0, actor="test")
        seed(rt.store, "acme", agree=10, disagree=0, open_=1)
    finally:
        rt.close()
    return cli_home


def test_cli_status_then_promote(home: Path) -> None:
    code, out = run("autonomy", "status", "--tenant", "acme")
    assert code == 0, out
    assert "restart_pod" in out and "ready for promotion to low" in out
    code, out = run("autonomy", "status", "--tenant", "acme", "--json")
    shown = {r["action"]: r for r in json.loads(out)}
    assert shown["restart_pod"] == {
        "action": "restart_pod",
        "mode": "shadow",
        "tier": "low",
        "shadowed": 11,
        "judged": 10,
        "agreed": 10,
        "agreed_by": {"hypothesis": 10, "runbook": 0},
        "agreement": 1.0,
        "ready": True,
        "why": "ready for promotion to low",
    }
    code, out = run("autonomy", "promote", "--tenant", "acme", "restart_pod", "--by", "U-X")
    assert code == 2 and "U-X may not promote restart_pod" in out
    code, out = run("autonomy", "promote", "--tenant", "acme", "clear_cache", "--by", "U-ADMIN")
    assert code == 2 and "clear_cache: not in acme's policy" in out
    code, out = run(
        "autonomy", "promote", "--tenant", "acme", "rollback_deployment", "--by", "U-LEAD"
    )
    assert code == 2 and "not ready for promotion: 0 of 10" in out
    code, out = run("autonomy", "promote", "--tenant", "acme", "restart_pod", "--by", "U-ADMIN")
    assert code == 0 and "restart_pod promoted to active at low risk" in out
    code, out = run("policy", "show", "--tenant", "acme", "--json")
    assert json.loads(out)["policy"]["actions"]["restart_pod"]["mode"] == "active"
    code, out = run("audit", "verify", "--tenant", "acme")
    assert code == 0, out


def test_cli_unknown_tenant_exits_2(home: Path) -> None:
    code, out = run("autonomy", "status", "--tenant", "nobody")
    assert code == 2 and "unknown tenant 'nobody'" in out


def test_with_mode_changes_only_the_mode_of_a_full_policy() -> None:
    source = """\
timezone: Europe/Paris
approvers: [U-LEAD]
business_hours: {days: [mon, tue], start: "09:00", end: "18:00"}
freezes:
  - {start: 2025-12-20T00:00:00Z, end: 2026-01-05T00:00:00Z, reason: year end}
actions:
  restart_pod: {tier: low}
  scale_replicas: {tier: medium, preconditions: {categories: [capacity], hours: business}}
"""
    before = parse_policy(source)
    after = parse_policy(with_mode(source, "restart_pod", Mode.ACTIVE, note="promoted"))
    expected = before.actions["restart_pod"].model_copy(update={"mode": Mode.ACTIVE})
    assert after == before.model_copy(
        update={"actions": {**before.actions, "restart_pod": expected}}
    )
