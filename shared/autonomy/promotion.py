"""Earned trust proposed in Slack: a ready action is offered for promotion, an approver decides.

``sweep`` runs on a timer (with the daily digest's, from 09:00 in the
tenant's zone), right after an incident is resolved (when judgement can
change), and from ``sre-copilot autonomy propose``. For each action that
``trust.assess`` finds ready it posts ONE message to the tenant's channel
("restart_pod agreed with responders on 11 of 12 incidents (92 %) in shadow
mode; promote it to active at low risk?") with ``Promote`` and ``Not yet``.

Once per readiness: the proposal is a send-once mark (``notify.once``) in
the tenant's cache partition whose id names the action, a fingerprint of the
action's policy (its entry and who may promote it) and the round, so a
repeated sweep, or two racing ones, post it once; a policy change to the
action makes a new readiness (and the old message stale). After ``Not yet``
the round moves on, but nothing is proposed again until ``min_judged`` more
incidents were judged (counted from the answer).

``click`` is the interaction use case. The workspace's tenant was checked by
``notify.interactions``; here the proposal id must have the shape this
module mints and name a proposal of that tenant for the action the button
names (a forged value finds nothing in another tenant's partition).
``Promote`` is the approvers' (``trust.approvers``, the CLI's rule) and goes
through ``trust.promote`` (audited ``policy.set`` and ``autonomy.promote``,
readiness checked again); ``Not yet`` is an approver's or a responder's, the
safe direction, and is audited. The answer is claimed on the proposal under
its ETag first, so a double click promotes once; a proposal whose action is
active already, or whose policy entry changed, answers that it is stale.
Outcomes are values; the message is updated in place when the runtime can
reach the chat.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from shared.audit import record as audit_record
from shared.autonomy import trust
from shared.autonomy.policies import load_policy
from shared.autonomy.policy import Mode, Policy
from shared.clock import Clock
from shared.errors import PreconditionFailed
from shared.models.base import iso
from shared.models.tenant import Tenant
from shared.notify.actions import ActionKind, ActionValue, button
from shared.notify.interactions import InteractionDeps, InteractionOutcome, OutcomeKind, may_act
from shared.notify.mrkdwn import escape
from shared.notify.once import CLAIM_TIMEOUT, SendOnce
from shared.notify.slack_requests import InteractionAction
from shared.ports.chat import ChatMessage, ChatPort, PostedMessage
from shared.ports.store import Container, DocumentStore, Filter

log = logging.getLogger("sre_copilot.autonomy.promotion")

KIND = "promotion-proposal"
MESSAGE_KIND = "promotion"
TTL_S = 400 * 24 * 3600
"""A proposal (and a "Not yet") is remembered for over a year."""
PROPOSE = "autonomy.propose"
NOT_YET = "autonomy.not_yet"
PROPOSAL_ID = re.compile(r"promotion-[a-z][a-z0-9_]{0,63}-[0-9a-f]{12}-[0-9]{1,6}")
"""The ids ``proposal_id`` mints; a button value naming anything else is refused unread."""

SENDING, SENT, PROMOTING, PROMOTED, DECLINED, STALE = (
    "sending",
    "sent",
    "promoting",
    "promoted",
    "declined",
    "stale",
)


class SweepDeps(Protocol):
    @property
    def store(self) -> DocumentStore: ...

    @property
    def clock(self) -> Clock: ...

    def chat_for(self, tenant: Tenant) -> ChatPort: ...


@runtime_checkable
class HasChat(Protocol):
    """A runtime that reaches the tenant's chat (``Runtime``): clicks update the message."""

    def chat_for(self, tenant: Tenant) -> ChatPort: ...


