"""Earned trust's second signal: the runbook the responders marked as used.

The pure judgement first, then the whole path on the real runtime: "Used
<runbook>" clicks through ``handle_action``, resolutions through
``lifecycle.apply_action``, ``autonomy status`` and the promotion sweep.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.autonomy import promotion, trust
from shared.autonomy.actions import create
from shared.autonomy.policies import set_policy
from shared.cli import app
from shared.clock import FixedClock
from shared.incidents import stored_analysis
from shared.incidents.lifecycle import apply_action
from shared.models.analysis import IncidentAnalysis
from shared.models.incident import Incident
from shared.notify.actions import ActionKind
from shared.notify.interactions import OutcomeKind, handle_action
from shared.notify.slack_requests import InteractionAction
from shared.ports.store import Container
from shared.settings import Settings
from tests.unit.autonomy.test_promotion import Chat, chat, tenant
from tests.unit.autonomy.test_trust import HYPOTHESIS, POLICY, shadowed

NOW = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
OTHER = ("capacity", "payments")
RUNBOOK = "rb-1"  # the runbook ``shadowed`` records propose from
OTHER_RUNBOOK = "rb-2"


def resolution(
    hypothesis: tuple[str, str] | None = None, runbooks: tuple[str, ...] = ()
) -> trust.Resolution:
    category, target = hypothesis or (None, None)
    return trust.Resolution("inc-1", category, target, frozenset(runbooks))


# --- the judgement (pure) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hypothesis", "runbooks", "verdict"),
    [
        (HYPOTHESIS, (), "hypothesis"),
        (HYPOTHESIS, (RUNBOOK,), "hypothesis"),  # both agree: credited once, to the hypothesis
        (OTHER, (RUNBOOK,), "runbook"),  # whatever hypothesis they resolved with
        (None, (RUNBOOK, OTHER_RUNBOOK), "runbook"),  # or none
        (OTHER, (OTHER_RUNBOOK,), "disagree"),
        (OTHER, (), "disagree"),
        (None, (OTHER_RUNBOOK,), "disagree"),  # they said what they used: not this
        (None, (), None),  # no signal: judges nothing
    ],
)
def test_judge(
    hypothesis: tuple[str, str] | None, runbooks: tuple[str, ...], verdict: str | None
) -> None:
    record = shadowed("acme", "inc-1", hypothesis=HYPOTHESIS)
    assert trust.judge(record, resolution(hypothesis, runbooks)) == verdict


def test_counts_say_which_signal_each_agreement_came_from() -> None:
    cases = {
        "i1": resolution(HYPOTHESIS),
        "i2": resolution(HYPOTHESIS, (RUNBOOK,)),
        "i3": resolution(OTHER, (RUNBOOK,)),
        "i4": resolution(None, (RUNBOOK,)),
        "i5": resolution(OTHER, (OTHER_RUNBOOK,)),
        "i6": resolution(None, ()),
    }
    records = [shadowed("acme", i, hypothesis=HYPOTHESIS) for i in [*cases, "i7"]]
    (got,) = trust.assess(None, records, cases)
    assert (got.shadowed, got.judged, got.agreed) == (7, 5, 4)
    assert (got.agreed_hypothesis, got.agreed_runbook) == (2, 2)
    assert got.row()["agreed_by"] == {"hypothesis": 2, "runbook": 2}
    assert "agreed   4 (hypothesis 2, runbook 2)" in trust.render("acme", [got])[1]
    assert trust.tally(records, cases) == {"restart_pod": (7, 5, 4)}


# --- through clicks and resolutions on the real runtime ---------------------------------------


@pytest.fixture
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[bootstrap.Runtime]:
    monkeypatch.setenv("SRE_COPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SRE_COPILOT_STORE", "sqlite")
    settings = Settings(home=tmp_path / "home", echo_messages=False)
    store = SqliteStore(settings.sqlite_path)
    built = bootstrap.configure(
        bootstrap.build(settings, store=store, chat=Chat(), clock=FixedClock(NOW))
    )
    built.tenants.add(tenant("acme", "T-ACME"))
    set_policy(store, "acme", POLICY, now=NOW, actor="test")
    yield built
    bootstrap.reset()
    store.close()


def incident_id(n: int) -> str:
    return f"INC-260309-{n:06X}"


def open_with_shadowed(rt: bootstrap.Runtime, n: int) -> str:
    """An open incident whose analysis lists both runbooks, and a shadowed proposal of it."""
    inc = incident_id(n)
    doc = Incident(
        id=inc,
        tenant_id="acme",
        title="Checkout errors",
        services=("checkout",),
        first_seen=NOW,
        last_seen=NOW,
        created_at=NOW,
        updated_at=NOW,
    ).to_doc()
    rt.store.upsert(Container.INCIDENTS, "acme", doc)
    runbooks = tuple({"id": rb, "title": rb, "score": 0.7} for rb in (RUNBOOK, OTHER_RUNBOOK))
    stored_analysis.save(rt.store, "acme", IncidentAnalysis(incident_id=inc, runbooks=runbooks))
    create(rt.store, shadowed("acme", inc, hypothesis=HYPOTHESIS))
    return inc


def mark_used(rt: bootstrap.Runtime, inc: str, runbook: str, user: str = "U0ALICE") -> None:
    click = InteractionAction(
        team_id="T-ACME",
        user_id=user,
        user_name=user.lower(),
        kind=ActionKind.RUNBOOK_USED,
        action_id=f"{ActionKind.RUNBOOK_USED.value}:1",
        value="{}",
        tenant_id="acme",
        incident_id=inc,
        rank=1,
        category=None,
        target=runbook,
        model_version=None,
        response_url="https://hooks.slack.com/actions/1",
        channel_id="C-ACME",
        message_ts="1.0",
        trigger_id=None,
    )
    assert handle_action(rt, click).kind in (OutcomeKind.RUNBOOK_USED, OutcomeKind.DUPLICATE)


def resolve(rt: bootstrap.Runtime, inc: str, hypothesis: tuple[str, str] | None) -> None:
    action: dict[str, object] = {"action": "resolve", "user_id": "U0ALICE"}
    if hypothesis is not None:
        action |= {"category": hypothesis[0], "target": hypothesis[1], "rank": 1}
    assert apply_action(rt, "acme", inc, action, key=f"k-{inc}") == "resolved"


def restart_pod(rt: bootstrap.Runtime) -> trust.Agreement:
    return next(a for a in trust.status(rt.store, "acme") if a.action == "restart_pod")


def test_runbook_used_agrees_only_once_resolved_and_once_per_incident(
    rt: bootstrap.Runtime,
) -> None:
    inc = open_with_shadowed(rt, 1)
    mark_used(rt, inc, RUNBOOK)
    mark_used(rt, inc, RUNBOOK)  # a double click
    assert restart_pod(rt).judged == 0  # still open: judges nothing
    resolve(rt, inc, OTHER)
    got = restart_pod(rt)
    assert (got.judged, got.agreed, got.agreed_hypothesis, got.agreed_runbook) == (1, 1, 0, 1)


def test_other_runbook_and_other_hypothesis_disagree_and_no_signal_judges_nothing(
    rt: bootstrap.Runtime,
) -> None:
    disagreeing, silent = open_with_shadowed(rt, 1), open_with_shadowed(rt, 2)
    mark_used(rt, disagreeing, OTHER_RUNBOOK)
    resolve(rt, disagreeing, OTHER)
    resolve(rt, silent, None)
    got = restart_pod(rt)
    assert (got.shadowed, got.judged, got.agreed) == (2, 1, 0)


def test_promotion_fires_at_readiness_with_agreements_from_both_signals(
    rt: bootstrap.Runtime,
) -> None:
    for n in range(9):
        inc = open_with_shadowed(rt, n)
        if n < 6:
            resolve(rt, inc, HYPOTHESIS)
        else:
            mark_used(rt, inc, RUNBOOK)
            resolve(rt, inc, None)
    assert restart_pod(rt).why == "9 of 10 judged incidents needed"
    assert promotion.sweep(rt, rt.tenants.get("acme"), now=NOW).posted == ()
    inc = open_with_shadowed(rt, 9)
    mark_used(rt, inc, RUNBOOK)
    # Resolved without a hypothesis, judged by the runbook used: proposed at once.
    resolve(rt, inc, None)
    got = restart_pod(rt)
    assert got.ready and (got.agreed_hypothesis, got.agreed_runbook) == (6, 4)
    (message,) = chat(rt).posts
    assert "10 of 10 incidents (100%)" in message.text
    assert promotion.sweep(rt, rt.tenants.get("acme"), now=NOW).posted == ()  # posted once

    result = CliRunner().invoke(app, ["autonomy", "status", "--tenant", "acme", "--json"])
    assert result.exit_code == 0, result.output
    shown = {r["action"]: r for r in json.loads(result.output)}["restart_pod"]
    assert (shown["judged"], shown["agreed"]) == (10, 10)
    assert shown["agreed_by"] == {"hypothesis": 6, "runbook": 4}
    result = CliRunner().invoke(app, ["autonomy", "status", "--tenant", "acme"])
    assert "agreed  10 (hypothesis 6, runbook 4)" in result.output
