"""The kill switches through the real SQLite store: read by ``state_for``, so by ``decide``
and by the re-check right before running; audited; the CLI; failing closed.

Reuses the remediation tests' runtime double (real store, registry and audit
chain; a manual clock; an executor that records what it is asked).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from shared import bootstrap
from shared.audit import verify
from shared.autonomy import kill_switch, remediation
from shared.autonomy.actions import ActionState, load
from shared.autonomy.engine import Outcome, Proposal, decide
from shared.autonomy.policies import load_policy
from shared.autonomy.policy import Policy
from shared.autonomy.proposals import propose, state_for
from shared.errors import BadInput, DeliveryFailed, StoreUnavailable
from shared.models.tenant import Tenant
from shared.notify.actions import ActionKind
from shared.ports.chat import ChatMessage, PostedMessage
from shared.ports.store import SYSTEM_TENANT, Container
from shared.settings import load_settings
from tests.fixtures.cli import run
from tests.unit.autonomy import test_remediation as rem

T0 = rem.T0
deps = rem.deps
Deps = rem.Deps


def add_tenant(d: Deps, tenant_id: str) -> None:
    d.tenants.add(Tenant(id=tenant_id, tenant_id=tenant_id, name=tenant_id.title()))


def flip(d: Deps, scope: str | None, on: bool, by: str = "U-OPS") -> kill_switch.Flipped:
    ids = [scope] if scope is not None else [t.id for t in d.tenants.list()]
    return kill_switch.flip(
        d.store,
        ids,
        scope=scope,
        on=on,
        by=by,
        reason="automation outage",
        now=d.clock.now(),
        actor=f"test:{by}",
        via="test",
    )


def state(d: Deps, tenant_id: str, *, forced: bool = False) -> kill_switch.Switches:
    return kill_switch.read(d.store, tenant_id, forced=forced)


# --- the store --------------------------------------------------------------------------


def test_global_switch_stops_every_tenant_and_a_tenant_switch_only_its_own(deps: Deps) -> None:
    add_tenant(deps, "globex")
    assert not state(deps, "acme").global_on and not state(deps, "acme").tenant_on
    flip(deps, "acme", True)
    assert state(deps, "acme").tenant_on and not state(deps, "globex").tenant_on
    assert not state(deps, "globex").global_on
    flip(deps, None, True)
    for tenant in ("acme", "globex"):
        read = state(deps, tenant)
        assert read.global_on
        assert read.global_note == "set by U-OPS at 2026-03-04 14:00 UTC: automation outage"
    flip(deps, None, False, by="U-LEAD")
    flip(deps, "acme", False, by="U-LEAD")
    read = state(deps, "acme")
    assert not read.global_on and not read.tenant_on
    assert read.lines()[0].startswith("global kill switch off (turned off by U-LEAD at")


def test_the_global_document_stays_out_of_the_tenant_directory(deps: Deps) -> None:
    flip(deps, None, True)
    assert [t.id for t in deps.tenants.list()] == ["acme"]
    assert deps.store.get(Container.TENANTS, SYSTEM_TENANT, kill_switch.DOC_ID) is None


def test_the_setting_forces_the_global_switch_whatever_the_store_says(deps: Deps) -> None:
    flip(deps, None, False)
    read = state(deps, "acme", forced=True)
    assert read.global_on and kill_switch.SETTING in read.global_note


def test_an_unreadable_switch_counts_as_on(deps: Deps) -> None:
    deps.store.upsert(
        Container.TENANTS,
        "acme",
        {"id": kill_switch.DOC_ID, "tenantId": "acme", "on": "perhaps"},
    )
    read = state(deps, "acme")
    assert read.tenant_on and "unreadable" in read.tenant_note


def test_a_store_that_cannot_be_read_raises_never_reads_as_off(deps: Deps) -> None:
    tenant = deps.tenants.get("acme")
    deps.store.close()
    with pytest.raises(StoreUnavailable):
        state_for(deps.store, tenant, None, "x", (), T0, kill_switch_setting=False)


@pytest.mark.parametrize(
    ("on", "by", "reason", "message"),
    [
        ("yes", "U-OPS", "outage", "field 'on': true or false"),
        (True, "", "outage", "field 'by': required text"),
        (True, "U-OPS", "   ", "field 'reason': required text"),
        (True, "U-OPS", "a\nb", "field 'reason': one line"),
        (True, "U" * 201, "outage", "field 'by': one line of at most 200"),
    ],
)
def test_a_flip_needs_a_boolean_who_and_why(on: object, by: str, reason: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        kill_switch.checked(on, by, reason)


# --- decide and the re-check --------------------------------------------------------------


def test_state_for_and_decide_refuse_with_who_when_and_why(deps: Deps) -> None:
    add_tenant(deps, "globex")
    flip(deps, "acme", True)
    acme = state_for(
        deps.store, deps.tenants.get("acme"), None, "x", (), T0, kill_switch_setting=False
    )
    globex = state_for(
        deps.store, deps.tenants.get("globex"), None, "x", (), T0, kill_switch_setting=False
    )
    assert acme.tenant_kill_switch and not acme.global_kill_switch
    assert not globex.tenant_kill_switch and not globex.global_kill_switch
    proposed = propose(deps, "acme", "INC-1")
    assert proposed.started == () and len(proposed.skipped) == 4
    assert all(
        "the tenant's kill switch is on (set by U-OPS at 2026-03-04 14:00 UTC: "
        "automation outage)" in line
        for line in proposed.skipped
    )
    refused = [
        d for d in deps.store.query(Container.AUDIT, "acme") if d["action"].endswith("refused")
    ]
    assert len(refused) == 4


def test_the_global_switch_refuses_every_tenants_proposals(deps: Deps) -> None:
    add_tenant(deps, "globex")
    flip(deps, None, True)
    for tenant_id in ("acme", "globex"):
        seen = state_for(
            deps.store, deps.tenants.get(tenant_id), None, "x", (), T0, kill_switch_setting=False
        )
        assert seen.global_kill_switch
        decision = decide(rem_policy(deps), rem_proposal(), seen, T0)
        assert decision.outcome is Outcome.REFUSED
        assert any(
            r.startswith("the global kill switch is on (set by U-OPS") for r in decision.reasons
        )
    assert propose(deps, "acme", "INC-1").started == ()


def test_the_setting_alone_refuses_proposals(deps: Deps) -> None:
    forced = dataclasses.replace(
        deps, settings=deps.settings.model_copy(update={"autonomy_kill_switch": True})
    )
    proposed = propose(forced, "acme", "INC-1")
    assert proposed.started == ()
    assert all(kill_switch.SETTING in line for line in proposed.skipped)
    assert propose(deps, "acme", "INC-1").started  # the same store, the setting off: proposed


def test_a_switch_flipped_in_the_announce_window_stops_the_action_at_run_time(
    deps: Deps,
) -> None:
    propose(deps, "acme", "INC-1")
    scale = rem.by_action(deps)["scale_replicas"]
    assert remediation.open_(deps, "acme", scale.id)["next"] == "announce"
    deps.clock.at = T0 + timedelta(seconds=2)
    flip(deps, None, True)
    deps.clock.at = T0 + timedelta(seconds=10)  # the window has passed, nobody said stop
    assert remediation.begin(deps, "acme", scale.id) == {"go": False}
    record = load(deps.store, "acme", scale.id)
    assert record is not None and record.state is ActionState.FAILED
    assert "the global kill switch is on (set by U-OPS at 2026-03-04 14:00 UTC" in record.reasons[0]
    assert deps.executor.calls == []
    assert any("kill switch" in line for line in deps.chat.lines)


def test_a_tenant_switch_stops_an_approved_high_risk_action_before_it_runs(deps: Deps) -> None:
    propose(deps, "acme", "INC-1")
    rollback = rem.by_action(deps)["rollback_deployment"]
    assert remediation.open_(deps, "acme", rollback.id)["next"] == "approval"
    flip(deps, "acme", True)
    rem.click(deps, ActionKind.APPROVE, rollback.id, "U0LEAD")
    assert remediation.begin(deps, "acme", rollback.id) == {"go": False}
    record = load(deps.store, "acme", rollback.id)
    assert record is not None and record.state is ActionState.FAILED
    assert any("the tenant's kill switch is on (set by U-OPS" in r for r in record.reasons)
    assert deps.executor.calls == []


def test_turned_off_again_actions_run(deps: Deps) -> None:
    flip(deps, None, True)
    flip(deps, None, False)
    propose(deps, "acme", "INC-1")
    restart = rem.by_action(deps)["restart_pod"]
    remediation.open_(deps, "acme", restart.id)
    assert remediation.begin(deps, "acme", restart.id) == {"go": True}


# --- audit ------------------------------------------------------------------------------


def test_the_global_switch_is_recorded_in_every_tenants_chain(deps: Deps) -> None:
    add_tenant(deps, "globex")
    done = flip(deps, None, True)
    assert set(done.audited) == {"acme", "globex"}
    for tenant_id in ("acme", "globex"):
        records = [
            d
            for d in deps.store.query(Container.AUDIT, tenant_id)
            if d["action"] == "autonomy.kill_switch.on"
        ]
        assert len(records) == 1
        assert records[0]["detail"] == {
            "scope": "global",
            "by": "U-OPS",
            "reason": "automation outage",
            "via": "test",
        }
        assert verify(deps.store, tenant_id).ok
    flip(deps, "acme", True)
    globex = [d["action"] for d in deps.store.query(Container.AUDIT, "globex")]
    assert globex.count("autonomy.kill_switch.on") == 1  # acme's own switch is acme's alone


# helpers for decide on its own


def rem_policy(d: Deps) -> Policy:
    stored = load_policy(d.store, "acme")
    assert stored is not None
    return stored.policy


def rem_proposal() -> Proposal:
    return Proposal(
        id="p1",
        incident_id="INC-1",
        action="restart_pod",
        service="checkout",
        targets=("default/checkout",),
        category="bad_deployment",
        confidence=0.9,
        proposed_at=T0,
    )


# --- the CLI ------------------------------------------------------------------------------


def test_cli_flips_shows_and_audits_the_switches(cli_home: Path) -> None:
    for tenant in ("acme", "globex"):
        assert run("tenants", "add", tenant)[0] == 0
    code, out = run(
        "autonomy", "kill-switch", "on", "--all", "--by", "U-OPS", "--reason", "automation outage"
    )
    assert code == 0, out
    assert "global kill switch ON: U-OPS: automation outage (audited for acme, globex)" in out
    code, out = run("autonomy", "status", "--tenant", "globex")
    assert code == 0, out
    assert "global kill switch ON (set by U-OPS at" in out and "globex's kill switch off" in out
    code, out = run("policy", "show", "--tenant", "acme", "--json")
    shown = json.loads(out)["kill_switches"]
    assert shown["global"]["on"] is True and shown["global"]["switch"]["by"] == "U-OPS"
    assert shown["tenant"] == {"on": False, "switch": None}
    code, out = run(
        "autonomy", "kill-switch", "on", "--tenant", "acme", "--by", "U-X", "--reason", "drill"
    )
    assert code == 0 and "acme's kill switch ON" in out
    code, out = run("autonomy", "kill-switch", "off", "--all", "--by", "U-OPS", "--reason", "fixed")
    assert code == 0 and "global kill switch off" in out
    code, out = run("policy", "show", "--tenant", "acme")
    assert "global kill switch off" in out and "acme's kill switch ON (set by U-X" in out
    rt = bootstrap.build(load_settings())
    try:
        actions = [d["action"] for d in rt.store.query(Container.AUDIT, "acme")]
        globex = [d["action"] for d in rt.store.query(Container.AUDIT, "globex")]
    finally:
        rt.close()
    assert actions.count("autonomy.kill_switch.on") == 2
    assert actions.count("autonomy.kill_switch.off") == 1
    assert globex.count("autonomy.kill_switch.on") == 1
    assert run("audit", "verify", "--tenant", "acme")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("maybe", "--all"), "state 'maybe': on or off"),
        (("on",), "name exactly one of --tenant T"),
        (("on", "--all", "--tenant", "acme"), "name exactly one of --tenant T"),
        (("on", "--tenant", "nobody"), "unknown tenant 'nobody'"),
    ],
)
def test_cli_refusals_exit_2_with_one_line(
    cli_home: Path, args: tuple[str, ...], message: str
) -> None:
    run("tenants", "add", "acme")
    code, out = run("autonomy", "kill-switch", *args, "--by", "U-OPS", "--reason", "outage")
    assert code == 2 and message in out and len(out.strip().splitlines()) == 1
    code, out = run("autonomy", "kill-switch", "on", "--all", "--by", "U-OPS", "--reason", " ")
    assert code == 2 and "field 'reason': required text" in out


# --- telling the tenants -----------------------------------------------------------------


class _Channel:
    """A chat port that records posts, or fails like an unreachable workspace."""

    def __init__(self, *, fails: bool = False) -> None:
        self.fails = fails
        self.posts: list[tuple[ChatMessage, str | None]] = []

    def post(self, message: ChatMessage, *, channel: str | None) -> PostedMessage:
        if self.fails:
            raise DeliveryFailed("slack down", permanent=False)
        self.posts.append((message, channel))
        return PostedMessage(channel=channel or "terminal", ts=str(len(self.posts)))


def test_a_flip_is_told_in_each_tenants_channel_and_an_unreachable_one_is_skipped(
    deps: Deps,
) -> None:
    add_tenant(deps, "globex")
    channels = {"acme": _Channel(), "globex": _Channel(fails=True)}
    tenants = deps.tenants.list()
    done = kill_switch.flip(
        deps.store,
        [t.id for t in tenants],
        scope=None,
        on=True,
        by="U-OPS",
        reason="<!channel> runaway restarts",
        now=deps.clock.now(),
        actor="test",
        via="test",
    )

    told = kill_switch.announce(lambda t: channels[t.id], tenants, done)  # type: ignore[arg-type,return-value]

    assert told == ("acme",)
    assert state(deps, "globex").global_on  # the switch holds whether or not the post landed
    ((message, _),) = channels["acme"].posts
    assert message.tenant_id == "acme" and message.kind == "kill_switch"
    assert "stopped for every tenant" in message.text and "U-OPS" in message.text
    shown = json.dumps(message.blocks)
    assert "<!channel>" not in shown and "&lt;!channel&gt; runaway restarts" in shown


def test_cli_tells_the_active_tenants(cli_home: Path) -> None:
    for tenant in ("acme", "globex"):
        assert run("tenants", "add", tenant)[0] == 0
    code, out = run("autonomy", "kill-switch", "on", "--all", "--by", "U-OPS", "--reason", "outage")
    assert code == 0, out
    assert "told in Slack: acme, globex" in out
    saved = [p.read_text() for p in (cli_home / "home" / "messages").rglob("*.json")]
    assert sum("Automated remediation is stopped for every tenant" in s for s in saved) == 2


def test_json_output_stays_one_document_while_messages_are_shown(tmp_path: Path) -> None:
    """The terminal chat shows messages on stderr, so ``--json`` on stdout parses."""
    env = {**os.environ, "SRE_COPILOT_HOME": str(tmp_path / "home"), "SRE_COPILOT_STORE": "sqlite"}
    cli = [sys.executable, "-m", "shared.cli"]
    subprocess.run([*cli, "tenants", "add", "acme"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [
            *cli,
            "autonomy",
            "kill-switch",
            "on",
            "--all",
            "--by",
            "U-OPS",
            "--reason",
            "x",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["told"] == ["acme"]
    assert "Automated remediation is stopped" in done.stderr
