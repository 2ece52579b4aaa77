"""Noise advice: which alert rules page for nothing, and the rule change that would quiet them.

What is read (store, one tenant, alerts that started in the last ``since``):

- each alert's membership in an incident (``Container.INCIDENT_ALERTS``: name,
  status, start, end, severity) and its labels (``Container.ALERTS``), which
  tie it to one rule of the tenant's rule file (alertname and the rule's
  fixed labels, the most specific rule winning);
- its incident: ``acknowledged_at`` (a person acknowledged, in Slack or in
  PagerDuty) and the audit trail (``incident.resolve`` /
  ``incident.resolve_requested``: a person resolved it). An incident's own
  ``resolved_at`` is not a person: ingestion sets it when the alerts stop;
- whether the incident led to an accepted hypothesis: a responder resolved it
  with one (its history entry) or a hypothesis has more "Likely" than "Not
  it" verdicts. Only incidents with a stored analysis that proposed
  hypotheses count towards the acceptance share.

A firing **resolved by itself** when it ended before any person acknowledged
or resolved its incident; it is **noise** when it did so within ``within``.
Everything else is kept: firings that lasted, that a person handled, that
are still firing, or whose incident accepted a hypothesis.

A proposal reasons from those firings. Prometheus sends an alert once its
condition has held for ``for``, so a firing seen for ``d`` held ``for + d``;
a new ``for: F`` would have suppressed it when ``d < F - for`` and delayed
every firing that lasted by ``F - for``. ``F`` is the 80th percentile of the
noise durations plus the current ``for``, rounded up to a duration a person
writes, and never so long that a kept firing would have been lost. A higher
threshold is proposed only for ``expr > number`` and only from measured
peaks of the expression during each firing (the tenant's metrics source):
above most noise peaks and below every kept peak.

The rules come from the tenant's rule file (the advice then carries a diff
of it) or from its Prometheus' ``/api/v1/rules`` (``LiveRules``: no file, so
the proposals are lines of text and there is no diff).

Expected outcomes are values (``Advice`` with its rows, proposals and the
reasons none were made); only a bad rule file raises ``BadInput``.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from shared.feedback.prometheus_rules import (
    Edit,
    LiveRules,
    Rule,
    RuleFile,
    apply_edits,
    editable,
    format_duration,
    parse_duration,
    round_down_duration,
    round_up_duration,
    unified_diff,
)
from shared.formatting import percent
from shared.incidents import stored_analysis
from shared.models.base import doc_id, iso
from shared.ports.metrics import MetricsSource
from shared.ports.store import Container, DocumentStore, Filter

WITHIN = timedelta(minutes=15)
"""A firing that ends by itself within this long is noise."""
SINCE = timedelta(days=30)
MIN_FIRINGS = 5
"""Fewer firings of a rule than this say nothing about it."""
MIN_NOISE = 3
"""Noise firings a new ``for`` is derived from, at least."""
NOISY_SHARE = 0.5
"""A rule is noisy when at least this share of its firings is noise ..."""
MIN_ANALYSED = 3
"""... or when this many analysed incidents accepted no hypothesis."""
ACCEPTED_SHARE = 0.5
"""A rule whose analysed incidents accepted a hypothesis this often is left alone."""
PERCENTILE = 0.8
HUMAN_RESOLUTION = ("incident.resolve", "incident.resolve_requested")
PEAK_STEP = timedelta(seconds=30)

Rules = RuleFile | LiveRules
"""A rule file (proposals come with a diff) or the rules a Prometheus serves (no diff)."""

Measure = Callable[[Rule, "Firing"], float | None]
"""The peak of a rule's expression (left-hand side) during a firing, or None unmeasured."""


@dataclass(frozen=True, slots=True)
class Firing:
    """One alert of the rule, as the store remembers it."""

    alert_id: str
    incident_id: str
    name: str
    labels: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    duration: timedelta
    """Until it ended, or until now for one still firing (a lower bound)."""
    ended: bool
    self_resolved: bool
    """Ended before any person acknowledged or resolved its incident."""
    analysed: bool
    """Its incident has a stored analysis that proposed hypotheses."""
    accepted: bool
    """Its incident led to an accepted hypothesis."""
    peak: float | None = None


