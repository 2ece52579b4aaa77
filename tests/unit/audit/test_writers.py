"""The product's audit writers (Slack clicks, responder actions, calibration) build one chain."""

from __future__ import annotations

from shared import bootstrap
from shared.audit import export, verify
from shared.incidents.lifecycle import apply_action
from shared.notify.actions import ActionKind
from shared.scoring.calibration import KEPT_ACTION, calibrate
from tests.unit.feedback.test_learning_loop import (
    analyse,
    click,
    open_incident,
)


def test_clicks_actions_and_calibration_append_to_one_verified_chain(
    rt: bootstrap.Runtime,
) -> None:
    incident_id = open_incident(rt, 1)
    top = analyse(rt, incident_id)["hypotheses"][0]
    for user in ("U1", "U2"):
        assert click(rt, incident_id, top, ActionKind.LIKELY, user).kind == "feedback_recorded"
    acknowledge = {"action": "acknowledge", "user_name": "dana"}
    apply_action(rt, "acme", incident_id, acknowledge, key="work-1")
    apply_action(rt, "acme", incident_id, acknowledge, key="work-1")  # a retried activity
    resolve = {"action": "resolve", "user_name": "dana"}
    apply_action(rt, "acme", incident_id, resolve, key="work-2")
    calibrate(rt.store, "acme", now=rt.clock.now())

    records = list(export(rt.store, "acme"))
    assert [r["action"] for r in records] == [
        "feedback.likely",
        "feedback.likely",
        "incident.acknowledge",
        "incident.resolve",
        KEPT_ACTION,
    ]
    assert all({"seq", "prev_hash", "hash"} <= set(r) for r in records)
    result = verify(rt.store, "acme")
    assert (result.ok, result.count, result.unchained) == (True, 5, 0)
