"""What a click or a ``/sre`` command does: the interaction use cases.

``handle_action`` takes a verified, parsed click (``InteractionAction``) and
returns an ``InteractionOutcome``: what happened (a kind), what to tell the
user, and the orchestration event to raise, if any. It never raises for an
expected situation (a stranger clicking, a workspace we do not know, a second
click); those are outcome kinds, answered to the user.

A click on a capacity forecast's buttons passes the same checks of
workspace, tenant and user, then goes to ``shared.predict.feedback``. A click
on a remediation proposal's ``Stop`` / ``Approve`` / ``Reject`` passes the
workspace and tenant checks and goes to ``shared.autonomy.answers``, which
decides who may answer (approvers from the tenant's policy); "Propose fix"
on an incident message is a responder's request, answered with a
``RemediationSignal`` the edge turns into proposals and orchestrations.
``Promote`` / ``Not yet`` on an earned-trust proposal go to
``shared.autonomy.promotion`` after the same workspace and tenant checks.

Who may act: the workspace must map to a tenant (``TenantRegistry.by_slack_team``),
the button must have been rendered for that tenant, and the user must be one
of the tenant's ``responders``. What they act on: the button's incident id must
have the shape of the ids the product mints (``correlation.INCIDENT_ID``: no
``/``, no ``--``) and name an incident of that tenant; anything else is answered
"not in this workspace" and nothing is written. The tenant is only ever the one
the workspace maps to, never one a button names. A tenant that lists no responders lets any
member of its workspace act: a new install works at once, and a team that
wants to restrict it lists its responders.

Feedback on a hypothesis is one document per incident, hypothesis (category
and target) and user, so a repeated click changes nothing (``duplicate``) and
a changed mind overwrites the earlier verdict. Acknowledging and asking to
resolve are recorded once per incident (and hypothesis); "Used <runbook>"
once per incident, runbook and user, and only for a runbook the stored
analysis listed; every change is also written to the audit trail.

The orchestration of an incident (instance ``{tenant_id}--{incident_id}``)
hears of it through two events, with JSON payloads:

- ``feedback``: ``{"incident_id", "user_id", "user_name", "rank", "category",
  "target", "verdict": "likely" | "not_it", "previous": verdict | None,
  "model_version", "at"}``
  or, for "Used <runbook>", ``{"incident_id", "user_id", "user_name",
  "runbook_id", "at"}`` (a line for the thread; the audit record
  ``incident.runbook_used`` is written here, once per incident, runbook and user)
- ``incident_action``: ``{"action": "acknowledge" | "resolve", "incident_id",
  "user_id", "user_name", "at"}``, plus ``"rank", "category", "target",
  "model_version"`` for ``resolve``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

from shared.audit import record as audit_record
from shared.clock import Clock
from shared.errors import Conflict
from shared.incidents import stored_analysis
from shared.ingestion.correlation import is_incident_id
from shared.models.base import TenantDocument, UtcDatetime, iso
from shared.models.incident import Incident, IncidentStatus
from shared.models.tenant import Tenant
from shared.notify.actions import ActionKind
from shared.notify.mrkdwn import escape as _escape
from shared.notify.slack_requests import CommandName, InteractionAction, SlashCommand
from shared.ports.store import Container, DocumentStore, Filter, update_with_retry
from shared.tenants.registry import TenantRegistry
from shared.triage.impact import order_key

log = logging.getLogger("sre_copilot.slack.interactions")

FEEDBACK_EVENT = "feedback"
INCIDENT_ACTION_EVENT = "incident_action"
RUNBOOK_USED = "incident.runbook_used"
"""The audit action of "Used <runbook>": earned trust's second signal."""

ACTION_RECORD_TTL_SECONDS = 30 * 24 * 3600
"""How long an acknowledgement or resolve request is remembered for dedup."""

STATUS_LIMIT = 20
STATUS_SCAN = 50
"""Open incidents ``/sre status`` weighs by impact (the most recently active ones)."""
SECTION_LIMIT = 3000

Verdict = Literal["likely", "not_it"]