@dataclass(frozen=True, slots=True)
class Proposal:
    """A change to one rule, with why."""

    alert: str
    path: str
    field: str
    """``for`` or ``threshold``."""
    old: str
    new: str
    reason: str
    suppressed: int
    """Noise firings the change would have suppressed ..."""
    noise: int
    """... of this many."""
    delayed: int
    """Kept firings it would have delayed (``for``) ..."""
    delayed_by: timedelta
    """... by this much each."""

    def to_json(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "rule": self.path,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "reason": self.reason,
            "suppressed": self.suppressed,
            "noise": self.noise,
            "delayed": self.delayed,
            "delayed_by_seconds": round(self.delayed_by.total_seconds()),
        }


@dataclass(frozen=True, slots=True)
class RuleStats:
    """What one rule's firings did over the period."""

    rule: Rule
    fired: int
    noise: int
    """Resolved by themselves within ``within``."""
    self_resolved: int
    median: timedelta | None
    analysed: int
    """Distinct incidents with hypotheses ..."""
    accepted: int
    """... of which led to an accepted hypothesis."""

    @property
    def noise_share(self) -> float:
        return self.noise / self.fired if self.fired else 0.0

    @property
    def accepted_share(self) -> float | None:
        return self.accepted / self.analysed if self.analysed else None

    def line(self, within: timedelta) -> str:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(self.rule.labels.items()) if "{{" not in v)
        name = f"{self.rule.alert} ({labels})" if labels else self.rule.alert
        median = format_duration(self.median) if self.median is not None else "-"
        accepted = (
            f"{self.accepted} of {self.analysed} analysed incidents with an accepted hypothesis"
            if self.analysed
            else "no analysed incidents"
        )
        return (
            f"{name}: fired {self.fired}, {self.noise} resolved by themselves within "
            f"{format_duration(within)} ({percent(self.noise_share)}), median {median}, {accepted}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "alert": self.rule.alert,
            "rule": self.rule.path,
            "group": self.rule.group,
            "labels": dict(self.rule.labels),
            "fired": self.fired,
            "self_resolved_within": self.noise,
            "self_resolved_share": round(self.noise_share, 4),
            "self_resolved_any_duration": self.self_resolved,
            "median_seconds": None if self.median is None else round(self.median.total_seconds()),
            "analysed_incidents": self.analysed,
            "accepted_incidents": self.accepted,
            "accepted_share": None
            if self.accepted_share is None
            else round(self.accepted_share, 4),
        }


@dataclass(frozen=True, slots=True)
class Advice:
    """Every rule's figures, the proposals, the notes on rules left alone, and the diff."""

    tenant_id: str
    rules_file: str
    since: datetime
    until: datetime
    within: timedelta
    stats: tuple[RuleStats, ...]
    proposals: tuple[Proposal, ...]
    notes: tuple[str, ...]
    diff: str
    unmatched: int = 0
    """Alerts in the period that no rule of the file fires."""
    live: bool = False
    """The rules were read from Prometheus' API (``rules_file`` says which): no diff."""

    def by_alert_name(self) -> dict[str, str]:
        """``{alertname: "for: 2m -> 10m (why)"}``: the weekly report's proposed fixes."""
        fixes: dict[str, list[str]] = defaultdict(list)
        for p in self.proposals:
            fixes[p.alert].append(f"{p.field}: {p.old} -> {p.new} ({p.reason})")
        return {name: "; ".join(items) for name, items in fixes.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant_id,
            "rules_file": self.rules_file,
            "since": iso(self.since),
            "until": iso(self.until),
            "within_seconds": round(self.within.total_seconds()),
            "rules": [s.to_json() for s in self.stats],
            "proposals": [p.to_json() for p in self.proposals],
            "notes": list(self.notes),
            "unmatched_alerts": self.unmatched,
            "rules_from_api": self.live,
            "diff": self.diff,
        }


# -- reading the store ----------------------------------------------------------------------


