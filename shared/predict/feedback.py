"""Clicks on a forecast message: *Acknowledge* and *Not a problem*, kept as feedback.

Reached from ``shared.notify.interactions.handle_action`` once the request was
verified, its workspace mapped to a tenant, the button checked to have been
rendered for that tenant, and the user allowed to act. Here the forecast id
must have the shape the product mints (``FORECAST_ID``, checked before any
store call) and name a forecast posted to that tenant
(``Container.MESSAGES``, ``forecast:<id>``); anything else is answered "not
in this workspace" and nothing is written.

One feedback document per forecast and user (``Container.FEEDBACK``, ``kind:
"forecast"``, ``verdict: "acknowledged" | "not_a_problem"``): a repeated click
is a ``duplicate``, a changed mind overwrites. Incident learning reads only
``likely`` / ``not_it`` verdicts, so these never reach its calibration.
"Not a problem" also keeps the sweep from posting a follow-up that only says
the same risk got worse (``shared.predict.live``). Every change is audited.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any, Literal

from shared.audit import record as audit_record
from shared.errors import Conflict
from shared.models.base import iso
from shared.models.tenant import Tenant
from shared.notify.actions import ActionKind
from shared.notify.interactions import InteractionDeps, InteractionOutcome, OutcomeKind
from shared.notify.mrkdwn import escape
from shared.notify.slack_requests import InteractionAction
from shared.ports.store import Container, DocumentStore, Filter, update_with_retry

FORECAST_ID = re.compile(r"^FC-[0-9a-f]{16}$")
RECORD_PREFIX = "forecast:"
"""``Container.MESSAGES`` id of a posted forecast: ``forecast:<forecast id>``."""

ForecastVerdict = Literal["acknowledged", "not_a_problem"]
_SAID = {"acknowledged": "acknowledged", "not_a_problem": "*not a problem*"}


def forecast_id(tenant_id: str, key: str, at: datetime, action: str) -> str:
    """The id of one post: the same sweep moment, filesystem and action give the same id."""
    digest = hashlib.sha256("\n".join((tenant_id, key, iso(at), action)).encode()).hexdigest()
    return f"FC-{digest[:16]}"


def record_id(forecast: str) -> str:
    return f"{RECORD_PREFIX}{forecast}"


def feedback_id(forecast: str, user_id: str) -> str:
    digest = hashlib.sha256(f"{forecast}\n{user_id}".encode()).hexdigest()[:32]
    return f"fcfb-{forecast}-{digest}"


def posted_forecast(store: DocumentStore, tenant_id: str, forecast: str) -> dict[str, Any] | None:
    """The record of a forecast posted to ``tenant_id``; None for an id not minted or not theirs."""
    if not FORECAST_ID.match(forecast):
        return None
    return store.get(Container.MESSAGES, tenant_id, record_id(forecast))


def dismissed(store: DocumentStore, tenant_id: str, forecast: str) -> bool:
    """Someone said this forecast is not a problem."""
    docs = store.query(
        Container.FEEDBACK,
        tenant_id,
        [Filter("forecast_id", "=", forecast), Filter("verdict", "=", "not_a_problem")],
        limit=1,
    )
    return bool(docs)


def handle_click(
    deps: InteractionDeps, tenant: Tenant, action: InteractionAction
) -> InteractionOutcome:
    """Record a click on a forecast of ``tenant`` (already checked as the workspace's)."""
    forecast = action.incident_id
    record = posted_forecast(deps.store, tenant.id, forecast)
    if record is None:
        return InteractionOutcome(
            OutcomeKind.UNKNOWN_INCIDENT,
            "That forecast is not in this workspace; nothing was recorded.",
            tenant_id=tenant.id,
        )
    verdict: ForecastVerdict = (
        "acknowledged" if action.kind is ActionKind.FORECAST_ACK else "not_a_problem"
    )
    now = deps.clock.now()
    doc_key = feedback_id(forecast, action.user_id)
    doc = {
        "id": doc_key,
        "tenantId": tenant.id,
        "kind": "forecast",
        "forecast_id": forecast,
        "key": record.get("key"),
        "where": record.get("where"),
        "hours_left": record.get("hours_left"),
        "user_id": action.user_id,
        "user_name": action.user_name,
        "team_id": action.team_id,
        "verdict": verdict,
        "at": iso(now),
    }
    where = escape(str(record.get("where") or forecast))
    previous: str | None = None
    try:
        deps.store.create(Container.FEEDBACK, tenant.id, doc)
    except Conflict:
        seen: list[str | None] = []

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            seen.append(current.get("verdict"))
            return None if current.get("verdict") == verdict else doc

        update_with_retry(deps.store, Container.FEEDBACK, tenant.id, doc_key, change)
        previous = seen[-1] if seen else None
        if previous == verdict:
            return InteractionOutcome(
                OutcomeKind.DUPLICATE,
                f"You had already marked the forecast for {where} as {_SAID[verdict]}.",
                tenant_id=tenant.id,
            )
    audit_record(
        deps.store,
        tenant.id,
        at=now,
        actor=f"slack:{action.user_id}",
        action=f"forecast.{verdict}",
        subject=f"forecast:{forecast}",
        detail={
            "user_name": action.user_name,
            "team_id": action.team_id,
            "key": record.get("key"),
            "channel_id": action.channel_id,
            "message_ts": action.message_ts,
            "previous": previous,
        },
    )
    changed = f" (was {_SAID.get(previous, previous)})" if previous else ""
    if verdict == "acknowledged":
        return InteractionOutcome(
            OutcomeKind.ACKNOWLEDGED,
            f"You acknowledged the forecast for {where}{changed}.",
            tenant_id=tenant.id,
        )
    return InteractionOutcome(
        OutcomeKind.FEEDBACK_RECORDED,
        f"Thanks: the forecast for {where} recorded as {_SAID[verdict]}{changed};"
        " no follow-up will say it got worse.",
        tenant_id=tenant.id,
    )