class InteractionDeps(Protocol):
    """What the use cases need of the runtime (``shared.bootstrap.Runtime`` has it)."""

    @property
    def store(self) -> DocumentStore: ...

    @property
    def tenants(self) -> TenantRegistry: ...

    @property
    def clock(self) -> Clock: ...


class OutcomeKind(StrEnum):
    FEEDBACK_RECORDED = "feedback_recorded"
    ACKNOWLEDGED = "acknowledged"
    RESOLVE_REQUESTED = "resolve_requested"
    NOT_AUTHORISED = "not_authorised"
    UNKNOWN_TENANT = "unknown_tenant"
    UNKNOWN_INCIDENT = "unknown_incident"
    DUPLICATE = "duplicate"
    REMEDIATION_ANSWERED = "remediation_answered"
    FIX_REQUESTED = "fix_requested"
    PROMOTION_ANSWERED = "promotion_answered"
    RUNBOOK_USED = "runbook_used"
    STALE = "stale"


@dataclass(frozen=True, slots=True, kw_only=True)
class RemediationSignal:
    """What the edge tells the remediation side: an answer to raise, or proposals to make."""

    kind: Literal["answer", "propose"]
    tenant_id: str
    incident_id: str
    user_id: str
    proposal_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrchestrationEvent:
    """An external event for the incident's orchestration."""

    tenant_id: str
    incident_id: str
    name: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InteractionOutcome:
    """What a click did; ``text`` goes back to the user (ephemeral)."""

    kind: OutcomeKind
    text: str
    event: OrchestrationEvent | None = None
    tenant_id: str | None = None
    remediation: RemediationSignal | None = None


class Feedback(TenantDocument):
    """One user's verdict on one hypothesis of one incident (the learning loop reads these)."""

    incident_id: str
    user_id: str
    user_name: str
    team_id: str
    rank: int | None = None
    category: str
    target: str
    verdict: Verdict
    model_version: str | None = None
    at: UtcDatetime


def feedback_id(incident_id: str, category: str, target: str, user_id: str) -> str:
    """Deterministic per incident, hypothesis and user: a second click lands on the same id."""
    return _key("fb", incident_id, category, target.lower(), user_id)


def _key(prefix: str, incident_id: str, *parts: str) -> str:
    """A store id: readable (prefix, incident) and exact (a digest of every part)."""
    digest = hashlib.sha256("\n".join((incident_id, *parts)).encode()).hexdigest()[:32]
    readable = "".join(c if c.isalnum() or c in "-_.:" else "_" for c in incident_id)[:120]
    return f"{prefix}-{readable}-{digest}"


def may_act(tenant: Tenant, user_id: str) -> bool:
    """A listed responder, or anyone in the workspace when the tenant lists none."""
    return not tenant.responders or user_id in tenant.responders


