"""How the buttons of an incident message name themselves (pure functions).

The renderer builds the buttons with these functions and the interaction
parser reads them back with the same ones, so the two cannot drift apart.

- ``action_id`` says what the button does and, for a hypothesis, which rank it
  was: ``hyp_likely:<rank>``, ``hyp_not_it:<rank>``, ``ack``,
  ``resolve_with:<rank>``, ``propose_fix``; on a capacity forecast, ``fc_ack``
  and ``fc_not_a_problem``; on a remediation proposal, ``rem_stop``,
  ``rem_approve`` and ``rem_reject``; on an earned-trust promotion proposal,
  ``trust_promote`` and ``trust_not_yet`` (``i`` names the proposal, ``g``
  the action); ``rb_used:<position>`` on a runbook the incident message lists (the
  responder used it: earned trust's second signal). Slack requires it to be
  unique within a block.
- ``value`` is compact JSON naming the incident (or the forecast) and the
  hypothesis the click is about: ``{"i": incident_id, "t": tenant_id, "c":
  category, "g": target, "v": model_version, "p": proposal_id}`` (absent keys
  omitted; ``p`` only on a remediation proposal's buttons; ``g`` is the
  runbook id on ``rb_used``). The
  rank alone is not enough: a later analysis may reorder the hypotheses while
  the old message is still on screen, so feedback keys on category and target.

Slack caps ``action_id`` at 255 characters and ``value`` at 2000; encoding
refuses (``BadInput``) rather than truncate, because a clipped target would
record feedback about a different hypothesis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.errors import BadInput
from shared.json_input import parse_json

ACTION_ID_LIMIT = 255
VALUE_LIMIT = 2000
BUTTON_TEXT_LIMIT = 75


class ActionKind(StrEnum):
    """What a button asks for."""

    LIKELY = "hyp_likely"
    NOT_IT = "hyp_not_it"
    ACK = "ack"
    RESOLVE_WITH = "resolve_with"
    FORECAST_ACK = "fc_ack"
    FORECAST_NOT_A_PROBLEM = "fc_not_a_problem"
    PROPOSE_FIX = "propose_fix"
    STOP = "rem_stop"
    APPROVE = "rem_approve"
    REJECT = "rem_reject"
    PROMOTE = "trust_promote"
    NOT_YET = "trust_not_yet"
    RUNBOOK_USED = "rb_used"

    @property
    def needs_rank(self) -> bool:
        """A rank (or a runbook's position) keeps the action ids of one block apart."""
        return self.needs_hypothesis or self is ActionKind.RUNBOOK_USED

    @property
    def needs_hypothesis(self) -> bool:
        """Feedback and resolution name a hypothesis; acknowledging does not."""
        return self in (ActionKind.LIKELY, ActionKind.NOT_IT, ActionKind.RESOLVE_WITH)

    @property
    def on_forecast(self) -> bool:
        """A button of a capacity forecast message: its ``incident_id`` is a forecast id."""
        return self in (ActionKind.FORECAST_ACK, ActionKind.FORECAST_NOT_A_PROBLEM)

    @property
    def on_proposal(self) -> bool:
        """A button of a remediation proposal's message: its value names the proposal."""
        return self in (ActionKind.STOP, ActionKind.APPROVE, ActionKind.REJECT)

    @property
    def on_promotion(self) -> bool:
        """A button of an earned-trust promotion proposal: its ``incident_id`` is the proposal."""
        return self in (ActionKind.PROMOTE, ActionKind.NOT_YET)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionValue:
    """What a button's ``value`` carries."""

    incident_id: str
    tenant_id: str
    category: str | None = None
    target: str | None = None
    model_version: str | None = None
    proposal_id: str | None = None


def action_id(kind: ActionKind, rank: int | None = None) -> str:
    """``ack`` or ``<kind>:<rank>``; the rank is required exactly when the kind needs one."""
    if kind.needs_rank:
        if rank is None or isinstance(rank, bool) or rank < 1:
            raise BadInput(f"{kind.value} needs a rank >= 1, not {rank!r}")
        text = f"{kind.value}:{rank}"
        if len(text) > ACTION_ID_LIMIT:
            raise BadInput(f"action_id is {len(text)} characters; Slack allows {ACTION_ID_LIMIT}")
        return text
    if rank is not None:
        raise BadInput(f"{kind.value} takes no rank")
    return kind.value


def parse_action_id(text: str) -> tuple[ActionKind, int | None] | None:
    """The kind and rank of one of our action ids; None for an id that is not ours.

    Not ours is not an error: a link button (open a runbook) also reports a
    click, and it must be acknowledged and ignored.
    """
    name, sep, rank_text = text.partition(":")
    try:
        kind = ActionKind(name)
    except ValueError:
        return None
    if not kind.needs_rank:
        return (kind, None) if not sep else None
    if not rank_text.isdigit() or not rank_text.isascii() or int(rank_text) < 1:
        raise BadInput(f"action {text[:60]!r}: the rank must be a whole number >= 1")
    return kind, int(rank_text)


def encode_value(value: ActionValue) -> str:
    """Compact JSON within Slack's 2000 characters (``BadInput`` beyond)."""
    if not value.incident_id or not value.tenant_id:
        raise BadInput("a button value needs the incident and the tenant")
    fields = {
        "i": value.incident_id,
        "t": value.tenant_id,
        "c": value.category,
        "g": value.target,
        "v": value.model_version,
        "p": value.proposal_id,
    }
    text = json.dumps(
        {k: v for k, v in fields.items() if v is not None},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    if len(text) > VALUE_LIMIT:
        raise BadInput(f"button value is {len(text)} characters; Slack allows {VALUE_LIMIT}")
    return text


def decode_value(text: str) -> ActionValue:
    """The value ``encode_value`` produced; ``BadInput`` for anything else."""
    if len(text) > VALUE_LIMIT:
        raise BadInput(f"button value is over Slack's {VALUE_LIMIT} characters")
    raw = parse_json(text, what="button value", max_depth=1)
    if not isinstance(raw, dict):
        raise BadInput("button value is not a JSON object")
    for key in ("i", "t"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise BadInput(f"button value lacks {key!r}")
    for key in ("c", "g", "v", "p"):
        if key in raw and not isinstance(raw[key], str):
            raise BadInput(f"button value field {key!r} must be a string")
    return ActionValue(
        incident_id=raw["i"],
        tenant_id=raw["t"],
        category=raw.get("c"),
        target=raw.get("g"),
        model_version=raw.get("v"),
        proposal_id=raw.get("p"),
    )


def button(
    text: str,
    kind: ActionKind,
    value: ActionValue,
    *,
    rank: int | None = None,
    style: str | None = None,
) -> dict[str, Any]:
    """A Block Kit button element that the parser will understand."""
    if kind.needs_hypothesis and (not value.category or not value.target):
        raise BadInput(f"a {kind.value} button must name the hypothesis' category and target")
    if kind is ActionKind.RUNBOOK_USED and not value.target:
        raise BadInput("a rb_used button must name the runbook (as its target)")
    if kind.on_proposal and not value.proposal_id:
        raise BadInput(f"a {kind.value} button must name the proposal")
    label = text if len(text) <= BUTTON_TEXT_LIMIT else text[: BUTTON_TEXT_LIMIT - 1] + "…"
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": action_id(kind, rank),
        "value": encode_value(value),
    }
    if style is not None:
        if style not in ("primary", "danger"):
            raise BadInput(f"button style must be primary or danger, not {style!r}")
        element["style"] = style
    return element
