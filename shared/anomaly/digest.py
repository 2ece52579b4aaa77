"""The daily anomaly digest, posted: yesterday's deviating signals, once, in the tenant's morning.

The sweep (``shared.anomaly.sweep``) files each day's findings that no open
incident explained in ``anomaly-digest:{day}``. ``send_daily_digest`` is the
timer's one call per tenant, shaped as the weekly report's
(``shared.report.deliver``): it is due from ``DUE_AT`` (09:00) local time in
the tenant's zone until the end of that day; the day before is claimed in the
store first (a ``cache`` mark created exactly once), then posted through the
chat port, and the mark says "sent". A failure releases the claim so the next
run tries again; a claim left by a run that died is taken over after
``shared.notify.once.CLAIM_TIMEOUT``. A day with nothing filed posts nothing.

``digest_view`` is what both the message and ``sre-copilot anomalies digest``
show: findings grouped by service (or host), the groups ordered by the impact
of an open incident on that entity where one was assessed, else by their
highest anomaly score; within a group, highest score first. Signal and entity
names come from the metrics source and are escaped in ``mrkdwn``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from shared.anomaly.sweep import concerns, digest_for, open_incidents
from shared.errors import BadInput
from shared.incidents import stored_analysis
from shared.models.anomaly import AnomalyFinding
from shared.models.tenant import Tenant
from shared.notify.incident_message import clip, section
from shared.notify.mrkdwn import escape as E
from shared.notify.once import SendOnce
from shared.ports.chat import ChatMessage, ChatPort, PostedMessage
from shared.ports.store import DocumentStore

DUE_AT = time(9, 0)
"""The digest of the day before is posted from this local time."""
MARK_PREFIX = "anomaly-digest-sent:"
MARK_TTL_S = 30 * 24 * 3600
KIND = "anomaly-digest"
MAX_GROUPS = 40
"""Slack allows 50 blocks a message: the header, the intro, the groups, a last line."""
MAX_LINES = 10
"""Findings shown per group; the rest are counted."""


class DigestRuntime(Protocol):
    """What sending needs from the runtime (``shared.bootstrap.Runtime`` has it)."""

    @property
    def store(self) -> DocumentStore: ...

    def chat_for(self, tenant: Tenant) -> ChatPort: ...


class Status(StrEnum):
    NOT_DUE = "not_due"
    NOTHING = "nothing"
    ALREADY_SENT = "already_sent"
    SENT = "sent"


@dataclass(frozen=True, slots=True)
class Group:
    """One service's (or host's) findings, and the impact of its open incident if assessed."""

    scope: str
    entity: str
    findings: tuple[AnomalyFinding, ...]
    impact: float | None = None
    incident_id: str | None = None

    @property
    def top_score(self) -> float:
        return max(f.score for f in self.findings)


@dataclass(frozen=True, slots=True)
class DigestView:
    tenant_id: str
    tenant_name: str
    day: str
    zone: str
    groups: tuple[Group, ...] = ()

    @property
    def count(self) -> int:
        return sum(len(g.findings) for g in self.groups)

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant_id,
            "day": self.day,
            "timezone": self.zone,
            "findings": self.count,
            "groups": [
                {
                    "scope": g.scope,
                    "entity": g.entity,
                    "impact": g.impact,
                    "incident": g.incident_id,
                    "findings": [f.model_dump(mode="json") for f in g.findings],
                }
                for g in self.groups
            ],
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    tenant_id: str
    status: Status
    day: str | None = None
    posted: PostedMessage | None = None
    findings: int = 0
    errors: tuple[str, ...] = field(default=())


def is_due(now: datetime, zone: ZoneInfo) -> bool:
    """09:00 or later, local time (every day)."""
    return now.astimezone(zone).time() >= DUE_AT


def day_before(now: datetime, zone: ZoneInfo) -> str:
    """``YYYY-MM-DD`` of the local day before ``now``'s."""
    return (now.astimezone(zone).date() - timedelta(days=1)).isoformat()


def parse_day(text: str) -> str:
    """``--day``: a calendar date, ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise BadInput(f"--day {text[:32]!r} is not a date (2026-04-14)") from None


def digest_view(store: DocumentStore, tenant: Tenant, day: str) -> DigestView:
    """The tenant's digest of ``day``, grouped and ordered (empty when nothing was filed)."""
    digest = digest_for(store, tenant.id, day)
    findings = digest.findings if digest is not None else ()
    by_entity: dict[tuple[str, str], list[AnomalyFinding]] = {}
    for f in findings:
        by_entity.setdefault((f.scope, f.entity), []).append(f)
    impacts = _impacts(store, tenant.id, findings)
    groups = []
    for (scope, entity), mine in by_entity.items():
        impact, incident = impacts.get((scope, entity), (None, None))
        ordered = tuple(sorted(mine, key=lambda f: (-f.score, f.signal, f.at)))
        groups.append(Group(scope, entity, ordered, impact, incident))
    groups.sort(
        key=lambda g: (
            g.impact is None,
            -(g.impact or 0.0),
            -g.top_score,
            g.scope != "service",
            g.entity,
        )
    )
    return DigestView(tenant.id, tenant.name, day, tenant.timezone, tuple(groups))


