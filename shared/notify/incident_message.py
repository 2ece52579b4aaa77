"""The incident message in Block Kit: readable in ten seconds, updated in place.

Pure functions from the incident, its stored context snapshot and analysis,
and the responders' feedback, to a ``ChatMessage``. Slack's limits are kept
here (50 blocks, 3,000 characters a section, 75 a button label, 2,000 a
value): what does not fit is shortened with a visible "…", never rejected.

Every string that came from outside (alerts, changes, PagerDuty, Claude,
Slack users) is escaped with ``mrkdwn.escape`` where it is put into ``mrkdwn``
text (``E`` below), so alert text can neither ping a channel nor disguise a
link; only runbook URLs, from trusted configuration, become links. A URL from
an alert (``generatorURL``) is not rendered at all. Button labels are plain
text; each listed runbook's "Used …" button names it in its value (the runbook
used is earned trust's second signal, ``shared.autonomy.trust``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared import formatting
from shared.errors import BadInput
from shared.formatting import number, percent, quantity
from shared.models.analysis import NO_METRICS_GAP, NO_METRICS_SOURCE, ContextSnapshot
from shared.models.incident import Incident, IncidentStatus
from shared.notify.actions import ActionKind, ActionValue, button
from shared.notify.mrkdwn import escape as E
from shared.notify.mrkdwn import link
from shared.ports.chat import ChatMessage

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
CONTEXT_LIMIT = 2000
FALLBACK_LIMIT = 3000

_ICON = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
_FACTOR_LABELS = {
    "signal_strength": "signal",
    "temporal_correlation": "timing",
    "precedent_frequency": "precedent",
    "evidence_quality": "evidence",
    "human_validation": "human",
}
_SIGNAL_LABELS = {
    "error_ratio": "error ratio",
    "latency_p99": "p99 latency",
    "request_rate": "request rate",
    "cpu": "CPU",
    "memory": "memory",
    "restarts": "restarts",
    "db_connections": "DB connections",
    "probe_success": "probe success",
    "cert_expiry": "certificate",
    "dns_lookup": "DNS lookup",
    "disk_free": "free disk",
    "up": "up",
}


def clip(text: str, limit: int) -> str:
    """Shorten with a visible ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hm(moment: str | datetime | None) -> str:
    if moment is None:
        return "?"
    value = (
        datetime.fromisoformat(moment.replace("Z", "+00:00")) if isinstance(moment, str) else moment
    )
    return value.strftime("%H:%M")


