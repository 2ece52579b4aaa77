"""Clicks and ``/sre`` commands over the embedded store: who may act, what is kept."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.incidents import stored_analysis
from shared.models.analysis import IncidentAnalysis
from shared.models.incident import Incident, IncidentStatus
from shared.models.tenant import Tenant
from shared.notify.actions import ActionKind
from shared.notify.interactions import (
    FEEDBACK_EVENT,
    INCIDENT_ACTION_EVENT,
    OutcomeKind,
    handle_action,
    handle_command,
)
from shared.notify.slack_requests import CommandName, InteractionAction, SlashCommand
from shared.ports.store import Container
from shared.tenants.registry import TenantRegistry

T0 = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)
INC = "INC-260304-A1B2C3"


@dataclass
class Deps:
    store: SqliteStore
    tenants: TenantRegistry
    clock: FixedClock

    def docs(self, container: Container, tenant: str = "acme") -> list[dict[str, Any]]:
        return self.store.query(container, tenant)


@pytest.fixture
def deps(tmp_path: Path) -> Iterator[Deps]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    tenants = TenantRegistry(store, cache_seconds=0)
    tenants.add(
        Tenant(
            id="acme",
            tenant_id="acme",
            name="Acme",
            slack_team_id="T0ACME",
            responders=("U0ALICE", "U0BOB"),
        )
    )
    tenants.add(Tenant(id="globex", tenant_id="globex", name="Globex", slack_team_id="T0GLOBEX"))
    deps = Deps(store, tenants, FixedClock(T0))
    for tenant in ("acme", "globex"):  # the incident the clicks name (resolved: not in /sre status)
        incident(deps, INC, "Checkout errors", IncidentStatus.RESOLVED, tenant=tenant)
    yield deps
    store.close()


def click(
    kind: ActionKind,
    rank: int | None = 1,
    *,
    user: str = "U0ALICE",
    team: str = "T0ACME",
    tenant: str = "acme",
    target: str = "checkout",
) -> InteractionAction:
    hypothesis = kind is not ActionKind.ACK
    return InteractionAction(
        team_id=team,
        user_id=user,
        user_name=user.removeprefix("U0").lower(),
        kind=kind,
        action_id=kind.value if rank is None else f"{kind.value}:{rank}",
        value="{}",
        tenant_id=tenant,
        incident_id=INC,
        rank=rank if hypothesis else None,
        category="bad_deployment" if hypothesis else None,
        target=target if hypothesis else None,
        model_version="scoring@3" if hypothesis else None,
        response_url="https://hooks.slack.com/actions/1",
        channel_id="C0INCIDENTS",
        message_ts="1700000000.000100",
        trigger_id="t",
    )


def test_a_likely_click_stores_feedback_audits_and_tells_the_orchestration(deps: Deps) -> None:
    outcome = handle_action(deps, click(ActionKind.LIKELY))

    assert outcome.kind is OutcomeKind.FEEDBACK_RECORDED
    assert "checkout" in outcome.text
    (feedback,) = deps.docs(Container.FEEDBACK)
    assert {k: feedback[k] for k in ("incident_id", "user_id", "rank", "category", "target")} == {
        "incident_id": INC,
        "user_id": "U0ALICE",
        "rank": 1,
        "category": "bad_deployment",
        "target": "checkout",
    }
    assert (feedback["verdict"], feedback["model_version"]) == ("likely", "scoring@3")
    assert feedback["at"].startswith("2026-03-04T14:05")
    (audit,) = deps.docs(Container.AUDIT)
    assert (audit["actor"], audit["action"], audit["subject"]) == (
        "slack:U0ALICE",
        "feedback.likely",
        f"incident:{INC}",
    )
    assert outcome.event is not None
    assert (outcome.event.tenant_id, outcome.event.incident_id) == ("acme", INC)
    assert outcome.event.name == FEEDBACK_EVENT
    assert outcome.event.payload["verdict"] == "likely"
    assert outcome.event.payload["previous"] is None


def test_a_repeated_click_changes_nothing(deps: Deps) -> None:
    handle_action(deps, click(ActionKind.LIKELY))
    before = deps.docs(Container.FEEDBACK)

    deps.clock.set(T0 + timedelta(seconds=5))
    again = handle_action(deps, click(ActionKind.LIKELY))

    assert again.kind is OutcomeKind.DUPLICATE
    assert again.event is None
    assert deps.docs(Container.FEEDBACK) == before
    assert len(deps.docs(Container.AUDIT)) == 1


def test_a_changed_mind_overwrites_the_verdict(deps: Deps) -> None:
    handle_action(deps, click(ActionKind.LIKELY))

    changed = handle_action(deps, click(ActionKind.NOT_IT))

    assert changed.kind is OutcomeKind.FEEDBACK_RECORDED
    assert changed.event is not None
    assert changed.event.payload["previous"] == "likely"
    (feedback,) = deps.docs(Container.FEEDBACK)
    assert feedback["verdict"] == "not_it"
    assert [a["action"] for a in deps.docs(Container.AUDIT)].count("feedback.not_it") == 1


def test_feedback_is_kept_per_user_and_per_hypothesis_not_per_rank(deps: Deps) -> None:
    handle_action(deps, click(ActionKind.LIKELY))
    handle_action(deps, click(ActionKind.LIKELY, user="U0BOB"))
    handle_action(deps, click(ActionKind.NOT_IT, rank=2, target="payments-db"))
    # A newer analysis moved checkout to rank 2: still the same hypothesis for alice.
    moved = handle_action(deps, click(ActionKind.LIKELY, rank=2))

    assert moved.kind is OutcomeKind.DUPLICATE
    assert len(deps.docs(Container.FEEDBACK)) == 3


def test_an_unlisted_user_is_not_authorised_and_nothing_changes(deps: Deps) -> None:
    for kind in (ActionKind.LIKELY, ActionKind.ACK, ActionKind.RESOLVE_WITH):
        outcome = handle_action(deps, click(kind, user="U0MALLORY"))

        assert outcome.kind is OutcomeKind.NOT_AUTHORISED
        assert outcome.event is None
        assert "responders" in outcome.text
    for container in (Container.FEEDBACK, Container.AUDIT, Container.DEDUP):
        assert deps.docs(container) == []


def test_a_tenant_without_responders_lets_its_workspace_act(deps: Deps) -> None:
    outcome = handle_action(
        deps, click(ActionKind.LIKELY, user="U0ANYONE", team="T0GLOBEX", tenant="globex")
    )

    assert outcome.kind is OutcomeKind.FEEDBACK_RECORDED
    assert len(deps.docs(Container.FEEDBACK, "globex")) == 1


def test_a_button_of_another_tenant_is_refused(deps: Deps) -> None:
    outcome = handle_action(deps, click(ActionKind.LIKELY, team="T0GLOBEX", tenant="acme"))

    assert outcome.kind is OutcomeKind.NOT_AUTHORISED
    assert deps.docs(Container.FEEDBACK) == []
    assert deps.docs(Container.FEEDBACK, "globex") == []


def test_an_unknown_workspace(deps: Deps) -> None:
    outcome = handle_action(deps, click(ActionKind.LIKELY, team="T0NOBODY"))

    assert outcome.kind is OutcomeKind.UNKNOWN_TENANT
    assert outcome.event is None
    assert deps.docs(Container.FEEDBACK) == []


def test_acknowledge_once(deps: Deps) -> None:
    first = handle_action(deps, click(ActionKind.ACK, None))
    second = handle_action(deps, click(ActionKind.ACK, None, user="U0BOB"))

    assert first.kind is OutcomeKind.ACKNOWLEDGED
    assert first.event is not None
    assert first.event.name == INCIDENT_ACTION_EVENT
    assert first.event.payload["action"] == "acknowledge"
    assert first.event.payload["user_id"] == "U0ALICE"
    assert second.kind is OutcomeKind.DUPLICATE
    assert "<@U0ALICE>" in second.text
    assert second.event is None
    assert [a["action"] for a in deps.docs(Container.AUDIT)] == ["incident.acknowledge"]


def test_resolve_with_a_hypothesis(deps: Deps) -> None:
    outcome = handle_action(deps, click(ActionKind.RESOLVE_WITH, 2, target="payments-db"))
    again = handle_action(deps, click(ActionKind.RESOLVE_WITH, 2, target="payments-db"))
    other = handle_action(deps, click(ActionKind.RESOLVE_WITH, 1))

    assert outcome.kind is OutcomeKind.RESOLVE_REQUESTED
    assert outcome.event is not None
    assert outcome.event.name == INCIDENT_ACTION_EVENT
    payload = outcome.event.payload
    assert (payload["action"], payload["rank"], payload["target"]) == ("resolve", 2, "payments-db")
    assert again.kind is OutcomeKind.DUPLICATE
    assert other.kind is OutcomeKind.RESOLVE_REQUESTED


# --- /sre ----------------------------------------------------------------------


def command(name: CommandName, argument: str | None = None, team: str = "T0ACME") -> SlashCommand:
    return SlashCommand(
        team_id=team,
        user_id="U0ALICE",
        user_name="alice",
        channel_id="C0INCIDENTS",
        command="/sre",
        text=f"{name.value} {argument or ''}".strip(),
        response_url=None,
        trigger_id=None,
        name=name,
        argument=argument,
    )


def incident(
    deps: Deps, incident_id: str, title: str, status: IncidentStatus, tenant: str = "acme"
) -> None:
    doc = Incident(
        id=incident_id,
        tenant_id=tenant,
        title=title,
        status=status,
        services=("checkout",),
        first_seen=T0,
        last_seen=T0,
        created_at=T0,
        updated_at=T0,
    ).to_doc()
    deps.store.upsert(Container.INCIDENTS, tenant, doc)


def test_status_lists_the_open_incidents_of_this_workspace_only(deps: Deps) -> None:
    incident(deps, "INC-1", "Checkout <5xx> & latency", IncidentStatus.OPEN)
    incident(deps, "INC-2", "Disk full", IncidentStatus.ACKNOWLEDGED)
    incident(deps, "INC-3", "Old one", IncidentStatus.RESOLVED)
    incident(deps, "INC-9", "Globex trouble", IncidentStatus.OPEN, tenant="globex")

    reply = handle_command(deps, command(CommandName.STATUS))

    assert "INC-1" in reply.text
    assert "INC-2" in reply.text
    assert "INC-3" not in reply.text
    assert "INC-9" not in reply.text
    assert "Checkout &lt;5xx&gt; &amp; latency" in reply.text
    assert reply.blocks[0]["type"] == "section"
    assert reply.blocks[0]["text"]["text"] == reply.text


def test_status_puts_the_highest_impact_first_whatever_arrived_last(deps: Deps) -> None:
    impacts = {"INC-LOW": 12.0, "INC-HIGH": 81.5, "INC-MID": 45.0}
    for incident_id, score in impacts.items():
        incident(deps, incident_id, incident_id.lower(), IncidentStatus.OPEN)
        stored_analysis.save(
            deps.store,
            "acme",
            IncidentAnalysis(
                incident_id=incident_id,
                impact={
                    "score": score,
                    "level": "high",
                    "urgency": f"affects <checkout> {score}",
                },
            ),
        )
    incident(deps, "INC-NEW", "not analysed yet", IncidentStatus.OPEN)

    first = handle_command(deps, command(CommandName.STATUS)).text
    again = handle_command(deps, command(CommandName.STATUS)).text

    order = [i for i in ("INC-HIGH", "INC-MID", "INC-LOW", "INC-NEW") if i in first]
    assert sorted(order, key=first.index) == ["INC-HIGH", "INC-MID", "INC-LOW", "INC-NEW"]
    assert "impact high: affects &lt;checkout&gt; 81.5" in first
    assert first == again


def test_status_without_open_incidents(deps: Deps) -> None:
    incident(deps, "INC-3", "Old one", IncidentStatus.RESOLVED)

    assert "No open incidents" in handle_command(deps, command(CommandName.STATUS)).text


def test_help_and_an_unknown_workspace(deps: Deps) -> None:
    assert "/sre status" in handle_command(deps, command(CommandName.HELP)).text
    reply = handle_command(deps, command(CommandName.STATUS, team="T0NOBODY"))
    assert "not connected" in reply.text


def test_why_shows_the_stored_hypotheses_and_their_factors(deps: Deps) -> None:
    incident(deps, INC, "Checkout errors", IncidentStatus.OPEN)
    deps.store.create(
        Container.CACHE,
        "acme",
        {
            "id": f"analysis:{INC}",
            "hypotheses": [
                {
                    "rank": 1,
                    "category": "bad_deployment",
                    "target": "checkout",
                    "title": "Deployment of checkout v2.3.1",
                    "confidence": 0.72,
                    "confidence_range": [0.61, 0.8],
                    "factors": {
                        "signal_strength": {"value": 0.9, "reason": "5xx at 14x baseline"},
                        "temporal_correlation": {"value": 0.8, "reason": "deploy 4 min before"},
                    },
                    "model_version": "scoring@3",
                }
            ],
        },
    )

    text = handle_command(deps, command(CommandName.WHY, INC)).text

    assert "Checkout errors" in text
    assert "1. Deployment of checkout v2.3.1" in text
    assert "72%" in text
    assert "signal strength 0.90: 5xx at 14x baseline" in text
    assert "scoring@3" in text


def test_why_without_an_analysis_or_an_incident(deps: Deps) -> None:
    incident(deps, INC, "Checkout errors", IncidentStatus.OPEN)

    assert "No analysis" in handle_command(deps, command(CommandName.WHY, INC)).text
    assert "No incident" in handle_command(deps, command(CommandName.WHY, "INC-404")).text
    assert "No incident" in handle_command(deps, command(CommandName.WHY, "../INC-1")).text


def test_a_disabled_tenants_clicks_and_commands_change_nothing(deps: Deps) -> None:
    acme = deps.tenants.get("acme")
    deps.tenants.add(acme.model_copy(update={"disabled_at": T0}), replace=True)

    outcome = handle_action(deps, click(ActionKind.LIKELY, 1))
    reply = handle_command(deps, command(CommandName.STATUS))

    assert outcome.kind is OutcomeKind.UNKNOWN_TENANT and "disabled" in outcome.text
    assert outcome.event is None
    assert "disabled" in reply.text
    assert deps.docs(Container.FEEDBACK) == []
    assert deps.tenants.active() == [deps.tenants.get("globex")]
