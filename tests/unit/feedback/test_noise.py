"""Noise advice: figures per rule from the store, proposals reasoned from them, the diff."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.adapters.store.sqlite import SqliteStore
from shared.errors import BadInput
from shared.feedback.noise import Advice, noise_advice, render
from shared.feedback.prometheus_rules import (
    format_duration,
    parse_duration,
    parse_rule_file,
    read_rule_file,
    round_up_duration,
)
from shared.ports.metrics import QueryResult, Series
from shared.ports.store import Container
from tests.unit.feedback.noise_history import NOW, TENANT, History

RULES = Path(__file__).parents[2] / "fixtures" / "rules" / "acme.rules.yml"
CPU = {"severity": "warning", "team": "infra"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db")
    yield s
    s.close()


@pytest.fixture
def history(store: SqliteStore) -> History:
    return History(store)


def advise(store: SqliteStore, **kwargs: object) -> Advice:
    return noise_advice(store, TENANT, read_rule_file(RULES), now=NOW, **kwargs)  # type: ignore[arg-type]


def patch(original: str, diff: str) -> str:
    """Apply a unified diff with context checks: the tiny ``patch`` the tests trust."""
    lines = original.splitlines(keepends=True)
    out: list[str] = []
    at = 0
    body = diff.splitlines(keepends=True)
    i = 0
    while i < len(body):
        header = re.match(r"@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", body[i])
        i += 1
        if header is None:
            continue
        start = int(header[1]) - 1
        out.extend(lines[at:start])
        at = start
        while i < len(body) and not body[i].startswith("@@"):
            tag, text = body[i][0], body[i][1:]
            if tag in " -":
                assert lines[at] == text, f"context differs at line {at + 1}"
                at += 1
            if tag in " +":
                out.append(text)
            i += 1
    out.extend(lines[at:])
    return "".join(out)


def test_a_flapping_rule_gets_a_longer_for_reasoned_from_its_firings(
    store: SqliteStore, history: History
) -> None:
    history.flapping("NodeCpuBusy", CPU)
    advice = advise(store)
    (proposal,) = advice.proposals
    assert (proposal.alert, proposal.field, proposal.old, proposal.new) == (
        "NodeCpuBusy",
        "for",
        "2m",
        "9m",  # 80th percentile of 2..7 min is 6 min, on top of the current 2m, rounded up
    )
    assert (proposal.noise, proposal.suppressed, proposal.delayed) == (10, 9, 2)
    assert proposal.delayed_by == timedelta(minutes=7)
    assert "10 of 12 firings resolved by themselves within 15m" in proposal.reason
    assert "suppressed 9 of them and delayed 2" in proposal.reason
    (stats,) = advice.stats
    assert (stats.fired, stats.noise, stats.analysed, stats.accepted) == (12, 10, 12, 0)
    assert stats.median == timedelta(minutes=5)


def test_a_rule_whose_firings_lead_to_accepted_hypotheses_gets_nothing(
    store: SqliteStore, history: History
) -> None:
    for _ in range(6):  # short, but every one was the real thing
        history.fire(
            "CheckoutErrors",
            4,
            labels={"severity": "critical", "team": "payments"},
            verdict="likely",
            resolved_by_person_after=4,
        )
    advice = advise(store)
    assert advice.proposals == () and advice.diff == ""
    (stats,) = advice.stats
    assert (stats.analysed, stats.accepted) == (6, 6)
    assert any("left alone, 6 of 6 analysed incidents" in n for n in advice.notes)


def test_the_diff_applies_and_changes_only_the_proposed_lines(
    store: SqliteStore, history: History
) -> None:
    history.flapping("NodeCpuBusy", CPU)
    history.flapping("PodRestarting", {"severity": "warning"})
    advice = advise(store)
    original = RULES.read_text()
    proposed = patch(original, advice.diff)
    changed = [
        (a, b) for a, b in zip(original.splitlines(), proposed.splitlines(), strict=False) if a != b
    ]
    assert changed[0] == (
        "        for: 2m  # short on purpose, see INC-1234",
        "        for: 9m  # short on purpose, see INC-1234",
    )
    # PodRestarting had no for: one is inserted after its multi-line expr, at its keys' indent.
    assert "            > 0\n        for: 7m\n        labels:" in proposed
    assert len(proposed.splitlines()) == len(original.splitlines()) + 1
    assert [line for line in original.splitlines() if line.lstrip().startswith("#")] == [
        line for line in proposed.splitlines() if line.lstrip().startswith("#")
    ]
    rules = yaml.safe_load(proposed)["groups"][0]["rules"]
    assert rules[0]["for"] == "9m" and rules[2]["for"] == "7m"
    assert RULES.read_text() == original  # the user's file is never written


def test_alerts_go_to_the_rule_with_their_labels(store: SqliteStore, history: History) -> None:
    """Two CheckoutLatency rules differ by severity: only the critical one flaps."""
    for _ in range(6):
        history.fire("CheckoutLatency", 60, labels={"severity": "warning"}, acked_after=5)
    history.flapping("CheckoutLatency", {"severity": "critical"})
    advice = advise(store)
    assert [(s.rule.path, s.fired) for s in advice.stats] == [
        ("groups[1].rules[1]", 6),
        ("groups[1].rules[2]", 12),
    ]
    (proposal,) = advice.proposals
    assert proposal.path == "groups[1].rules[2]"
    assert "-        for: 5m\n+        for: 15m\n" in advice.diff


def test_a_person_acknowledging_before_the_end_is_not_self_resolution(
    store: SqliteStore, history: History
) -> None:
    for _ in range(6):
        history.fire("NodeCpuBusy", 4, labels=CPU, acked_after=1)
    advice = advise(store)
    (stats,) = advice.stats
    assert (stats.fired, stats.noise, stats.self_resolved) == (6, 0, 0)
    assert advice.proposals == ()


def test_kept_firings_are_never_lost_to_the_new_for(store: SqliteStore, history: History) -> None:
    """The real ones were as short as 5 min: for: stops short of them."""
    for minutes in (2, 3, 3, 4, 4, 6, 6, 7):
        history.fire("NodeCpuBusy", minutes, labels=CPU, verdict="not_it")
    history.fire("NodeCpuBusy", 5, labels=CPU, verdict="likely", resolved_by_person_after=5)
    (proposal,) = advise(store).proposals
    assert proposal.new == "7m"  # 2m + 5m: the accepted 5-minute firing still pages
    assert proposal.delayed == 1 and "1 with an accepted hypothesis" in proposal.reason


def test_too_few_firings_and_no_data_give_no_advice(store: SqliteStore, history: History) -> None:
    lines: list[str] = []
    render(advise(store), lines.append)
    assert lines[-1].startswith("no advice: no alert of ")
    for _ in range(3):
        history.fire("NodeCpuBusy", 2, labels=CPU)
    history.fire("SomethingElse", 2)
    advice = advise(store)
    assert advice.proposals == () and advice.unmatched == 1
    lines.clear()
    render(advice, lines.append)
    assert "fired 3 times, too few to judge" in "\n".join(lines)
    assert lines[-1] == "no advice: no rule is noisy enough to change"


def test_old_alerts_are_outside_the_window(store: SqliteStore, history: History) -> None:
    for minutes in (2, 3, 3, 4, 4, 5):
        history.fire("NodeCpuBusy", minutes, labels=CPU, days_ago=40)
    assert advise(store).stats == ()
    assert len(advise(store, since=timedelta(days=60)).proposals) == 1


class PeakMetrics:
    """The expression's peak during each firing: noise just over 0.9, the real ones at 0.99."""

    def __init__(self, peaks: dict[datetime, float]) -> None:
        self.peaks = peaks
        self.selectors: list[str] = []

    def query_range(
        self, selector: str, start: datetime, end: datetime, step: timedelta
    ) -> QueryResult:
        self.selectors.append(selector)
        value = next(v for at, v in self.peaks.items() if start <= at <= end)
        other = Series({"__name__": "x", "instance": "node-2:9100"}, ((start.timestamp(), 5.0),))
        mine = Series({"instance": "node-1:9100"}, ((start.timestamp(), value),))
        return QueryResult(series=(other, mine))