def _impacts(
    store: DocumentStore, tenant_id: str, findings: Sequence[AnomalyFinding]
) -> dict[tuple[str, str], tuple[float, str]]:
    """The highest assessed impact of an open incident on each finding's entity."""
    out: dict[tuple[str, str], tuple[float, str]] = {}
    if not findings:
        return out
    for doc in open_incidents(store, tenant_id):
        mine = [f for f in findings if concerns(doc, f)]
        if not mine:  # read its analysis only when one of the findings concerns it
            continue
        incident_id = str(doc["id"])
        analysis = stored_analysis.load(store, tenant_id, incident_id)
        score = (analysis.impact or {}).get("score") if analysis is not None else None
        if not isinstance(score, int | float) or isinstance(score, bool):
            continue
        for f in mine:
            key = (f.scope, f.entity)
            if key not in out or float(score) > out[key][0]:
                out[key] = (float(score), incident_id)
    return out


def render(view: DigestView, zone: ZoneInfo) -> ChatMessage:
    """The digest in Block Kit: a section per service or host, most urgent first."""
    count, groups = view.count, len(view.groups)
    lead = (
        f"Anomaly digest {view.day}: {count} deviating signal(s) on {groups} "
        f"service(s)/host(s), no open incident explained them when seen. Nobody was paged."
    )
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(f"Anomaly digest: {view.day}", 150)},
        },
        section(E(lead)),
    ]
    for group in view.groups[:MAX_GROUPS]:
        blocks.append(section(_group_text(group, zone)))
    if groups > MAX_GROUPS:
        rest = view.groups[MAX_GROUPS:]
        blocks.append(
            section(
                f"…and {sum(len(g.findings) for g in rest)} more on {len(rest)} more "
                f"service(s)/host(s): `sre-copilot anomalies digest --day {view.day}`"
            )
        )
    return ChatMessage(
        tenant_id=view.tenant_id,
        incident_id=f"anomaly-digest-{view.day}",
        text=lead,
        blocks=tuple(blocks),
        kind=KIND,
    )


def _group_text(group: Group, zone: ZoneInfo) -> str:
    what = "service" if group.scope == "service" else "host"
    head = f"*{E(group.entity)}* ({what})"
    if group.impact is not None and group.incident_id is not None:
        head += f": open incident {E(group.incident_id)}, impact {group.impact:.2f}"
    lines = [head]
    for f in group.findings[:MAX_LINES]:
        lines.append(f"• {E(line(f, zone))}")
    if len(group.findings) > MAX_LINES:
        lines.append(f"• …and {len(group.findings) - MAX_LINES} more")
    return "\n".join(lines)


def line(f: AnomalyFinding, zone: ZoneInfo) -> str:
    """One finding, plain: what deviated, how far from usual, how anomalous, when (local)."""
    unit = f" {f.unit}" if f.unit else ""
    at = f.at.astimezone(zone).strftime("%H:%M")
    return (
        f"{f.signal}: {f.value:.4g}{unit} (usually {f.baseline:.4g}), score {f.score:.2f} at {at}"
    )


def text_lines(view: DigestView, zone: ZoneInfo) -> list[str]:
    """The digest for a terminal (``anomalies digest``)."""
    if not view.groups:
        return [f"anomaly digest of {view.tenant_id} for {view.day}: nothing deviated"]
    out = [
        f"anomaly digest of {view.tenant_id} for {view.day} ({view.zone}): "
        f"{view.count} finding(s) on {len(view.groups)} service(s)/host(s)"
    ]
    for g in view.groups:
        what = "service" if g.scope == "service" else "host"
        impact = f", open incident {g.incident_id} impact {g.impact:.2f}" if g.impact else ""
        out.append(f"{g.entity} ({what}{impact}):")
        out += [f"  {line(f, zone)}" for f in g.findings]
    return out


def send_daily_digest(rt: DigestRuntime, tenant: Tenant, *, now: datetime) -> Outcome:
    """Post yesterday's digest to the tenant's channel once, when due and not empty."""
    zone = tenant.zone
    if not is_due(now, zone):
        return Outcome(tenant.id, Status.NOT_DUE)
    day = day_before(now, zone)
    view = digest_view(rt.store, tenant, day)
    if not view.groups:
        return Outcome(tenant.id, Status.NOTHING, day)
    once = SendOnce(
        rt.store, tenant.id, MARK_PREFIX + day, "anomaly-digest-sent", MARK_TTL_S, {"day": day}
    )
    if not once.claim(now):
        return Outcome(tenant.id, Status.ALREADY_SENT, day)
    try:
        posted = rt.chat_for(tenant).post(render(view, zone), channel=tenant.slack_channel_id)
    except BaseException:
        once.release()
        raise
    once.sent(now, posted)
    return Outcome(tenant.id, Status.SENT, day, posted, view.count)