def section(text: str) -> dict[str, Any]:
    """A mrkdwn section block, clipped to Slack's limit."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, CONTEXT_LIMIT)}]}


def key_signals(snapshot: Mapping[str, Any] | None, limit: int = 4) -> list[str]:
    """The strongest deviations, e.g. "error ratio of checkout 0.4 % → 12 % since 14:02"."""
    if not snapshot:
        return []
    readings = [
        r
        for r in snapshot.get("signals", [])
        if r.get("onset") and abs(r.get("deviation") or 0) >= 4 and r.get("signal") != "cert_expiry"
    ]
    readings.sort(key=lambda r: (r["onset"], -abs(r["deviation"])))
    strongest = sorted(readings, key=lambda r: -abs(r["deviation"]))[:limit]
    lines = []
    for r in sorted(strongest, key=lambda r: r["onset"]):
        label = _SIGNAL_LABELS.get(r["signal"], r["signal"].replace("_", " "))
        before = quantity(r.get("prior", r.get("baseline")), r.get("unit", ""))
        now = quantity(r.get("current"), r.get("unit", ""))
        lines.append(
            f"• {E(label)} of `{E(r['entity'])}` {E(before)} → *{E(now)}* since {_hm(r['onset'])}"
        )
    return lines


def _what_is_happening(incident: Incident, snapshot: Mapping[str, Any] | None) -> str:
    lines = []
    for ref in incident.alerts[:8]:
        where = ref.service or ref.instance or "?"
        state = "" if ref.status.value == "firing" else f" ({ref.status.value})"
        lines.append(f"• *{E(ref.name)}* on `{E(where)}`{state}: {E(ref.summary)}")
    if incident.alert_count > 8:
        lines.append(f"• … and {incident.alert_count - 8} more alerts")
    numbers = key_signals(snapshot)
    if numbers:
        lines += ["*Key signals*", *numbers]
    return "*What is happening*\n" + "\n".join(lines)


_SYMPTOMS = ("error_ratio", "latency_p99")
"""What a responder expects a bad change to move first."""
_MOVED = 4.0
"""The robust deviation from which a reading counts as moved (as ``key_signals``)."""


def ruled_out(
    change: Mapping[str, Any],
    snapshot: Mapping[str, Any] | None,
    hypotheses: Sequence[Mapping[str, Any]],
) -> str:
    """Why a change a responder would suspect is not among the causes, or ``""``.

    Only when the evidence says so: its service is measured and neither its
    error ratio nor its p99 latency moved. A change nothing measures is not
    ruled out, and one a hypothesis already names needs no note.
    """
    service = str(change.get("service") or "")
    if not service or any(str(h.get("target")) == service for h in hypotheses[:3]):
        return ""
    readings = [
        r
        for r in (snapshot or {}).get("signals", [])
        if r.get("entity") == service
        and r.get("signal") in _SYMPTOMS
        and r.get("current") is not None
        and r.get("baseline") is not None
    ]
    if not readings or any(abs(r.get("deviation") or 0.0) >= _MOVED for r in readings):
        return ""
    labels = sorted({_SIGNAL_LABELS.get(r["signal"], r["signal"]) for r in readings})
    return f"ruled out: the {' and '.join(labels)} of {service} did not move"


def _what_changed(
    snapshot: Mapping[str, Any] | None,
    fallback: Sequence[Mapping[str, Any]],
    hypotheses: Sequence[Mapping[str, Any]] = (),
) -> str:
    changes = list((snapshot or {}).get("changes", [])) or list(fallback)
    if not changes:
        return "*What changed*\nNo changes recorded in the 2 h before."
    lines = []
    for c in changes[:6]:
        minutes = c.get("minutes_before_onset")
        # "Onset" here is the first alert; a hypothesis's own timing names the
        # moment its service began to degrade, so both say which moment they mean.
        when = (
            f"{formatting.minutes(minutes)} before the first alert"
            if isinstance(minutes, int | float) and minutes >= 0
            else f"{formatting.minutes(-minutes)} after the first alert"
            if isinstance(minutes, int | float)
            else f"at {_hm(c.get('at'))}"
        )
        version = f" {E(c['version'])}" if c.get("version") else ""
        author = f" by {E(c['author'])}" if c.get("author") else ""
        desc = f": {E(c['description'])}" if c.get("description") else ""
        kind = E(str(c["kind"]).replace("_", " "))
        verdict = ruled_out(c, snapshot, hypotheses) if hypotheses else ""
        note = f" — _{E(verdict)}_" if verdict else ""
        lines.append(f"• {kind} of *{E(c['service'])}*{version}, {when}{author}{desc}{note}")
    if len(changes) > 6:
        lines.append(f"• … and {len(changes) - 6} more")
    return "*What changed*\n" + "\n".join(lines)


def factors_line(factors: Mapping[str, Any]) -> str:
    parts = []
    for name, label in _FACTOR_LABELS.items():
        factor = factors.get(name)
        value = factor.get("value") if isinstance(factor, Mapping) else factor
        if value is not None:
            parts.append(f"{label} {number(float(value))}")
    return " · ".join(parts)


def _feedback_marks(feedback: Sequence[Mapping[str, Any]], category: str, target: str) -> str:
    marks = [
        f"{'👍' if f.get('verdict') == 'likely' else '👎'} "
        f"{E(f.get('user_name') or f.get('user_id'))}"
        for f in feedback
        if f.get("category") == category and str(f.get("target", "")).lower() == target.lower()
    ]
    return ", ".join(marks)


def _hypothesis_blocks(
    incident: Incident,
    hypothesis: Mapping[str, Any],
    feedback: Sequence[Mapping[str, Any]],
    model_version: str,
    interactive: bool,
) -> list[dict[str, Any]]:
    rank, category, target = hypothesis["rank"], hypothesis["category"], hypothesis["target"]
    low, high = hypothesis["confidence_range"]
    evidence = sorted(hypothesis.get("evidence", []), key=lambda e: -float(e.get("strength", 0)))[
        :3
    ]
    lines = [
        f"*#{rank} {E(hypothesis['title'])}*",
        f"`{E(category)}` on `{E(target)}` · confidence *{percent(hypothesis['confidence'])}* "
        f"(range {percent(low)} to {percent(high)})",
        *[f"  ◦ {E(e['summary'])}" for e in evidence],
    ]
    origins = hypothesis.get("origins") or ()
    if "llm" in origins:
        lines.append(
            "_also proposed by Claude_" if "detector" in origins else "_proposed by Claude_"
        )
    blocks = [section("\n".join(lines))]
    context = factors_line(hypothesis.get("factors", {}))
    if hypothesis.get("score") is not None:
        # The confidence is this support weighed against the other candidates'.
        context = f"support {number(float(hypothesis['score']))} ({context}) vs other candidates"
    marks = _feedback_marks(feedback, category, target)
    if marks:
        context += f" · marked: {marks}"
    blocks.append(_context(context))
    if interactive:
        value = ActionValue(
            incident_id=incident.id,
            tenant_id=incident.tenant_id,
            category=category,
            target=target,
            model_version=model_version,
        )
        blocks.append(
            {
                "type": "actions",
                "block_id": f"hyp-{rank}",
                "elements": [
                    button(f"Likely #{rank}", ActionKind.LIKELY, value, rank=rank, style="primary"),
                    button(f"Not it #{rank}", ActionKind.NOT_IT, value, rank=rank),
                ],
            }
        )
    return blocks


def _runbooks_and_similar(analysis: Mapping[str, Any]) -> str:
    lines = []
    runbooks = analysis.get("runbooks") or []
    if runbooks:
        lines.append("*Runbooks*")
        for rb in runbooks[:3]:
            title = link(str(rb["url"]), rb["title"]) if rb.get("url") else E(rb["title"])
            lines.append(f"• {title} (`{E(rb['id'])}`, {number(rb['score'])})")
    similar = analysis.get("similar_incidents") or []
    if similar:
        lines.append("*Similar incidents*")
        for s in similar[:3]:
            cause = f" · {E(s['category'])} on {E(s['target'])}" if s.get("category") else ""
            lines.append(f"• {E(s['id'])} {E(s.get('title', ''))}{cause} ({number(s['score'])})")
    anomalies = analysis.get("anomalies") or []
    if anomalies:
        lines.append("*Also deviating* (anomaly sweep)")
        for a in anomalies[-3:]:
            unit = str(a.get("unit") or "")
            lines.append(
                f"• {E(str(a['signal']))} of {E(str(a['entity']))}: "
                f"{quantity(float(a['value']), unit)} (usually "
                f"{quantity(float(a['baseline']), unit)}), score {number(float(a['score']))}"
            )
    return "\n".join(lines)


def _runbook_buttons(incident: Incident, analysis: Mapping[str, Any]) -> dict[str, Any] | None:
    """ "Used …" for each listed runbook: the runbook used is earned trust's second signal.

    The id travels as the value's target; one whose value would not fit
    Slack's limit gets no button rather than a clipped id naming another runbook.
    """
    elements = []
    for position, rb in enumerate((analysis.get("runbooks") or [])[:3], start=1):
        runbook_id = str(rb.get("id") or "")
        if not runbook_id:
            continue
        value = ActionValue(
            incident_id=incident.id, tenant_id=incident.tenant_id, target=runbook_id
        )
        try:
            elements.append(
                button(f"Used {runbook_id}", ActionKind.RUNBOOK_USED, value, rank=position)
            )
        except BadInput:
            continue
    if not elements:
        return None
    return {"type": "actions", "block_id": "runbooks", "elements": elements}


def _unreachable(snapshot: Mapping[str, Any] | None) -> list[str]:
    """Sources that were configured but did not answer, grouped by reason.

    A tenant with no metrics source configured is not a failure of this analysis.
    """
    by_reason: dict[str, list[str]] = {}
    for source in (snapshot or {}).get("sources") or []:
        reason = str(source.get("reason") or "")
        if source.get("ok") or reason == NO_METRICS_SOURCE:
            continue
        name = str(source.get("name", "")).partition(":")[0]
        by_reason.setdefault(f"{name}: {reason or 'no answer'}", []).append(source["name"])
    return [
        f"{what} ({len(names)} queries)" if len(names) > 1 else what
        for what, names in by_reason.items()
    ]


_UNCONFIGURED = {
    "metrics": "No metrics source is configured for this tenant: "
    "root causes rest on alerts and changes only",
    "runbooks": "No runbook corpus is configured",
}


def evidence_gaps(snapshot: Mapping[str, Any] | None) -> tuple[str, ...]:
    """What the analysis went without (``ContextSnapshot.evidence_gaps``); () if unknown."""
    if not snapshot:
        return ()
    try:
        return ContextSnapshot.model_validate(snapshot).evidence_gaps()
    except ValueError:  # a snapshot this version cannot read: say nothing rather than guess
        return ()


_METRICS_GAPS = ("metrics source not reachable", "metric queries unanswered")


def _insufficient(gaps: Sequence[str]) -> str:
    missing = f" Missing: {'; '.join(E(g) for g in gaps)}." if gaps else ""
    return f"*Likely root causes*\nInsufficient evidence: no root cause stands out.{missing}"


def _setup_line(analysis: Mapping[str, Any], said: Sequence[str]) -> str:
    """The tenant's unconfigured sources, once, on the message (updated in place).

    ``said``: the evidence gaps the message names already, not repeated here.
    """
    notes = [
        _UNCONFIGURED[name]
        for name in analysis.get("unconfigured") or ()
        if name in _UNCONFIGURED and not (name == "metrics" and NO_METRICS_GAP in said)
    ]
    return " · ".join(notes)


def render_incident(
    incident: Incident,
    *,
    snapshot: Mapping[str, Any] | None = None,
    analysis: Mapping[str, Any] | None = None,
    feedback: Sequence[Mapping[str, Any]] = (),
    changes: Sequence[Mapping[str, Any]] = (),
    missing: Sequence[str] = (),
) -> ChatMessage:
    """The whole message; without an analysis, the summary that precedes it.

    ``missing`` says which parts of the analysis could not be had, and why.
    """
    severity = incident.severity.value
    where = ", ".join(incident.services or incident.instances) or "unknown service"
    started = incident.first_seen.strftime("%Y-%m-%d %H:%M UTC")
    header = f"{_ICON.get(severity, '⚪')} {severity.upper()} · {where} · {incident.id}"
    status = incident.status.value
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(header, HEADER_LIMIT)}},
        _context(f"Status *{status}* · started {started} · {incident.alert_count} alert(s)"),
    ]
    impact = (analysis or {}).get("impact")
    if isinstance(impact, Mapping) and impact.get("urgency"):
        # Service names come from alert labels: escaped like all alert text.
        blocks.append(
            _context(
                f"Impact *{E(str(impact.get('level', '?')))}* "
                f"({number(float(impact.get('score') or 0.0))}/100): {E(str(impact['urgency']))}"
            )
        )
    blocks.append(section(_what_is_happening(incident, snapshot)))
    hypotheses = list((analysis or {}).get("hypotheses") or [])
    blocks.append(section(_what_changed(snapshot, changes, hypotheses)))
    model_version = str((analysis or {}).get("model_version") or "")
    interactive = incident.status is not IncidentStatus.RESOLVED
    said: tuple[str, ...] = ()
    if analysis is not None:
        said = () if hypotheses else evidence_gaps(snapshot)
        blocks.append({"type": "divider"})
        if hypotheses:
            blocks.append(section("*Likely root causes*"))
            for hypothesis in hypotheses[:3]:
                blocks += _hypothesis_blocks(
                    incident, hypothesis, feedback, model_version, interactive
                )
        else:
            blocks.append(section(_insufficient(said)))
        extra = _runbooks_and_similar(analysis)
        if extra:
            blocks.append(section(extra))
        used = _runbook_buttons(incident, analysis) if interactive else None
        if used is not None:
            blocks.append(used)
        setup = _setup_line(analysis, said)
        if setup:
            blocks.append(_context(setup))
        llm = analysis.get("llm") or {}
        note = f"model {E(model_version)}"
        if llm.get("status") not in (None, "ok", "disabled"):
            note += f" · Claude unavailable ({E(llm['status'])}): detectors only"
        blocks.append(_context(note))
    unreachable = _unreachable(snapshot)
    if any(m in g for g in said for m in _METRICS_GAPS):
        # The "insufficient evidence" line names the metrics outage already.
        unreachable = [u for u in unreachable if not u.startswith("metrics")]
    gaps = [*missing, *((analysis or {}).get("missing") or []), *unreachable]
    if gaps:
        unique = list(dict.fromkeys(str(g) for g in gaps))
        blocks.append(_context("⚠ Partial result: " + "; ".join(E(g) for g in unique[:5])))
    if interactive:
        value = ActionValue(
            incident_id=incident.id, tenant_id=incident.tenant_id, model_version=model_version
        )
        actions = [button("Acknowledge", ActionKind.ACK, value)]
        for h in hypotheses[:3]:
            hyp_value = ActionValue(
                incident_id=incident.id,
                tenant_id=incident.tenant_id,
                category=h["category"],
                target=h["target"],
                model_version=model_version,
            )
            actions.append(
                button(
                    f"Resolved with #{h['rank']}",
                    ActionKind.RESOLVE_WITH,
                    hyp_value,
                    rank=h["rank"],
                )
            )
        blocks.append({"type": "actions", "block_id": "incident", "elements": actions})
    if len(blocks) > MAX_BLOCKS:
        more = _context("… more in `/sre why " + E(incident.id) + "`")
        blocks = [*blocks[: MAX_BLOCKS - 1], more]
    top = (
        f" · #1 {E(hypotheses[0]['title'])} ({percent(hypotheses[0]['confidence'])})"
        if hypotheses
        else ""
    )
    # The fallback text is mrkdwn too (notifications show it): escaped like the blocks.
    text = clip(
        f"{severity.upper()} {E(incident.title)} ({E(incident.id)}, {status}){top}",
        FALLBACK_LIMIT,
    )
    return ChatMessage(
        tenant_id=incident.tenant_id, incident_id=incident.id, text=text, blocks=tuple(blocks)
    )
