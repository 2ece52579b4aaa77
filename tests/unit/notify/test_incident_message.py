"""The incident message within Slack's limits, for every scenario we have.

Each bundle (the samples always; the kit's public set when ``../shared`` is
present) is replayed through the analysis steps and rendered with its alerts,
changes, hypotheses, runbooks, similar incidents and a crowd of feedback.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.enrichment.assemble import assemble_context
from shared.formatting import number, quantity
from shared.ingestion.correlation import merge_alerts
from shared.models.analysis import ContextSnapshot
from shared.models.incident import Incident, IncidentStatus
from shared.notify.actions import parse_action_id
from shared.notify.incident_message import MAX_BLOCKS, clip, render_incident
from shared.ports.metrics import QueryResult
from shared.replay.bundle import find_runbooks_dir, load_bundle
from shared.replay.pipeline import analyze, context_request, runbook_index
from shared.triage.impact import assess

REPO = Path(__file__).parents[3]
KIT = REPO.parent / "shared" / "scenarios" / "public" / "incidents"
BUNDLES = sorted((REPO / "samples" / "bundles").iterdir()) + (
    sorted(p for p in KIT.iterdir() if p.is_dir()) if KIT.is_dir() else []
)


def incident_and_analysis(folder: Path) -> tuple[Incident, dict[str, Any], dict[str, Any]]:
    bundle = load_bundle(folder)
    request = context_request(bundle)
    runbooks = find_runbooks_dir(folder)
    result = analyze(
        request,
        metrics=bundle.metrics(),
        index=runbook_index(runbooks) if runbooks else None,
    )
    now = bundle.scenario.alert_time
    seed = Incident(
        id="INC-260101-ABCDEF",
        tenant_id=bundle.scenario.tenant,
        title="t",
        first_seen=now,
        last_seen=now,
        created_at=now,
        updated_at=now,
    )
    incident = merge_alerts(seed, bundle.alerts, now)
    stored = {
        "hypotheses": result["hypotheses"],
        "runbooks": result["runbooks"],
        "similar_incidents": result["context"]["similar_incidents"],
        "model_version": "conf-1.0+w:default",
        "llm": {"status": "failed"},
        "impact": assess(ContextSnapshot.model_validate(result["context"])).to_json(),
    }
    return incident, result["context"], stored


def check_limits(blocks: tuple[dict[str, Any], ...], text: str) -> None:
    assert 0 < len(blocks) <= MAX_BLOCKS
    assert 0 < len(text) <= 3000
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= 75
                assert len(element["action_id"]) <= 255
                assert len(element["value"]) <= 2000
                assert parse_action_id(element["action_id"]) is not None
        if block["type"] == "context":
            assert len(block["elements"]) <= 10


@pytest.mark.parametrize("folder", BUNDLES, ids=lambda p: p.name)
def test_message_for_every_scenario_is_within_slack_limits(folder: Path) -> None:
    incident, snapshot, stored = incident_and_analysis(folder)
    feedback = [
        {
            "category": h["category"],
            "target": h["target"],
            "verdict": "likely",
            "user_name": f"user{i}",
        }
        for h in stored["hypotheses"]
        for i in range(40)
    ]
    message = render_incident(incident, snapshot=snapshot, analysis=stored, feedback=feedback)
    check_limits(message.blocks, message.text)
    rendered = json.dumps(message.blocks, ensure_ascii=False)
    top = stored["hypotheses"][0]
    assert top["title"][:40] in rendered
    assert f"{top['confidence']:.0%}" in rendered
    # The confidence competes; the support it came from is shown beside the factors.
    assert f"support {number(top['score'])} (" in rendered
    impact = stored["impact"]
    assert f"Impact *{impact['level']}* ({number(impact['score'])}/100): affects " in rendered
    assert "Claude unavailable (failed)" in rendered  # the flag when the LLM failed
    assert incident.id in message.text


def test_an_oversized_context_is_shortened_visibly_not_rejected() -> None:
    folder = BUNDLES[0]
    incident, snapshot, stored = incident_and_analysis(folder)
    huge = "x" * 5000
    stored["hypotheses"] = [
        {**h, "title": huge, "evidence": [{"kind": "metric", "summary": huge, "strength": 1.0}] * 3}
        for h in stored["hypotheses"]
    ]
    ref = incident.alerts[0].model_copy(update={"summary": huge})
    many = tuple(ref.model_copy(update={"id": f"a{i}"}) for i in range(60))
    incident = incident.model_copy(update={"alerts": many, "title": huge})
    message = render_incident(incident, snapshot=snapshot, analysis=stored)
    check_limits(message.blocks, message.text)
    assert "…" in json.dumps(message.blocks, ensure_ascii=False)


def test_resolved_incident_has_no_buttons_and_says_so() -> None:
    incident, snapshot, stored = incident_and_analysis(BUNDLES[0])
    resolved = incident.model_copy(
        update={"status": IncidentStatus.RESOLVED, "resolved_at": datetime.now(UTC)}
    )
    message = render_incident(resolved, snapshot=snapshot, analysis=stored)
    assert not [b for b in message.blocks if b["type"] == "actions"]
    assert "Status *resolved*" in json.dumps(message.blocks)


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.004, "ratio", "0.4%"),
        (0.12, "ratio", "12%"),
        (0.3496, "ratio", "35%"),
        (0.9996, "ratio", "99.96%"),
        (0.85, "s", "850 ms"),
        (0.287, "s", "287 ms"),
        (2.5, "s", "2.5 s"),
        (1340.0, "req/s", "1,340 req/s"),
        (0.0042, "req/s", "0.0042 req/s"),
        (1.5 * 1024**3, "bytes", "1.5 GiB"),
    ],
)
def test_numbers_read_as_an_sre_reads_them(value: float, unit: str, text: str) -> None:
    assert quantity(value, unit) == text


@pytest.mark.parametrize("folder", BUNDLES, ids=lambda p: p.name)
def test_one_message_formats_every_number_one_way(folder: Path) -> None:
    """No "1.34e+03", no "32 %" beside "35%", every detector and fact through one formatter."""
    incident, snapshot, stored = incident_and_analysis(folder)
    message = render_incident(incident, snapshot=snapshot, analysis=stored)
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert not re.search(r"\d\.?\de[+-]\d", text), text
    assert not re.search(r"\d %", text), text
    assert not re.search(r"\d\.\d{3,}%", text), text


def test_clip_marks_what_it_cut() -> None:
    assert clip("abcdef", 4) == "abc…"
    assert clip("abc", 4) == "abc"


def test_context_without_metrics_still_renders() -> None:
    bundle = load_bundle(BUNDLES[0])
    context = assemble_context(context_request(bundle), metrics=None)
    incident, _, _ = incident_and_analysis(BUNDLES[0])
    message = render_incident(incident, snapshot=context, analysis=None)
    check_limits(message.blocks, message.text)
    assert "Likely root causes" not in json.dumps(message.blocks)


def _without_metrics(name: str) -> tuple[Incident, dict[str, Any], dict[str, Any]]:
    folder = REPO / "samples" / "bundles" / name
    incident, _, _ = incident_and_analysis(folder)
    result = analyze(context_request(load_bundle(folder)), metrics=None, index=None)
    stored = {
        "hypotheses": result["hypotheses"],
        "model_version": "conf-1.0+w:default",
        "unconfigured": ["metrics", "runbooks"],
    }
    return incident, result["context"], stored


def _contexts(blocks: tuple[dict[str, Any], ...]) -> list[str]:
    return [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]


def test_nothing_standing_out_says_insufficient_evidence_and_what_is_missing() -> None:
    incident, snapshot, stored = _without_metrics("sample-disk-full")
    assert stored["hypotheses"] == []  # only a deployment of another service, no metrics
    message = render_incident(incident, snapshot=snapshot, analysis=stored)
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "No hypothesis fits" not in text
    assert (
        "Insufficient evidence: no root cause stands out. Missing: no metrics source configured"
        in text
    )
    # The metrics source is named once (in what is missing), the runbooks once.
    assert text.count("metrics source") == 1
    assert _contexts(message.blocks).count("No runbook corpus is configured") == 1


class _Down:
    """A configured metrics source that answers no query (Prometheus unreachable)."""

    def query_range(
        self, selector: str, start: datetime, end: datetime, step: timedelta
    ) -> QueryResult:
        return QueryResult(error="connection refused")


def test_an_unreachable_metrics_source_is_named_once() -> None:
    folder = REPO / "samples" / "bundles" / "sample-disk-full"
    incident, _, _ = incident_and_analysis(folder)
    result = analyze(context_request(load_bundle(folder)), metrics=_Down(), index=None)
    stored = {"hypotheses": result["hypotheses"], "model_version": "conf-1.1+w:default"}
    assert stored["hypotheses"] == []
    message = render_incident(incident, snapshot=result["context"], analysis=stored)
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "Missing: metrics source not reachable (no query answered)" in text
    assert "connection refused" not in text  # the Partial-result line no longer repeats it
    assert text.count("metrics source") == 1


def test_unconfigured_sources_are_one_context_line_of_the_message() -> None:
    incident, snapshot, stored = _without_metrics("sample-checkout-deploy")
    assert stored["hypotheses"]  # the change-only candidate
    message = render_incident(incident, snapshot=snapshot, analysis=stored)
    line = (
        "No metrics source is configured for this tenant: root causes rest on alerts and "
        "changes only · No runbook corpus is configured"
    )
    assert _contexts(message.blocks).count(line) == 1
    assert json.dumps(message.blocks, ensure_ascii=False).count("No runbook corpus") == 1
    configured = render_incident(
        incident, snapshot=snapshot, analysis={**stored, "unconfigured": []}
    )
    assert "is configured" not in json.dumps(configured.blocks, ensure_ascii=False)