def firings(store: DocumentStore, tenant_id: str, since: datetime, now: datetime) -> list[Firing]:
    """Every alert that started since ``since``, judged against its incident."""
    members = store.query(
        Container.INCIDENT_ALERTS, tenant_id, [Filter("starts_at", ">=", iso(since))]
    )
    if not members:
        return []
    labels = {
        str(d["id"]): {str(k): str(v) for k, v in (d.get("labels") or {}).items()}
        for d in store.query(Container.ALERTS, tenant_id, [Filter("starts_at", ">=", iso(since))])
    }
    incidents = {
        str(d["id"]): d
        for d in store.query(
            Container.INCIDENTS, tenant_id, [Filter("last_seen", ">=", iso(since))]
        )
    }
    resolved_by_person = _human_resolutions(store, tenant_id, since)
    verdicts = _verdicts(store, tenant_id, since)
    facts: dict[str, tuple[bool, bool]] = {}
    out: dict[str, Firing] = {}
    for doc in members:
        alert_id, incident_id = str(doc.get("alert_id", doc["id"])), str(doc["incidentId"])
        if alert_id in out:
            continue
        if incident_id not in facts:
            facts[incident_id] = _incident_facts(store, tenant_id, incident_id, verdicts)
        analysed, accepted = facts[incident_id]
        starts = _time(doc["starts_at"])
        ends = (
            _time(doc["ends_at"])
            if doc.get("ends_at") and doc.get("status") == "resolved"
            else None
        )
        incident = (
            incidents.get(incident_id)
            or store.get(Container.INCIDENTS, tenant_id, incident_id)
            or {}
        )
        touched = [
            t
            for t in (
                _time(incident["acknowledged_at"]) if incident.get("acknowledged_at") else None,
                resolved_by_person.get(incident_id),
            )
            if t is not None
        ]
        person = min(touched) if touched else None
        alert_labels = labels.get(alert_id) or {"alertname": str(doc["name"])}
        alert_labels.setdefault("severity", str(doc.get("severity", "")))
        out[alert_id] = Firing(
            alert_id=alert_id,
            incident_id=incident_id,
            name=str(doc["name"]),
            labels=alert_labels,
            starts_at=starts,
            ends_at=ends,
            duration=max(timedelta(0), (ends or now) - starts),
            ended=ends is not None,
            self_resolved=ends is not None and (person is None or ends <= person),
            analysed=analysed,
            accepted=accepted,
        )
    return sorted(out.values(), key=lambda f: (f.starts_at, f.alert_id))


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _human_resolutions(
    store: DocumentStore, tenant_id: str, since: datetime
) -> dict[str, datetime]:
    """Incident id -> when a person first resolved it (or asked to), from the audit trail."""
    first: dict[str, datetime] = {}
    for action in HUMAN_RESOLUTION:
        for doc in store.query(
            Container.AUDIT,
            tenant_id,
            [Filter("action", "=", action), Filter("at", ">=", iso(since))],
        ):
            subject = str(doc.get("subject", "")).removeprefix("incident:")
            at = _time(doc["at"])
            if subject not in first or at < first[subject]:
                first[subject] = at
    return first


def _verdicts(store: DocumentStore, tenant_id: str, since: datetime) -> dict[str, dict[str, int]]:
    """Incident id -> hypothesis (category, target) -> likely minus not-it."""
    net: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for doc in store.query(
        Container.FEEDBACK,
        tenant_id,
        [Filter("at", ">=", iso(since)), Filter("verdict", "!=", None)],
    ):
        key = f"{doc.get('category')}|{str(doc.get('target', '')).lower()}"
        step = {"likely": 1, "not_it": -1}.get(str(doc.get("verdict")), 0)
        net[str(doc.get("incident_id"))][key] += step
    return net


def _incident_facts(
    store: DocumentStore,
    tenant_id: str,
    incident_id: str,
    verdicts: Mapping[str, Mapping[str, int]],
) -> tuple[bool, bool]:
    """(analysed: hypotheses were proposed, accepted: one was accepted)."""
    analysis = stored_analysis.load(store, tenant_id, incident_id)
    history = store.get(Container.HISTORY, tenant_id, doc_id("", incident_id))
    resolved_with = history is not None and bool(history.get("category"))
    liked = any(n > 0 for n in verdicts.get(incident_id, {}).values())
    analysed = bool(analysis is not None and analysis.hypotheses) or resolved_with or liked
    return analysed, resolved_with or liked