def fingerprint(policy: Policy, action: str) -> str:
    """What a promotion of ``action`` depends on: its policy entry and who may promote it."""
    entry = policy.actions[action]
    raw = json.dumps(
        [entry.model_dump(mode="json"), list(trust.approvers(policy, action))], sort_keys=True
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def proposal_id(action: str, print_: str, round_: int) -> str:
    return f"promotion-{action}-{print_}-{round_}"


def proposals(store: DocumentStore, tenant_id: str, action: str) -> list[dict[str, Any]]:
    return store.query(
        Container.CACHE, tenant_id, [Filter("kind", "=", KIND), Filter("action", "=", action)]
    )


# --- the message ---------------------------------------------------------------------------


def question(row: trust.Agreement) -> str:
    share = row.share or 0.0
    return (
        f"{row.action} agreed with responders on {row.agreed} of {row.judged} incidents "
        f"({share:.0%}) in shadow mode; promote it to active at {row.tier} risk?"
    )


def render(tenant_id: str, mark: dict[str, Any], *, status: str | None = None) -> ChatMessage:
    """The proposal; with ``status`` (answered or stale) it has no buttons left."""
    text = str(mark["question"])
    lines = [f"*Earned trust*: {escape(text)}"]
    if status is not None:
        lines.append(f"*Status:* {status}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": escape(
                        f"Only its approvers may promote it ({', '.join(mark['approvers'])}); "
                        "the change is audited. Not yet: asked again after "
                        f"{mark['min_judged']} more judged incidents."
                    ),
                }
            ],
        },
    ]
    if status is None:
        value = ActionValue(incident_id=str(mark["id"]), tenant_id=tenant_id, target=mark["action"])
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    button("Promote", ActionKind.PROMOTE, value, style="primary"),
                    button("Not yet", ActionKind.NOT_YET, value),
                ],
            }
        )
    return ChatMessage(
        tenant_id=tenant_id,
        incident_id=str(mark["id"]),
        text=text if status is None else f"{text} ({status})",
        blocks=tuple(blocks),
        kind=MESSAGE_KIND,
    )


# --- the sweep ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Posted:
    action: str
    proposal_id: str
    text: str
    channel: str
    ts: str


@dataclass(frozen=True, slots=True)
class Sweep:
    """What one sweep did for a tenant: what it posted, and why each ready action was not."""

    tenant_id: str
    posted: tuple[Posted, ...] = ()
    held: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant_id,
            "posted": [
                {
                    "action": p.action,
                    "proposal_id": p.proposal_id,
                    "text": p.text,
                    "channel": p.channel,
                    "ts": p.ts,
                }
                for p in self.posted
            ],
            "held": list(self.held),
        }

    def lines(self) -> list[str]:
        found = [f"{self.tenant_id}: promotion proposals"]
        found += [f"  posted {p.proposal_id} -> {p.channel} {p.ts}: {p.text}" for p in self.posted]
        found += [f"  {line}" for line in self.held]
        if len(found) == 1:
            found.append("  nothing ready for promotion")
        return found


def sweep(
    deps: SweepDeps,
    tenant: Tenant,
    *,
    now: datetime,
    min_judged: int = trust.DEFAULT_MIN_JUDGED,
    threshold: float = trust.DEFAULT_THRESHOLD,
) -> Sweep:
    """Propose each ready action of the tenant once (see the module doc)."""
    if tenant.disabled:
        return Sweep(tenant.id, held=("tenant disabled: nothing proposed",))
    stored = load_policy(deps.store, tenant.id)
    if stored is None or not any(e.mode is Mode.SHADOW for e in stored.policy.actions.values()):
        return Sweep(tenant.id)  # nothing in shadow mode: no need to read the record
    rows = trust.assessed(
        deps.store, tenant.id, stored.policy, min_judged=min_judged, threshold=threshold
    )
    posted: list[Posted] = []
    held: list[str] = []
    for row in rows:
        if not row.ready:
            continue
        done = _propose(deps, tenant, stored.policy, row, now=now, min_judged=min_judged)
        if isinstance(done, str):
            held.append(done)
        else:
            posted.append(done)
    return Sweep(tenant.id, tuple(posted), tuple(held))