def handle_action(deps: InteractionDeps, action: InteractionAction) -> InteractionOutcome:
    """Record a click on an incident message and say what to tell the user."""
    tenant = deps.tenants.by_slack_team(action.team_id)
    if tenant is None:
        return InteractionOutcome(
            OutcomeKind.UNKNOWN_TENANT,
            "This Slack workspace is not connected to SRE Copilot, so the click was not recorded.",
        )
    if tenant.disabled:
        return InteractionOutcome(
            OutcomeKind.UNKNOWN_TENANT,
            "SRE Copilot is disabled for this workspace, so the click was not recorded.",
        )
    if tenant.id != action.tenant_id:
        log.warning(
            "click in team %s (tenant %s) on a message of tenant %s refused",
            action.team_id,
            tenant.id,
            action.tenant_id,
        )
        return InteractionOutcome(
            OutcomeKind.NOT_AUTHORISED,
            "This message belongs to another SRE Copilot tenant; nothing was recorded.",
            tenant_id=tenant.id,
        )
    if action.kind.on_proposal:
        if not _is_incident_of(deps, tenant, action.incident_id):
            return InteractionOutcome(
                OutcomeKind.UNKNOWN_INCIDENT,
                "That incident is not in this workspace; nothing changed.",
                tenant_id=tenant.id,
            )
        # Imported here: shared.autonomy.answers builds on this module's outcome types.
        from shared.autonomy.answers import answer

        return answer(deps, tenant, action)  # approvers come from the policy, not responders
    if action.kind.on_promotion:
        # Imported here: shared.autonomy.promotion builds on this module's outcome types.
        from shared.autonomy.promotion import click

        return click(deps, tenant, action)  # approvers come from the policy, not responders
    if not may_act(tenant, action.user_id):
        log.warning("user %s is not a responder of %s", action.user_id, tenant.id)
        return InteractionOutcome(
            OutcomeKind.NOT_AUTHORISED,
            f"Only the responders of {_escape(tenant.name)} can do that; nothing was recorded.",
            tenant_id=tenant.id,
        )
    if action.kind.on_forecast:
        # Imported here: shared.predict.feedback builds on this module's outcome types.
        from shared.predict.feedback import handle_click

        return handle_click(deps, tenant, action)
    if not _is_incident_of(deps, tenant, action.incident_id):
        log.warning(
            "click in team %s (tenant %s) on unknown incident %r refused",
            action.team_id,
            tenant.id,
            action.incident_id[:80],
        )
        return InteractionOutcome(
            OutcomeKind.UNKNOWN_INCIDENT,
            "That incident is not in this workspace; nothing was recorded.",
            tenant_id=tenant.id,
        )
    if action.kind in (ActionKind.LIKELY, ActionKind.NOT_IT):
        return _record_feedback(deps, tenant, action)
    if action.kind is ActionKind.ACK:
        return _acknowledge(deps, tenant, action)
    if action.kind is ActionKind.RUNBOOK_USED:
        return _runbook_used(deps, tenant, action)
    if action.kind is ActionKind.PROPOSE_FIX:
        return InteractionOutcome(
            OutcomeKind.FIX_REQUESTED,
            f"Proposing fixes for {action.incident_id} from its top hypothesis' runbooks.",
            tenant_id=tenant.id,
            remediation=RemediationSignal(
                kind="propose",
                tenant_id=tenant.id,
                incident_id=action.incident_id,
                user_id=action.user_id,
            ),
        )
    return _request_resolution(deps, tenant, action)


def _is_incident_of(deps: InteractionDeps, tenant: Tenant, incident_id: str) -> bool:
    """A minted incident id (checked before any store call) of an incident of ``tenant``."""
    if not is_incident_id(incident_id):
        return False
    return deps.store.get(Container.INCIDENTS, tenant.id, incident_id) is not None


def _record_feedback(
    deps: InteractionDeps, tenant: Tenant, action: InteractionAction
) -> InteractionOutcome:
    category, target = action.category or "", action.target or ""
    verdict: Verdict = "likely" if action.kind is ActionKind.LIKELY else "not_it"
    now = deps.clock.now()
    record = Feedback(
        id=feedback_id(action.incident_id, category, target, action.user_id),
        tenant_id=tenant.id,
        incident_id=action.incident_id,
        user_id=action.user_id,
        user_name=action.user_name,
        team_id=action.team_id,
        rank=action.rank,
        category=category,
        target=target,
        verdict=verdict,
        model_version=action.model_version,
        at=now,
    )
    previous: str | None = None
    try:
        deps.store.create(Container.FEEDBACK, tenant.id, record.to_doc())
    except Conflict:
        seen: list[str | None] = []

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            seen.append(current.get("verdict"))
            return None if current.get("verdict") == verdict else record.to_doc()

        update_with_retry(deps.store, Container.FEEDBACK, tenant.id, record.id, change)
        previous = seen[-1] if seen else None
        if previous == verdict:
            return InteractionOutcome(
                OutcomeKind.DUPLICATE,
                f"You had already marked {_hypothesis(action)} as {_said(verdict)}.",
                tenant_id=tenant.id,
            )
    _audit(deps, tenant, action, f"feedback.{verdict}", {"previous": previous, "id": record.id})
    payload = _event(
        action,
        now,
        rank=action.rank,
        category=category,
        target=target,
        verdict=verdict,
        previous=previous,
        model_version=action.model_version,
    )
    changed = f" (was {_said(previous)})" if previous else ""
    return InteractionOutcome(
        OutcomeKind.FEEDBACK_RECORDED,
        f"Thanks: {_hypothesis(action)} recorded as {_said(verdict)}{changed}.",
        OrchestrationEvent(tenant.id, action.incident_id, FEEDBACK_EVENT, payload),
        tenant.id,
    )