# -- judging the rules ------------------------------------------------------------------------


def assign(rules: Sequence[Rule], items: Iterable[Firing]) -> tuple[dict[int, list[Firing]], int]:
    """Each firing to the most specific rule that fires it (first on a tie); and the unmatched."""
    by_rule: dict[int, list[Firing]] = defaultdict(list)
    unmatched = 0
    for f in items:
        best: tuple[int, int] | None = None
        for rule in rules:
            score = rule.matches(f.name, f.labels)
            if score is not None and (best is None or score > best[0]):
                best = (score, rule.index)
        if best is None:
            unmatched += 1
        else:
            by_rule[best[1]].append(f)
    return by_rule, unmatched


def stats_of(rule: Rule, items: Sequence[Firing], within: timedelta) -> RuleStats:
    ended = [f.duration for f in items if f.ended]
    incidents: dict[str, bool] = {}
    for f in items:
        if f.analysed:
            incidents[f.incident_id] = incidents.get(f.incident_id, False) or f.accepted
    return RuleStats(
        rule=rule,
        fired=len(items),
        noise=sum(1 for f in items if is_noise(f, within)),
        self_resolved=sum(1 for f in items if f.self_resolved),
        median=_median(ended),
        analysed=len(incidents),
        accepted=sum(incidents.values()),
    )


def is_noise(f: Firing, within: timedelta) -> bool:
    return f.self_resolved and not f.accepted and f.duration <= within


def _median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def nearest_rank(values: Sequence[float], share: float) -> float:
    """The value at or below which ``share`` of ``values`` lie (nearest-rank percentile)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def propose_for(stats: RuleStats, items: Sequence[Firing], within: timedelta) -> Proposal | str:
    """A longer ``for``, or why there is none."""
    rule = stats.rule
    noise = [f for f in items if is_noise(f, within)]
    kept = [f for f in items if not is_noise(f, within)]
    if len(noise) < MIN_NOISE:
        return (
            f"only {len(noise)} of its firings resolved by themselves: a longer for: would not help"
        )
    p80 = timedelta(seconds=nearest_rank([f.duration.total_seconds() for f in noise], PERCENTILE))
    new = round_up_duration(rule.for_ + p80 + timedelta(seconds=1))
    shortest = min((f.duration for f in kept), default=None)
    if shortest is not None and new - rule.for_ > shortest:
        # A kept firing would have been lost: stop short of the shortest one.
        new = round_down_duration(rule.for_ + shortest)
    extra = new - rule.for_
    suppressed = sum(1 for f in noise if f.duration < extra)
    if extra <= timedelta(0) or suppressed * 2 < len(noise):
        least = format_duration(shortest or timedelta(0))
        return (
            f"firings that were kept lasted as little as {least}: no for: suppresses most of "
            f"the {len(noise)} that resolved by themselves without losing them"
        )
    delayed = [f for f in kept if f.duration >= extra]
    accepted = sum(1 for f in delayed if f.accepted)
    old = rule.for_text or "0s"
    why = (
        f"{len(noise)} of {stats.fired} firings resolved by themselves within "
        f"{format_duration(within)}, 80% within {format_duration(p80)}; "
        f"for: {format_duration(new)} would have suppressed {suppressed} of them and "
        f"delayed {len(delayed)} that lasted or were handled "
        f"({accepted} with an accepted hypothesis) by {format_duration(extra)}"
    )
    return Proposal(
        alert=rule.alert,
        path=rule.path,
        field="for",
        old=old,
        new=format_duration(new),
        reason=why,
        suppressed=suppressed,
        noise=len(noise),
        delayed=len(delayed),
        delayed_by=extra,
    )


def propose_threshold(
    stats: RuleStats, items: Sequence[Firing], within: timedelta
) -> Proposal | None:
    """A higher threshold for ``expr > number``, from the expression's measured peaks."""
    rule = stats.rule
    threshold = rule.threshold
    if threshold is None:
        return None
    noise = [f for f in items if is_noise(f, within)]
    kept = [f for f in items if not is_noise(f, within)]
    peaks = [f.peak for f in noise if f.peak is not None]
    kept_peaks = [f.peak for f in kept if f.peak is not None]
    if len(peaks) < MIN_NOISE or len(peaks) < len(noise) / 2 or len(kept_peaks) < len(kept):
        return None  # not measured well enough to justify a number
    bar = nearest_rank(peaks, PERCENTILE)
    ceiling = min(kept_peaks, default=math.inf)
    new = _round_number_above(bar)
    if not (new > threshold.value and new < ceiling):
        return None
    suppressed = sum(1 for p in peaks if p < new)
    if suppressed * 2 < len(noise):
        return None
    low = f", lowest kept peak {_num(ceiling)}" if kept_peaks else ""
    why = (
        f"{len(noise)} of {stats.fired} firings resolved by themselves, 80% of their peaks "
        f"at most {_num(bar)}; {threshold.op} {_num(new)} would have suppressed {suppressed} "
        f"of them and kept all {len(kept)} that lasted or were handled{low}"
    )
    return Proposal(
        alert=rule.alert,
        path=rule.path,
        field="threshold",
        old=threshold.text,
        new=_num(new),
        reason=why,
        suppressed=suppressed,
        noise=len(noise),
        delayed=0,
        delayed_by=timedelta(0),
    )