def _propose(
    deps: SweepDeps,
    tenant: Tenant,
    policy: Policy,
    row: trust.Agreement,
    *,
    now: datetime,
    min_judged: int,
) -> Posted | str:
    print_ = fingerprint(policy, row.action)
    marks = proposals(deps.store, tenant.id, row.action)
    # A "Not yet", or a promotion since undone (the action is in shadow mode
    # again), waits for min_judged more judged incidents before asking again.
    answered = [m for m in marks if m.get("state") in (DECLINED, PROMOTED)]
    if answered:
        last = max(int(m.get("judged_at_answer") or m.get("judged") or 0) for m in answered)
        if row.judged < last + min_judged:
            return (
                f"{row.action}: answered at {last} judged incidents ('Not yet', or promoted "
                f"and put back in shadow mode); proposed again at {last + min_judged} "
                f"({row.judged} now)"
            )
    # Each answered proposal under this policy entry ends a round: a "Not yet", a
    # promotion since undone (the action put back in shadow), a proposal made stale
    # by a policy change since reverted. The next proposal is a new round.
    round_ = sum(
        1
        for m in marks
        if m.get("fingerprint") == print_ and m.get("state") in (DECLINED, PROMOTED, STALE)
    )
    mark_id = proposal_id(row.action, print_, round_)
    approvers = trust.approvers(policy, row.action)
    once = SendOnce(
        deps.store,
        tenant.id,
        mark_id,
        KIND,
        TTL_S,
        {
            "action": row.action,
            "tier": row.tier,
            "fingerprint": print_,
            "round": round_,
            "judged": row.judged,
            "agreed": row.agreed,
            "min_judged": min_judged,
            "approvers": list(approvers) or ["nobody: the policy names no approvers"],
            "question": question(row),
        },
    )
    if not once.claim(now):
        return f"{row.action}: proposed already ({mark_id}), awaiting an answer"
    mark = {**once.fields, "id": mark_id}
    try:
        where = deps.chat_for(tenant).post(render(tenant.id, mark), channel=tenant.slack_channel_id)
    except BaseException:
        once.release()
        raise
    once.sent(now, where)
    for old in marks:  # a proposal under the action's former policy entry is stale now
        if old.get("state") != SENT or old.get("fingerprint") == print_:
            continue
        if (moved := _move(deps.store, tenant.id, old, STALE, now, {})) is not None:
            _update(deps, tenant, moved, "stale: the policy changed; see the newer proposal")
    _audit(
        deps.store,
        tenant.id,
        now,
        actor="sre-copilot",
        action=PROPOSE,
        subject=row.action,
        detail={"proposal": mark_id, "agreement": row.row(), "channel": where.channel},
    )
    return Posted(row.action, mark_id, question(row), where.channel, where.ts)


# --- the click -------------------------------------------------------------------------------


def click(deps: InteractionDeps, tenant: Tenant, action: InteractionAction) -> InteractionOutcome:
    """``Promote`` / ``Not yet`` on a proposal, once the workspace maps to ``tenant``."""
    name = action.target or ""
    mark = (
        deps.store.get(Container.CACHE, tenant.id, action.incident_id)
        if PROPOSAL_ID.fullmatch(action.incident_id)
        else None
    )
    if mark is None or mark.get("kind") != KIND or mark.get("action") != name:
        log.warning(
            "promotion click on unknown proposal %r in %s", action.incident_id[:80], tenant.id
        )
        return _out(
            OutcomeKind.UNKNOWN_INCIDENT,
            tenant,
            "That proposal is not in this workspace; nothing changed.",
        )
    stored = load_policy(deps.store, tenant.id)
    if stored is None or name not in stored.policy.actions:
        return _stale(
            deps, tenant, mark, f"{escape(name)} is no longer in the policy; nothing changed."
        )
    allowed = trust.approvers(stored.policy, name)
    promoting = action.kind is ActionKind.PROMOTE
    if action.user_id not in allowed and (promoting or not may_act(tenant, action.user_id)):
        who = ", ".join(f"<@{escape(a)}>" for a in allowed) or "nobody (the policy names none)"
        return _out(
            OutcomeKind.NOT_AUTHORISED,
            tenant,
            f"Only the approvers of {escape(name)} may {'promote it' if promoting else 'answer'} "
            f"({who}); nothing changed.",
        )
    now = deps.clock.now()
    state = mark.get("state")
    if state == PROMOTING and now - datetime.fromisoformat(str(mark["at"])) >= CLAIM_TIMEOUT:
        state = SENT  # a click that died between its claim and the promotion: take it over
    if state != SENT:
        return _answered(tenant, mark)
    if stored.policy.actions[name].mode is Mode.ACTIVE:
        return _stale(deps, tenant, mark, f"{escape(name)} is active already; nothing changed.")
    if fingerprint(stored.policy, name) != mark.get("fingerprint"):
        return _stale(
            deps,
            tenant,
            mark,
            f"The policy of {escape(name)} changed since this proposal; nothing changed. "
            "A new proposal follows if it is still ready.",
        )
    if promoting:
        return _promote(deps, tenant, mark, action.user_id, now)
    return _not_yet(deps, tenant, stored.policy, mark, action.user_id, now)


def _promote(
    deps: InteractionDeps, tenant: Tenant, mark: dict[str, Any], user: str, now: datetime
) -> InteractionOutcome:
    name = str(mark["action"])
    claimed = _move(deps.store, tenant.id, mark, PROMOTING, now, {"by": user})
    if claimed is None:
        return _answered(tenant, _reload(deps.store, tenant.id, mark))
    done = trust.promote(deps.store, tenant.id, name, by=user, now=now)
    if done.refused:  # no longer ready: the proposal stays open for a later click
        _move(deps.store, tenant.id, claimed, SENT, now, {"by": None})
        text = done.message.removesuffix(" (--force overrides)")
        return _out(OutcomeKind.STALE, tenant, f"{escape(text)}; nothing changed.")
    final = _move(deps.store, tenant.id, claimed, PROMOTED, now, {"by": user}) or claimed
    _update(deps, tenant, final, f"promoted to active by <@{escape(user)}>")
    return _out(OutcomeKind.PROMOTION_ANSWERED, tenant, escape(done.message) + ".")