def test_a_measured_simple_comparison_gets_a_higher_threshold(
    store: SqliteStore, history: History
) -> None:
    history.flapping("NodeCpuBusy", CPU)
    peaks = {  # noise peaks 0.912 .. 0.930, the two that lasted at 0.99
        _time(d["starts_at"]) + timedelta(seconds=30): (
            0.99 if _minutes(d) >= 40 else 0.91 + 0.002 * int(d["id"].removeprefix("alert-"))
        )
        for d in store.query(Container.ALERTS, TENANT)
    }
    metrics = PeakMetrics(peaks)
    advice = advise(store, metrics=metrics)
    (proposal,) = advice.proposals
    assert (proposal.field, proposal.old, proposal.new) == ("threshold", "0.9", "0.93")
    assert metrics.selectors[0] == "node_cpu_busy_ratio"
    assert "kept all 2 that lasted or were handled, lowest kept peak 0.99" in proposal.reason
    assert "-        expr: node_cpu_busy_ratio > 0.9   # ratio of busy cores\n" in advice.diff
    assert "+        expr: node_cpu_busy_ratio > 0.93   # ratio of busy cores\n" in advice.diff


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _minutes(doc: dict[str, Any]) -> float:
    return (_time(doc["ends_at"]) - _time(doc["starts_at"])) / timedelta(minutes=1)