def _acknowledge(
    deps: InteractionDeps, tenant: Tenant, action: InteractionAction
) -> InteractionOutcome:
    now = deps.clock.now()
    first = _remember(deps, tenant, _key("ack", action.incident_id), action, now)
    if first is not None:
        return InteractionOutcome(
            OutcomeKind.DUPLICATE,
            f"{action.incident_id} was acknowledged already by <@{_escape(first)}>.",
            tenant_id=tenant.id,
        )
    _audit(deps, tenant, action, "incident.acknowledge", {})
    payload = _event(action, now, action="acknowledge")
    return InteractionOutcome(
        OutcomeKind.ACKNOWLEDGED,
        f"You acknowledged {action.incident_id}.",
        OrchestrationEvent(tenant.id, action.incident_id, INCIDENT_ACTION_EVENT, payload),
        tenant.id,
    )


def _runbook_used(
    deps: InteractionDeps, tenant: Tenant, action: InteractionAction
) -> InteractionOutcome:
    """Record once per incident, runbook and user that a responder used a listed runbook.

    The id comes from a button, so it is untrusted: only a runbook the stored
    analysis listed is recorded. ``shared.autonomy.trust`` reads the audit record.
    """
    runbook_id = action.target or ""
    analysis = stored_analysis.load(deps.store, tenant.id, action.incident_id)
    listed = {str(rb.get("id")) for rb in (analysis.runbooks if analysis else ())}
    if not runbook_id or runbook_id not in listed:
        return InteractionOutcome(
            OutcomeKind.STALE,
            f"That runbook is not one the analysis of {action.incident_id} lists; "
            "nothing was recorded.",
            tenant_id=tenant.id,
        )
    now = deps.clock.now()
    record_id = _key("rbused", action.incident_id, runbook_id, action.user_id)
    if _remember(deps, tenant, record_id, action, now) is not None:
        return InteractionOutcome(
            OutcomeKind.DUPLICATE,
            f"You had already said you used `{_escape(runbook_id)}` on {action.incident_id}.",
            tenant_id=tenant.id,
        )
    _audit(deps, tenant, action, RUNBOOK_USED, {"runbook_id": runbook_id})
    payload = _event(action, now, runbook_id=runbook_id)
    return InteractionOutcome(
        OutcomeKind.RUNBOOK_USED,
        f"Thanks: recorded that you used `{_escape(runbook_id)}` on {action.incident_id}.",
        OrchestrationEvent(tenant.id, action.incident_id, FEEDBACK_EVENT, payload),
        tenant.id,
    )


def _request_resolution(
    deps: InteractionDeps, tenant: Tenant, action: InteractionAction
) -> InteractionOutcome:
    now = deps.clock.now()
    record_id = _key(
        "resolve", action.incident_id, action.category or "", (action.target or "").lower()
    )
    first = _remember(deps, tenant, record_id, action, now)
    if first is not None:
        return InteractionOutcome(
            OutcomeKind.DUPLICATE,
            f"Resolving {action.incident_id} with {_hypothesis(action)} "
            f"was requested already by <@{_escape(first)}>.",
            tenant_id=tenant.id,
        )
    _audit(deps, tenant, action, "incident.resolve_requested", {})
    payload = _event(
        action,
        now,
        action="resolve",
        rank=action.rank,
        category=action.category,
        target=action.target,
        model_version=action.model_version,
    )
    return InteractionOutcome(
        OutcomeKind.RESOLVE_REQUESTED,
        f"Asked to resolve {action.incident_id} with {_hypothesis(action)}.",
        OrchestrationEvent(tenant.id, action.incident_id, INCIDENT_ACTION_EVENT, payload),
        tenant.id,
    )


