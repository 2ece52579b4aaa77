"""Earned-trust promotions proposed in Slack: the sweep, the Promote / Not yet click, the CLI.

On the real runtime (SQLite store, tenant registry, audit chain); the chat is
a recorder, since what is posted and updated is what these tests check.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.audit import verify
from shared.autonomy import promotion
from shared.autonomy.actions import create
from shared.autonomy.policies import load_policy, set_policy
from shared.autonomy.policy import Mode
from shared.autonomy.trust import promote
from shared.cli import app
from shared.clock import FixedClock
from shared.incidents.lifecycle import apply_action
from shared.models.incident import Incident
from shared.models.tenant import Tenant
from shared.notify.actions import ActionKind, ActionValue, encode_value
from shared.notify.interactions import InteractionOutcome, OutcomeKind, handle_action
from shared.notify.slack_requests import InteractionAction
from shared.ports.chat import ChatMessage, PostedMessage
from shared.ports.store import Container
from shared.settings import Settings, load_settings
from tests.unit.autonomy.test_trust import HYPOTHESIS, POLICY, resolve, shadowed

NOW = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
ADMIN, RESPONDER = "U-ADMIN", "U0ALICE"


@dataclass
class Chat:
    posts: list[ChatMessage] = field(default_factory=list)
    updates: list[tuple[ChatMessage, PostedMessage]] = field(default_factory=list)

    def post(self, message: ChatMessage, *, channel: str | None) -> PostedMessage:
        self.posts.append(message)
        return PostedMessage(channel=channel or "C-DEFAULT", ts=f"{len(self.posts)}.0")

    def update(self, message: ChatMessage, *, posted: PostedMessage) -> PostedMessage:
        self.updates.append((message, posted))
        return posted

    def reply_in_thread(self, posted: PostedMessage, text: str, blocks: Any = ()) -> PostedMessage:
        return posted

    def post_file(self, *args: Any, **kwargs: Any) -> PostedMessage:
        raise NotImplementedError


def tenant(tenant_id: str, team: str, **extra: Any) -> Tenant:
    return Tenant(
        id=tenant_id,
        tenant_id=tenant_id,
        name=tenant_id.title(),
        slack_team_id=team,
        slack_channel_id=f"C-{tenant_id.upper()}",
        responders=(RESPONDER,),
        **extra,
    )


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    settings = Settings(home=tmp_path / "home", echo_messages=False)
    store = SqliteStore(settings.sqlite_path)
    built = bootstrap.configure(
        bootstrap.build(settings, store=store, chat=Chat(), clock=FixedClock(NOW))
    )
    built.tenants.add(tenant("acme", "T-ACME"))
    built.tenants.add(tenant("globex", "T-GLOBEX"))
    for name in ("acme", "globex"):
        set_policy(store, name, POLICY, now=NOW, actor="test")
    yield built
    bootstrap.reset()
    store.close()


def chat(rt: bootstrap.Runtime) -> Chat:
    assert isinstance(rt.chat, Chat)
    return rt.chat


def judge(
    rt: bootstrap.Runtime, tenant_id: str, first: int, *, agree: int, disagree: int = 0
) -> None:
    """``agree + disagree`` more incidents, numbered from ``first``, judged on restart_pod."""
    for n in range(first, first + agree + disagree):
        incident = f"inc-{n}"
        create(rt.store, shadowed(tenant_id, incident, hypothesis=HYPOTHESIS))
        resolve(
            rt.store, tenant_id, incident, HYPOTHESIS if n < first + agree else ("capacity", "x")
        )


def sweep(rt: bootstrap.Runtime, tenant_id: str) -> promotion.Sweep:
    return promotion.sweep(rt, rt.tenants.get(tenant_id), now=NOW)


def click(
    rt: bootstrap.Runtime,
    kind: ActionKind,
    proposal: str,
    *,
    user: str = ADMIN,
    team: str = "T-ACME",
    tenant_id: str = "acme",
    action: str = "restart_pod",
) -> InteractionOutcome:
    value = ActionValue(incident_id=proposal, tenant_id=tenant_id, target=action)
    return handle_action(
        rt,
        InteractionAction(
            team_id=team,
            user_id=user,
            user_name=user.lower(),
            kind=kind,
            action_id=kind.value,
            value=encode_value(value),
            tenant_id=tenant_id,
            incident_id=proposal,
            rank=None,
            category=None,
            target=action,
            model_version=None,
            response_url="https://hooks.slack.test/r",
            channel_id="C-ACME",
            message_ts="1.0",
            trigger_id=None,
        ),
    )


def mode(rt: bootstrap.Runtime, tenant_id: str = "acme") -> Mode:
    stored = load_policy(rt.store, tenant_id)
    assert stored is not None
    return stored.policy.actions["restart_pod"].mode


def audited(rt: bootstrap.Runtime, action: str, tenant_id: str = "acme") -> list[dict[str, Any]]:
    return [d for d in rt.store.query(Container.AUDIT, tenant_id) if d["action"] == action]


def buttons(message: ChatMessage) -> list[str]:
    return [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


# --- the sweep -----------------------------------------------------------------------------


def test_a_ready_action_is_proposed_once_with_its_figures(rt: bootstrap.Runtime) -> None:
    judge(rt, "acme", 0, agree=11, disagree=1)

    first = sweep(rt, "acme")
    again = sweep(rt, "acme")

    (posted,) = first.posted
    assert posted.text == (
        "restart_pod agreed with responders on 11 of 12 incidents (92%) in shadow mode; "
        "promote it to active at low risk?"
    )
    assert posted.channel == "C-ACME"
    (message,) = chat(rt).posts
    assert buttons(message) == ["trust_promote", "trust_not_yet"]
    assert again.posted == () and "awaiting an answer" in again.held[0]
    assert len(audited(rt, promotion.PROPOSE)) == 1 and verify(rt.store, "acme").ok


def test_nothing_is_proposed_before_readiness(rt: bootstrap.Runtime) -> None:
    judge(rt, "acme", 0, agree=9)
    judge(rt, "acme", 9, agree=0, disagree=2)  # 9 of 11: 82 %

    assert sweep(rt, "acme").posted == () and chat(rt).posts == []


def test_tenants_apart_and_a_disabled_tenant_skipped(rt: bootstrap.Runtime) -> None:
    judge(rt, "acme", 0, agree=10)
    judge(rt, "globex", 0, agree=5)
    rt.tenants.add(tenant("initech", "T-INITECH", disabled_at=NOW), replace=False)
    set_policy(rt.store, "initech", POLICY, now=NOW, actor="test")
    judge(rt, "initech", 0, agree=10)

    swept = {t.id: sweep(rt, t.id) for t in rt.tenants.list()}

    assert [p.action for p in swept["acme"].posted] == ["restart_pod"]
    assert swept["globex"].posted == () and swept["initech"].posted == ()
    assert "initech" not in {t.id for t in rt.tenants.active()}  # the timer's list
    assert [m.tenant_id for m in chat(rt).posts] == ["acme"]


def test_the_timer_proposes_once_and_skips_disabled_tenants(rt: bootstrap.Runtime) -> None:
    from functions import schedules

    judge(rt, "acme", 0, agree=10)
    rt.tenants.add(tenant("initech", "T-INITECH", disabled_at=NOW))
    set_policy(rt.store, "initech", POLICY, now=NOW, actor="test")
    judge(rt, "initech", 0, agree=10)

    schedules.send_anomaly_digests(None)  # 10:00 UTC: past 09:00 in the tenants' zone
    schedules.send_anomaly_digests(None)

    assert [m.tenant_id for m in chat(rt).posts] == ["acme"]


def test_not_yet_waits_for_n_more_judged_incidents(rt: bootstrap.Runtime) -> None:
    judge(rt, "acme", 0, agree=10)
    (first,) = sweep(rt, "acme").posted

    said = click(rt, ActionKind.NOT_YET, first.proposal_id, user=RESPONDER)
    judge(rt, "acme", 10, agree=9)
    nine_more = sweep(rt, "acme")
    judge(rt, "acme", 19, agree=1)
    ten_more = sweep(rt, "acme")

    assert said.kind is OutcomeKind.PROMOTION_ANSWERED and "once 20 incidents" in said.text
    assert nine_more.posted == () and "proposed again at 20 (19 now)" in nine_more.held[0]
    (second,) = ten_more.posted
    assert second.proposal_id != first.proposal_id and "20 of 20" in second.text
    assert mode(rt) is Mode.SHADOW
    (updated, where) = chat(rt).updates[0]
    assert buttons(updated) == [] and where.ts == "1.0" and "not yet" in updated.text
    assert len(audited(rt, promotion.NOT_YET)) == 1


def test_after_a_policy_change_the_old_proposal_is_stale_and_a_new_one_posted(
    rt: bootstrap.Runtime,
) -> None:
    judge(rt, "acme", 0, agree=10)
    (first,) = sweep(rt, "acme").posted
    changed = POLICY.replace("{tier: low}", "{tier: low, approvers: [U-SRE]}")
    set_policy(rt.store, "acme", changed, now=NOW, actor="test")

    stale = click(rt, ActionKind.PROMOTE, first.proposal_id)
    (second,) = sweep(rt, "acme").posted

    assert stale.kind is OutcomeKind.STALE and "changed since this proposal" in stale.text
    assert mode(rt) is Mode.SHADOW and audited(rt, "autonomy.promote") == []
    assert second.proposal_id != first.proposal_id
    assert click(rt, ActionKind.PROMOTE, second.proposal_id, user="U-SRE").kind is (
        OutcomeKind.PROMOTION_ANSWERED
    )


def test_a_promotion_undone_is_proposed_again_after_n_more_judged_incidents(
    rt: bootstrap.Runtime,
) -> None:
    judge(rt, "acme", 0, agree=10)
    (first,) = sweep(rt, "acme").posted
    click(rt, ActionKind.PROMOTE, first.proposal_id)
    set_policy(rt.store, "acme", POLICY, now=NOW, actor="test")  # put back in shadow mode
    assert mode(rt) is Mode.SHADOW

    judge(rt, "acme", 10, agree=9)
    nine_more = sweep(rt, "acme")
    judge(rt, "acme", 19, agree=1)
    ten_more = sweep(rt, "acme")

    assert nine_more.posted == () and "proposed again at 20 (19 now)" in nine_more.held[0]
    (second,) = ten_more.posted  # the same policy entry as the first: a new round
    assert second.proposal_id != first.proposal_id and "20 of 20" in second.text
    assert click(rt, ActionKind.PROMOTE, second.proposal_id).kind is (
        OutcomeKind.PROMOTION_ANSWERED
    )
    assert mode(rt) is Mode.ACTIVE


def test_resolving_an_incident_proposes_at_once(rt: bootstrap.Runtime) -> None:
    judge(rt, "acme", 0, agree=9)
    create(rt.store, shadowed("acme", "inc-9", hypothesis=HYPOTHESIS))
    incident = Incident(
        id="inc-9",
        tenant_id="acme",
        title="checkout errors",
        services=("checkout",),
        first_seen=NOW,
        last_seen=NOW,
        created_at=NOW,
        updated_at=NOW,
    )
    rt.store.create(Container.INCIDENTS, "acme", incident.to_doc())

    assert sweep(rt, "acme").posted == ()

    apply_action(
        rt,
        "acme",
        "inc-9",
        {"action": "resolve", "category": HYPOTHESIS[0], "target": HYPOTHESIS[1], "rank": 1},
    )

    (message,) = chat(rt).posts
    assert "10 of 10 incidents (100%)" in message.text


# --- the click -----------------------------------------------------------------------------


def test_an_approver_promotes_through_the_cli_s_function(rt: bootstrap.Runtime) -> None:
    judge(rt, "acme", 0, agree=10)
    (posted,) = sweep(rt, "acme").posted

    done = click(rt, ActionKind.PROMOTE, posted.proposal_id)

    assert done.kind is OutcomeKind.PROMOTION_ANSWERED
    assert "restart_pod promoted to active at low risk for acme by U-ADMIN" in done.text
    assert mode(rt) is Mode.ACTIVE
    assert (
        len(audited(rt, "autonomy.promote")) == 1
        and audited(rt, "policy.set")[-1]["actor"] == ADMIN
    )
    (updated, _) = chat(rt).updates[-1]
    assert buttons(updated) == [] and "promoted to active by" in updated.blocks[0]["text"]["text"]
    assert verify(rt.store, "acme").ok


def test_a_non_approver_is_refused_and_nothing_changes(rt: bootstrap.Runtime) -> None:
    judge(rt, "acme", 0, agree=10)
    (posted,) = sweep(rt, "acme").posted

    refused = click(rt, ActionKind.PROMOTE, posted.proposal_id, user=RESPONDER)

    assert refused.kind is OutcomeKind.NOT_AUTHORISED
    assert "Only the approvers of restart_pod may promote it (<@U-ADMIN>)" in refused.text
    assert mode(rt) is Mode.SHADOW and chat(rt).updates == []
    assert click(rt, ActionKind.PROMOTE, posted.proposal_id).kind is OutcomeKind.PROMOTION_ANSWERED


def test_a_double_click_promotes_once(rt: bootstrap.Runtime) -> None:
    judge(rt, "acme", 0, agree=10)
    (posted,) = sweep(rt, "acme").posted
    start = threading.Barrier(4)
    outcomes: list[InteractionOutcome] = []

    def one() -> None:
        start.wait()
        outcomes.append(click(rt, ActionKind.PROMOTE, posted.proposal_id))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    later = click(rt, ActionKind.PROMOTE, posted.proposal_id)

    kinds = sorted(o.kind.value for o in outcomes)
    assert kinds == ["duplicate"] * 3 + ["promotion_answered"]
    assert len(audited(rt, "autonomy.promote")) == 1
    assert later.kind is OutcomeKind.DUPLICATE and "promoted already by <@U-ADMIN>" in later.text
    assert verify(rt.store, "acme").ok


def test_an_action_active_already_is_a_stale_proposal(rt: bootstrap.Runtime) -> None:
    judge(rt, "acme", 0, agree=10)
    (posted,) = sweep(rt, "acme").posted
    promote(rt.store, "acme", "restart_pod", by=ADMIN, now=NOW)  # from the CLI meanwhile

    stale = click(rt, ActionKind.PROMOTE, posted.proposal_id)

    assert stale.kind is OutcomeKind.STALE and len(audited(rt, "autonomy.promote")) == 1


def test_ids_are_checked_against_the_tenant(rt: bootstrap.Runtime) -> None:
    judge(rt, "acme", 0, agree=10)
    judge(rt, "globex", 0, agree=10)
    (acme,) = sweep(rt, "acme").posted
    (globex,) = sweep(rt, "globex").posted
    assert acme.proposal_id == globex.proposal_id.replace("globex", "acme")  # same policy

    # globex's workspace clicks a button claiming to be acme's
    forged = click(rt, ActionKind.PROMOTE, acme.proposal_id, team="T-GLOBEX", tenant_id="acme")
    # acme's workspace: an id that is not a proposal, another action, a made-up round
    not_ours = click(rt, ActionKind.PROMOTE, "INC-1")
    other_action = click(rt, ActionKind.PROMOTE, acme.proposal_id, action="drain_node")
    made_up = click(rt, ActionKind.PROMOTE, acme.proposal_id[:-1] + "7")

    assert forged.kind is OutcomeKind.NOT_AUTHORISED
    for outcome in (not_ours, other_action, made_up):
        assert outcome.kind is OutcomeKind.UNKNOWN_INCIDENT, outcome.text
    assert mode(rt, "acme") is Mode.SHADOW and mode(rt, "globex") is Mode.SHADOW
    assert click(
        rt, ActionKind.PROMOTE, globex.proposal_id, team="T-GLOBEX", tenant_id="globex"
    ).kind is (OutcomeKind.PROMOTION_ANSWERED)
    assert mode(rt, "acme") is Mode.SHADOW and mode(rt, "globex") is Mode.ACTIVE


def test_a_click_that_died_after_its_claim_is_taken_over(rt: bootstrap.Runtime) -> None:
    judge(rt, "acme", 0, agree=10)
    (posted,) = sweep(rt, "acme").posted
    mark = rt.store.get(Container.CACHE, "acme", posted.proposal_id)
    assert mark is not None
    stuck = NOW - timedelta(hours=1)
    promotion._move(rt.store, "acme", mark, promotion.PROMOTING, stuck, {"by": "U-GONE"})

    done = click(rt, ActionKind.PROMOTE, posted.proposal_id)

    assert done.kind is OutcomeKind.PROMOTION_ANSWERED and mode(rt) is Mode.ACTIVE


# --- the CLI -------------------------------------------------------------------------------


def test_cli_propose_runs_the_sweep_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("SRE_COPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SRE_COPILOT_STORE", "sqlite")
    monkeypatch.setenv("SRE_COPILOT_ECHO_MESSAGES", "false")
    assert runner.invoke(app, ["tenants", "add", "acme"]).exit_code == 0
    built = bootstrap.build(load_settings())
    try:
        set_policy(built.store, "acme", POLICY, now=NOW, actor="test")
        judge(built, "acme", 0, agree=10)
    finally:
        built.close()
        bootstrap.reset()
    try:
        first = runner.invoke(app, ["autonomy", "propose", "--tenant", "acme"])
        second = runner.invoke(app, ["autonomy", "propose", "--tenant", "acme", "--json"])
        unknown = runner.invoke(app, ["autonomy", "propose", "--tenant", "nobody"])
    finally:
        bootstrap.reset()

    assert first.exit_code == 0, first.output
    assert "posted promotion-restart_pod-" in first.output and "10 of 10 incidents" in first.output
    shown = json.loads(second.output)
    assert shown["posted"] == [] and "awaiting an answer" in shown["held"][0]
    assert unknown.exit_code == 2 and "unknown tenant 'nobody'" in unknown.output