def _round_number_above(value: float) -> float:
    """The next value above ``value`` with two significant figures (0.913 -> 0.92, 87 -> 88)."""
    if not math.isfinite(value) or value <= 0:
        return math.inf  # nothing sensible to round to: no proposal
    scale = 10.0 ** (math.floor(math.log10(value)) - 1)
    return float(f"{(math.floor(value / scale + 1e-9) + 1) * scale:.6g}")


def _num(value: float) -> str:
    return f"{value:.6g}"


def judge(s: RuleStats) -> str | None:
    """None when the rule is worth a proposal; else why not ('' when it is simply quiet)."""
    if s.fired < MIN_FIRINGS:
        return f"fired {s.fired} times, too few to judge"
    accepted = s.accepted_share
    if accepted is not None and accepted >= ACCEPTED_SHARE:
        return (
            f"left alone, {s.accepted} of {s.analysed} analysed incidents "
            "led to an accepted hypothesis"
        )
    never = s.analysed >= MIN_ANALYSED and s.accepted == 0
    if s.noise_share < NOISY_SHARE and not never:
        return ""
    if s.rule.written and not editable(s.rule):
        return "written in a layout this tool does not edit line by line"
    return None


def rules_source(rules: Rules) -> str:
    """How advice names where its rules came from."""
    if isinstance(rules, LiveRules):
        return f"{rules.source} (/api/v1/rules)"
    return str(rules.path)


def advise(
    rule_file: Rules,
    items: Sequence[Firing],
    *,
    tenant_id: str,
    since: datetime,
    until: datetime,
    within: timedelta = WITHIN,
) -> Advice:
    """Figures per rule, a proposal for each noisy one, and the diff that makes them (a file's)."""
    by_rule, unmatched = assign(rule_file.rules, items)
    stats: list[RuleStats] = []
    proposals: list[Proposal] = []
    notes: list[str] = []
    edits: list[Edit] = []
    for rule in rule_file.rules:
        mine = by_rule.get(rule.index, [])
        if not mine:
            continue
        s = stats_of(rule, mine, within)
        stats.append(s)
        note = judge(s)
        if note is not None:
            if note:
                notes.append(f"{rule.alert} ({rule.path}): {note}")
            continue
        # A threshold keeps every firing that mattered undelayed: preferred when measured.
        made = propose_threshold(s, mine, within) or propose_for(s, mine, within)
        if isinstance(made, str):
            never = s.analysed >= MIN_ANALYSED and s.accepted == 0
            why = (
                f"never led to an accepted hypothesis in {s.analysed} analysed incidents, but "
                if never
                else ""
            )
            notes.append(f"{rule.alert} ({rule.path}): {why}{made}")
            continue
        proposals.append(made)
        edits.append(
            Edit(
                rule=rule,
                for_=parse_duration(made.new) if made.field == "for" else None,
                threshold=made.new if made.field == "threshold" else None,
            )
        )
    diff = ""
    if edits and isinstance(rule_file, RuleFile):
        diff = unified_diff(rule_file, apply_edits(rule_file, edits))
    return Advice(
        tenant_id=tenant_id,
        rules_file=rules_source(rule_file),
        since=since,
        until=until,
        within=within,
        stats=tuple(stats),
        proposals=tuple(proposals),
        notes=tuple(notes),
        diff=diff,
        unmatched=unmatched,
        live=isinstance(rule_file, LiveRules),
    )