def _event(click: InteractionAction, now: datetime, /, **fields: Any) -> dict[str, Any]:
    """The payload an orchestration gets for a click: who, on which incident, when, and
    what the click says (``fields``, which may include an ``action`` key)."""
    return {
        "incident_id": click.incident_id,
        "user_id": click.user_id,
        "user_name": click.user_name,
        **fields,
        "at": iso(now),
    }


def _remember(
    deps: InteractionDeps, tenant: Tenant, record_id: str, action: InteractionAction, now: datetime
) -> str | None:
    """Record that this was done; None the first time, else who did it first."""
    try:
        deps.store.create(
            Container.DEDUP,
            tenant.id,
            {
                "id": record_id,
                "kind": f"slack:{action.kind.value}",
                "userId": action.user_id,
                "at": iso(now),
                "ttl": ACTION_RECORD_TTL_SECONDS,
            },
        )
    except Conflict:
        existing = deps.store.get(Container.DEDUP, tenant.id, record_id) or {}
        return str(existing.get("userId") or "someone")
    return None


def _audit(
    deps: InteractionDeps,
    tenant: Tenant,
    action: InteractionAction,
    what: str,
    detail: dict[str, Any],
) -> None:
    audit_record(
        deps.store,
        tenant.id,
        at=deps.clock.now(),
        actor=f"slack:{action.user_id}",
        action=what,
        subject=f"incident:{action.incident_id}",
        detail={
            "user_name": action.user_name,
            "team_id": action.team_id,
            "rank": action.rank,
            "category": action.category,
            "target": action.target,
            "model_version": action.model_version,
            "channel_id": action.channel_id,
            "message_ts": action.message_ts,
            **detail,
        },
    )


# --- /sre ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandReply:
    """An ephemeral answer to ``/sre``: a plain-text fallback and Block Kit blocks."""

    text: str
    blocks: tuple[dict[str, Any], ...] = ()


HELP = (
    "*SRE Copilot*\n"
    "• `/sre status`: the open incidents of this workspace\n"
    "• `/sre why INC-…`: the ranked hypotheses for an incident, and why\n"
    "• `/sre help`: this message\n"
    "On an incident message, *Likely* / *Not it* teach the copilot; only responders can click."
)


def handle_command(deps: InteractionDeps, command: SlashCommand) -> CommandReply:
    """Answer ``/sre status``, ``/sre why INCIDENT`` or ``/sre help`` (read-only)."""
    if command.name is CommandName.HELP:
        return _reply(HELP)
    tenant = deps.tenants.by_slack_team(command.team_id)
    if tenant is None:
        return _reply("This Slack workspace is not connected to SRE Copilot.")
    if tenant.disabled:
        return _reply("SRE Copilot is disabled for this workspace.")
    if command.name is CommandName.STATUS:
        return _status(deps, tenant)
    return _why(deps, tenant, command.argument or "")


def _status(deps: InteractionDeps, tenant: Tenant) -> CommandReply:
    """Open incidents, highest impact first (``shared.triage.impact``)."""
    docs = deps.store.query(
        Container.INCIDENTS,
        tenant.id,
        [Filter("status", "!=", IncidentStatus.RESOLVED.value)],
        order_by="last_seen",
        descending=True,
        limit=STATUS_SCAN + 1,
    )
    if not docs:
        return _reply(f"No open incidents for {_escape(tenant.name)}. :white_check_mark:")
    weighed = []
    for doc in docs[:STATUS_SCAN]:
        analysis = stored_analysis.load(deps.store, tenant.id, str(doc.get("id")))
        impact = analysis.impact if analysis is not None else None
        score = impact.get("score") if impact else None
        key = order_key(
            float(score) if isinstance(score, int | float) else None,
            str(doc.get("first_seen") or ""),
            str(doc.get("id")),
        )
        weighed.append((key, doc, impact))
    weighed.sort(key=lambda item: item[0])
    lines = [
        line
        for _, doc, impact in weighed[:STATUS_LIMIT]
        if (line := _incident_line(doc, impact)) is not None
    ]
    more = (
        f"\n…and more; showing the {STATUS_LIMIT} with the highest impact."
        if len(docs) > STATUS_LIMIT
        else ""
    )
    shown = min(len(docs), STATUS_LIMIT)
    head = f"*Open incidents for {_escape(tenant.name)}* ({shown}{'+' if more else ''})"
    return _reply(head + "\n" + "\n".join(lines) + more)