def test_without_measurements_only_for_is_proposed(store: SqliteStore, history: History) -> None:
    history.flapping("NodeCpuBusy", CPU)
    (proposal,) = advise(store).proposals
    assert proposal.field == "for"


def test_by_alert_name_is_what_the_weekly_report_shows(
    store: SqliteStore, history: History
) -> None:
    history.flapping("NodeCpuBusy", CPU)
    fixes = advise(store).by_alert_name()
    assert list(fixes) == ["NodeCpuBusy"] and fixes["NodeCpuBusy"].startswith("for: 2m -> 9m (")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("groups: [\n", "bad YAML at line 2"),
        ("- a\n- b\n", "field 'groups'"),
        ("groups:\n  - rules: []\n", "field 'groups[0].name'"),
        (
            "groups:\n  - name: g\n    rules:\n      - expr: up\n",
            "field 'groups[0].rules[0].alert'",
        ),
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: soon\n",
            "field 'groups[0].rules[0].for': 'soon' is not a Prometheus duration",
        ),
        ("groups:\n  - name: g\n    rules:\n      - alert: A\n", "field 'groups[0].rules[0].expr'"),
    ],
)
def test_a_bad_rule_file_names_the_file_and_field(text: str, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_rule_file(Path("rules.yml"), text)
    assert caught.value.reason.startswith("rules.yml: ")
    assert message in caught.value.reason


@pytest.mark.parametrize(
    ("expr", "simple"),
    [
        ("node_cpu_busy_ratio > 0.9", True),
        ('rate(x{code=~"5.."}[5m]) >= 10', True),
        ("a > 1 and b > 2", False),
        ("a < 3", False),
        ("a > b", False),
        ("a > bool 1", False),
    ],
)
def test_only_a_simple_comparison_has_a_threshold(expr: str, simple: bool) -> None:
    text = f"groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: '{expr}'\n"
    (rule,) = parse_rule_file(Path("r.yml"), text).rules
    assert (rule.threshold is not None) is simple


def test_durations_read_and_write_as_prometheus_does() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(0)) == "0s"
    assert round_up_duration(timedelta(minutes=8, seconds=1)) == timedelta(minutes=9)
    assert round_up_duration(timedelta(minutes=12)) == timedelta(minutes=15)
    assert round_up_duration(timedelta(minutes=31)) == timedelta(minutes=45)
    assert round_up_duration(timedelta(minutes=130)) == timedelta(hours=3)
    with pytest.raises(ValueError):
        parse_duration("5 minutes")
