""" "Used <runbook>" on the incident message: the buttons, the click, the thread line.

The runbook used is earned trust's second signal (``shared.autonomy.trust``);
here: the message offers it within Slack's limits, and a click records it
once per incident, runbook and user, only for a runbook the analysis listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.incidents import stored_analysis
from shared.incidents.message import timeline_note
from shared.models.analysis import IncidentAnalysis
from shared.models.incident import Incident, IncidentStatus
from shared.models.tenant import Tenant
from shared.notify.actions import ActionKind, ActionValue, decode_value, encode_value
from shared.notify.incident_message import render_incident
from shared.notify.interactions import FEEDBACK_EVENT, RUNBOOK_USED, OutcomeKind, handle_action
from shared.notify.slack_requests import InteractionAction, parse_interaction
from shared.ports.store import Container
from shared.tenants.registry import TenantRegistry
from tests.unit.notify.test_incident_message import BUNDLES, check_limits, incident_and_analysis

T0 = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)
INC = "INC-260304-A1B2C3"
LISTED = ("rb-restart", "rb-rollback")


def runbook_buttons(blocks: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [
        element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"].startswith(ActionKind.RUNBOOK_USED.value)
    ]


# --- the message ---------------------------------------------------------------------------


@pytest.mark.parametrize("folder", BUNDLES, ids=lambda p: p.name)
def test_each_listed_runbook_gets_a_used_button_and_the_message_still_fits(folder: Path) -> None:
    incident, snapshot, stored = incident_and_analysis(folder)
    message = render_incident(incident, snapshot=snapshot, analysis=stored)
    check_limits(message.blocks, message.text)
    listed = [str(rb["id"]) for rb in stored["runbooks"][:3]]
    buttons = runbook_buttons(message.blocks)
    assert [decode_value(b["value"]).target for b in buttons] == listed
    assert all(decode_value(b["value"]).incident_id == incident.id for b in buttons)
    assert len({b["action_id"] for b in buttons}) == len(buttons)  # unique within the block


def test_a_resolved_incident_offers_no_used_button() -> None:
    incident, snapshot, stored = incident_and_analysis(BUNDLES[0])
    assert stored["runbooks"], "the first sample bundle lists runbooks"
    resolved = incident.model_copy(update={"status": IncidentStatus.RESOLVED})
    message = render_incident(resolved, snapshot=snapshot, analysis=stored)
    assert runbook_buttons(message.blocks) == []


def test_a_runbook_id_too_long_for_a_button_value_gets_no_button_not_a_clipped_one() -> None:
    incident, snapshot, stored = incident_and_analysis(BUNDLES[0])
    huge = {"id": "rb-" + "x" * 2100, "title": "Huge", "score": 0.5}
    fine = {"id": "rb-fine", "title": "Fine", "score": 0.4}
    message = render_incident(
        incident, snapshot=snapshot, analysis={**stored, "runbooks": [huge, fine]}
    )
    check_limits(message.blocks, message.text)
    targets = [decode_value(b["value"]).target for b in runbook_buttons(message.blocks)]
    assert targets == ["rb-fine"]


# --- the click -----------------------------------------------------------------------------


@dataclass
class Deps:
    store: SqliteStore
    tenants: TenantRegistry
    clock: FixedClock


@pytest.fixture
def deps(tmp_path: Path) -> Iterator[Deps]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    tenants = TenantRegistry(store, cache_seconds=0)
    for tenant_id, team in (("acme", "T0ACME"), ("globex", "T0GLOBEX")):
        tenants.add(
            Tenant(id=tenant_id, tenant_id=tenant_id, name=tenant_id.title(), slack_team_id=team)
        )
        incident = Incident(
            id=INC,
            tenant_id=tenant_id,
            title="Checkout errors",
            services=("checkout",),
            first_seen=T0,
            last_seen=T0,
            created_at=T0,
            updated_at=T0,
        )
        store.upsert(Container.INCIDENTS, tenant_id, incident.to_doc())
        runbooks = tuple({"id": rb, "title": rb, "score": 0.8} for rb in LISTED)
        stored_analysis.save(store, tenant_id, IncidentAnalysis(incident_id=INC, runbooks=runbooks))
    yield Deps(store, tenants, FixedClock(T0))
    store.close()


def used(
    runbook: str | None, *, user: str = "U0ALICE", team: str = "T0ACME", tenant: str = "acme"
) -> InteractionAction:
    """The click as Slack sends it, read back by the real parser."""
    value = encode_value(ActionValue(incident_id=INC, tenant_id=tenant, target=runbook))
    payload = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": user, "username": user.lower()},
        "channel": {"id": "C0INC"},
        "container": {"message_ts": "1.2"},
        "response_url": "https://hooks.slack.com/actions/1",
        "actions": [{"action_id": f"{ActionKind.RUNBOOK_USED.value}:1", "value": value}],
    }
    action = parse_interaction(urlencode({"payload": json.dumps(payload)}).encode())
    assert action is not None
    return action


def audits(deps: Deps, tenant: str = "acme") -> list[dict[str, Any]]:
    return [d for d in deps.store.query(Container.AUDIT, tenant) if d["action"] == RUNBOOK_USED]


def test_a_click_records_the_runbook_once_and_notes_it_in_the_thread(deps: Deps) -> None:
    first = handle_action(deps, used("rb-restart"))
    again = handle_action(deps, used("rb-restart"))

    assert first.kind is OutcomeKind.RUNBOOK_USED and "rb-restart" in first.text
    assert again.kind is OutcomeKind.DUPLICATE and again.event is None
    (record,) = audits(deps)
    assert (record["actor"], record["subject"]) == ("slack:U0ALICE", f"incident:{INC}")
    assert record["detail"]["runbook_id"] == "rb-restart"
    assert first.event is not None and first.event.name == FEEDBACK_EVENT
    incident = Incident.from_doc(deps.store.get(Container.INCIDENTS, "acme", INC) or {})
    assert timeline_note(FEEDBACK_EVENT, first.event.payload, incident) == "u0alice used rb-restart"


def test_another_runbook_or_another_user_is_recorded_on_its_own(deps: Deps) -> None:
    handle_action(deps, used("rb-restart"))
    handle_action(deps, used("rb-rollback"))
    handle_action(deps, used("rb-restart", user="U0BOB"))
    got = sorted((r["actor"], r["detail"]["runbook_id"]) for r in audits(deps))
    assert got == [
        ("slack:U0ALICE", "rb-restart"),
        ("slack:U0ALICE", "rb-rollback"),
        ("slack:U0BOB", "rb-restart"),
    ]


@pytest.mark.parametrize("runbook", ["rb-made-up", "RB-RESTART", "", None])
def test_a_runbook_the_analysis_did_not_list_is_refused_and_nothing_recorded(
    deps: Deps, runbook: str | None
) -> None:
    outcome = handle_action(deps, used(runbook))
    assert outcome.kind is OutcomeKind.STALE and "nothing was recorded" in outcome.text
    assert outcome.event is None
    assert audits(deps) == [] and deps.store.query(Container.DEDUP, "acme") == []


def test_a_click_on_another_tenants_message_is_refused(deps: Deps) -> None:
    outcome = handle_action(deps, used("rb-restart", team="T0ACME", tenant="globex"))
    assert outcome.kind is OutcomeKind.NOT_AUTHORISED and outcome.event is None
    assert audits(deps, "acme") == [] and audits(deps, "globex") == []


def test_a_disabled_tenant_records_nothing(deps: Deps) -> None:
    tenant = deps.tenants.get("acme")
    deps.tenants.add(tenant.model_copy(update={"disabled_at": T0}), replace=True)
    outcome = handle_action(deps, used("rb-restart"))
    assert outcome.kind is OutcomeKind.UNKNOWN_TENANT
    assert audits(deps) == []