def _incident_line(doc: dict[str, Any], impact: Mapping[str, Any] | None = None) -> str | None:
    """One line of ``/sre status``; None for a document that no longer reads as an incident.

    Such a document (a time stored before ingestion refused out-of-range times,
    say) is skipped with a warning, so one bad incident cannot hide the others.
    """
    try:
        incident = Incident.from_doc(doc)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        log.warning("incident %r is unreadable, left out of /sre status: %s", doc.get("id"), exc)
        return None
    where = ", ".join(incident.services or incident.instances) or "unknown service"
    since = incident.first_seen.strftime("%Y-%m-%d %H:%M UTC")
    urgency = ""
    if impact and impact.get("urgency"):
        urgency = (
            f"\n   impact {_escape(str(impact.get('level')))}: {_escape(str(impact['urgency']))}"
        )
    return (
        f"• `{_escape(incident.id)}` *{incident.severity.value.upper()}* "
        f"{_escape(incident.title)}"
        f" ({_escape(where)}; {incident.status.value} since {since}){urgency}"
    )


def _why(deps: InteractionDeps, tenant: Tenant, incident_id: str) -> CommandReply:
    if not is_incident_id(incident_id):
        # Typed by a person: not an id the product mints, so not one of ours.
        return _reply(f"No incident `{_escape(incident_id[:64])}` for {_escape(tenant.name)}.")
    incident_doc = deps.store.get(Container.INCIDENTS, tenant.id, incident_id)
    analysis = stored_analysis.load(deps.store, tenant.id, incident_id)
    if incident_doc is None and analysis is None:
        return _reply(f"No incident `{_escape(incident_id)}` for {_escape(tenant.name)}.")
    title = _escape(str(incident_doc.get("title") or "")) if incident_doc else ""
    head = f"*Why: `{_escape(incident_id)}`* {title}".rstrip()
    if analysis is None or not analysis.hypotheses:
        return _reply(f"{head}\nNo analysis is stored for this incident yet.")
    sections = [head] + [_hypothesis_text(h) for h in analysis.hypotheses]
    return _reply("\n\n".join(sections))


def _hypothesis_text(h: dict[str, Any]) -> str:
    title = h.get("title") or f"{h.get('category', '?')} of {h.get('target', '?')}"
    confidence = h.get("confidence")
    span = h.get("confidence_range")
    figure = f" {confidence:.0%}" if isinstance(confidence, int | float) else ""
    if (
        isinstance(span, list | tuple)
        and len(span) == 2
        and all(isinstance(x, int | float) for x in span)
    ):
        figure += f" ({span[0]:.0%} to {span[1]:.0%})"
    lines = [f"*{h.get('rank', '?')}. {_escape(str(title))}*{figure}"]
    factors = h.get("factors")
    if isinstance(factors, dict):
        for name, factor in factors.items():
            if isinstance(factor, dict) and isinstance(factor.get("value"), int | float):
                reason = _escape(str(factor.get("reason", "")))
                label = _escape(str(name).replace("_", " "))
                lines.append(f"   • {label} {factor['value']:.2f}: {reason}")
    if h.get("model_version"):
        lines.append(f"   _model {_escape(str(h['model_version']))}_")
    return "\n".join(lines)


def _reply(text: str) -> CommandReply:
    chunks = [text[i : i + SECTION_LIMIT] for i in range(0, len(text), SECTION_LIMIT)]
    blocks = tuple(
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks[:50]
    )
    return CommandReply(text=text if len(text) <= 40_000 else text[:39_999] + "…", blocks=blocks)


def _hypothesis(action: InteractionAction) -> str:
    rank = f"#{action.rank} " if action.rank else ""
    return f"{rank}{_escape(action.category or '?')} of *{_escape(action.target or '?')}*"


def _said(verdict: str | None) -> str:
    return {"likely": "*likely*", "not_it": "*not it*"}.get(verdict or "", str(verdict))