def measure_peaks(
    rule_file: Rules,
    items: Sequence[Firing],
    metrics: MetricsSource,
    *,
    only: Collection[int] | None = None,
) -> list[Firing]:
    """``items`` with the peak of their rule's left-hand side during each firing, where measurable.

    Only rules with a simple threshold are measured; the series compared is
    the one whose labels agree with the alert's on every label they share.
    A query that fails leaves the firing unmeasured (and no threshold is proposed).
    """
    by_rule, _ = assign(rule_file.rules, items)
    peaks: dict[str, float] = {}
    for rule in rule_file.rules:
        threshold = rule.threshold
        if threshold is None or (only is not None and rule.index not in only):
            continue
        for f in by_rule.get(rule.index, []):
            start = f.starts_at - rule.for_
            end = f.ends_at or f.starts_at + f.duration
            result = metrics.query_range(
                threshold.lhs, start, max(end, start + PEAK_STEP), PEAK_STEP
            )
            if not result.ok:
                continue
            values = [
                v
                for series in result.series
                if all(f.labels.get(k, v) == v for k, v in series.labels.items() if k != "__name__")
                for _, v in series.samples
                if math.isfinite(v)
            ]
            if values:
                peaks[f.alert_id] = max(values)
    return [_with_peak(f, peaks.get(f.alert_id)) for f in items]


def _with_peak(f: Firing, peak: float | None) -> Firing:
    return replace(f, peak=peak)


def noise_advice(
    store: DocumentStore,
    tenant_id: str,
    rule_file: Rules,
    *,
    now: datetime,
    since: timedelta = SINCE,
    within: timedelta = WITHIN,
    metrics: MetricsSource | None = None,
) -> Advice:
    """The use case: read the tenant's alerts, measure where possible, advise."""
    start = now - since
    items = firings(store, tenant_id, start, now)
    if metrics is not None:
        by_rule, _ = assign(rule_file.rules, items)
        wanted = {
            rule.index
            for rule in rule_file.rules
            if rule.threshold is not None
            and by_rule.get(rule.index)
            and judge(stats_of(rule, by_rule[rule.index], within)) is None
        }
        if wanted:
            items = measure_peaks(rule_file, items, metrics, only=wanted)
    return advise(rule_file, items, tenant_id=tenant_id, since=start, until=now, within=within)


def render(advice: Advice, echo: Callable[[str], None]) -> None:
    """The readable form: a line per rule, a line per proposal, notes, then the diff."""
    days = round((advice.until - advice.since) / timedelta(days=1))
    echo(f"noise advice for {advice.tenant_id} from {advice.rules_file}, last {days} days")
    if not advice.stats:
        echo(
            f"no advice: no alert of {advice.rules_file}'s rules fired for {advice.tenant_id} "
            f"in the last {days} days"
            + (f" ({advice.unmatched} alerts from other rules)" if advice.unmatched else "")
        )
        return
    for s in advice.stats:
        echo(f"  {s.line(advice.within)}")
    for note in advice.notes:
        echo(f"  note: {note}")
    if not advice.proposals:
        echo("no advice: no rule is noisy enough to change")
        return
    for p in advice.proposals:
        echo(f"proposal {p.alert}: {p.field} {p.old} -> {p.new}: {p.reason}")
    if advice.live:
        echo(
            "no diff: these rules were read from Prometheus' API, not from a file; "
            "make the change where they are written"
        )
        return
    echo("")
    echo(advice.diff.rstrip("\n"))


__all__ = [
    "Advice",
    "Firing",
    "Proposal",
    "RuleStats",
    "advise",
    "firings",
    "measure_peaks",
    "noise_advice",
    "render",
    "rules_source",
]