def _not_yet(
    deps: InteractionDeps,
    tenant: Tenant,
    policy: Policy,
    mark: dict[str, Any],
    user: str,
    now: datetime,
) -> InteractionOutcome:
    name = str(mark["action"])
    rows = trust.assessed(deps.store, tenant.id, policy)
    judged = next((r.judged for r in rows if r.action == name), 0)
    moved = _move(
        deps.store, tenant.id, mark, DECLINED, now, {"by": user, "judged_at_answer": judged}
    )
    if moved is None:
        return _answered(tenant, _reload(deps.store, tenant.id, mark))
    again = judged + int(mark.get("min_judged") or trust.DEFAULT_MIN_JUDGED)
    _audit(
        deps.store,
        tenant.id,
        now,
        actor=f"slack:{user}",
        action=NOT_YET,
        subject=name,
        detail={"proposal": mark["id"], "judged": judged, "ask_again_at": again},
    )
    status = f"not yet, said <@{escape(user)}>: asked again at {again} judged incidents"
    _update(deps, tenant, moved, status)
    return _out(
        OutcomeKind.PROMOTION_ANSWERED,
        tenant,
        f"{escape(name)} stays in shadow mode; it is proposed again once {again} incidents "
        f"are judged ({judged} now).",
    )


def _answered(tenant: Tenant, mark: dict[str, Any]) -> InteractionOutcome:
    state, by = mark.get("state"), mark.get("by")
    who = f"<@{escape(by)}>" if by else "someone"
    said = {
        PROMOTED: f"was promoted already by {who}",
        PROMOTING: f"is being promoted by {who}",
        DECLINED: f"was answered 'Not yet' by {who}",
        STALE: "is stale: the policy changed since",
    }.get(str(state), "is not open for an answer")
    return _out(
        OutcomeKind.DUPLICATE, tenant, f"This proposal for {escape(mark['action'])} {said}."
    )


def _stale(
    deps: InteractionDeps, tenant: Tenant, mark: dict[str, Any], text: str
) -> InteractionOutcome:
    if mark.get("state") == SENT:
        moved = _move(deps.store, tenant.id, mark, STALE, deps.clock.now(), {})
        if moved is not None:
            _update(deps, tenant, moved, "stale: the policy changed since it was proposed")
    return _out(OutcomeKind.STALE, tenant, text)


def _move(
    store: DocumentStore,
    tenant_id: str,
    mark: dict[str, Any],
    state: str,
    now: datetime,
    changes: dict[str, Any],
) -> dict[str, Any] | None:
    """Move the proposal under the ETag it was read with; None when someone moved it first."""
    body = {k: v for k, v in mark.items() if not k.startswith("_")}
    body |= {"state": state, "at": iso(now), "answered_at": iso(now), **changes}
    try:
        return store.replace(Container.CACHE, tenant_id, body, etag=str(mark["_etag"]))
    except PreconditionFailed:
        return None


def _reload(store: DocumentStore, tenant_id: str, mark: dict[str, Any]) -> dict[str, Any]:
    return store.get(Container.CACHE, tenant_id, str(mark["id"])) or mark


def _update(deps: object, tenant: Tenant, mark: dict[str, Any], status: str) -> None:
    """Replace the posted message (buttons gone); a failure is logged, the answer stands."""
    if not isinstance(deps, HasChat) or not mark.get("channel") or not mark.get("ts"):
        return
    where = PostedMessage(channel=str(mark["channel"]), ts=str(mark["ts"]))
    try:
        deps.chat_for(tenant).update(render(tenant.id, mark, status=status), posted=where)
    except Exception:  # logged: the decision is stored and audited either way
        log.warning("could not update promotion proposal %s", mark.get("id"), exc_info=True)


def _out(kind: OutcomeKind, tenant: Tenant, text: str) -> InteractionOutcome:
    return InteractionOutcome(kind, text, tenant_id=tenant.id)


def _audit(
    store: DocumentStore,
    tenant_id: str,
    now: datetime,
    *,
    actor: str,
    action: str,
    subject: str,
    detail: dict[str, Any],
) -> None:
    audit_record(
        store,
        tenant_id,
        at=now,
        actor=actor,
        action=action,
        subject=f"policy:{tenant_id}:{subject}",
        detail=detail,
    )
