"""The kill switch through the local host: flipped while actions wait, nothing runs.

The remediation e2e's setup (real HTTP, the Slack test server, durable timers on
a manual clock, the dry-run executor's ledger). One analysis announces a
scale-out (5 s window) and asks approval for a rollback; the global switch goes
on while both wait; the window passes and the approver approves: the re-check
right before running refuses both, with who set the switch and why.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.audit import verify
from shared.autonomy import kill_switch
from shared.notify.actions import ActionKind
from shared.ports.store import Container
from tests.e2e import test_remediation_e2e as rem

pytestmark = pytest.mark.e2e

env = rem.env


def test_a_switch_flipped_while_actions_wait_stops_them_before_they_run(env: rem.Env) -> None:
    rem.open_incident(env)
    records = env.records()
    scale, rollback = records["scale_replicas"], records["rollback_deployment"]
    assert scale.state == "announced" and rollback.state == "awaiting_approval"

    kill_switch.flip(
        env.store,
        [t.id for t in env.live.runtime.tenants.list()],
        scope=None,
        on=True,
        by="U-OPS",
        reason="automation outage",
        now=env.live.clock.now(),
        actor="cli:U-OPS",
        via="cli",
    )
    assert env.click(ActionKind.APPROVE, rollback, "U0LEAD") == 200
    env.advance(timedelta(seconds=6))  # the announce window passes without a Stop

    after = env.records()
    for action in ("scale_replicas", "rollback_deployment"):
        record = after[action]
        assert record.state == "failed", (action, record.state)
        assert any(
            r.startswith("the global kill switch is on (set by U-OPS") for r in record.reasons
        )
        assert env.executed(record) == []
    assert sum("kill switch" in t for t in env.thread()) == 2, env.thread()
    kinds = [d["action"] for d in env.store.query(Container.AUDIT, "acme")]
    assert "autonomy.kill_switch.on" in kinds and "remediation.refused" in kinds
    assert verify(env.store, "acme").ok
