"""A change a responder would suspect, ruled out only when the evidence says so."""

from __future__ import annotations

from typing import Any

from shared.notify.incident_message import ruled_out

CHANGE = {"kind": "deployment", "service": "auth", "version": "v2.23.5"}
OTHER = [{"target": "payments-db", "category": "database_saturation"}]


def reading(signal: str, deviation: float, entity: str = "auth") -> dict[str, Any]:
    return {
        "signal": signal,
        "entity": entity,
        "current": 0.01,
        "baseline": 0.01,
        "deviation": deviation,
    }


def snapshot(*readings: dict[str, Any]) -> dict[str, Any]:
    return {"signals": list(readings)}


def test_a_measured_service_whose_symptoms_did_not_move_is_ruled_out() -> None:
    flat = snapshot(reading("error_ratio", 0.4), reading("latency_p99", -1.2))
    assert ruled_out(CHANGE, flat, OTHER) == (
        "ruled out: the error ratio and p99 latency of auth did not move"
    )


def test_a_service_whose_symptoms_moved_is_not_ruled_out() -> None:
    moved = snapshot(reading("error_ratio", 0.4), reading("latency_p99", 9.0))
    assert ruled_out(CHANGE, moved, OTHER) == ""


def test_a_service_nothing_measures_is_not_ruled_out() -> None:
    assert ruled_out(CHANGE, snapshot(reading("error_ratio", 0.1, entity="web")), OTHER) == ""
    assert ruled_out(CHANGE, None, OTHER) == ""


def test_a_change_a_hypothesis_names_needs_no_note() -> None:
    flat = snapshot(reading("error_ratio", 0.4))
    assert ruled_out(CHANGE, flat, [{"target": "auth", "category": "bad_deployment"}]) == ""
