"""The incident orchestration: summarise, tell people, follow the incident.

Deterministic by construction: time from ``context.current_utc_datetime``,
all I/O in activities, the losing timer cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from shared.adapters.chat.slack import chat_for
from shared.bootstrap import runtime
from shared.incidents.summary import IncidentSummary, assemble_summary
from shared.ingestion.correlation import IncidentTouch
from shared.notify.delivery import deliver
from shared.notify.summary import render_summary

bp = df.Blueprint()
log = logging.getLogger("sre_copilot.incident")

ORCHESTRATOR = "incident_orchestrator"
SUMMARISE = "summarise_incident"
DELIVER = "deliver_incident_message"
ALERTS_UPDATED = "alerts_updated"
IDLE_TIMEOUT = timedelta(hours=24)


def instance_id(tenant_id: str, incident_id: str) -> str:
    """One orchestration per incident, named after it."""
    return f"{tenant_id}--{incident_id}"


async def signal_incidents(
    client: df.DurableOrchestrationClient, tenant_id: str, touches: Iterable[IncidentTouch]
) -> None:
    """Start the orchestration of a new incident, or tell a running one its alerts changed.

    The alerts are stored already, so a failure here is logged, not returned:
    the orchestration reads the incident afresh whenever it runs.
    """
    for touch in touches:
        instance = instance_id(tenant_id, touch.incident_id)
        ref = {"tenant_id": tenant_id, "incident_id": touch.incident_id}
        try:
            if touch.created:
                await client.start_new(ORCHESTRATOR, instance, ref)
                continue
            try:
                await client.raise_event(instance, ALERTS_UPDATED, {"status": touch.status})
            except Exception as exc:
                if "No instance" not in str(exc):
                    raise
                # Its creator has not started it yet, or never could: start it here.
                await client.start_new(ORCHESTRATOR, instance, ref)
        except Exception:
            log.exception("could not signal orchestration %s", instance)


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)
def incident_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    ref = context.get_input()
    summary = yield context.call_activity(SUMMARISE, ref)
    yield context.call_activity(DELIVER, summary)
    while True:
        timer = context.create_timer(context.current_utc_datetime + IDLE_TIMEOUT)
        updated = context.wait_for_external_event(ALERTS_UPDATED)
        winner = yield context.task_any([updated, timer])
        if winner == timer:
            return {"incident_id": ref["incident_id"], "status": "idle"}
        timer.cancel()
        summary = yield context.call_activity(SUMMARISE, ref)
        yield context.call_activity(DELIVER, summary)
        status = summary["incident"]["status"]
        if status == "resolved":
            return {"incident_id": ref["incident_id"], "status": status}


@bp.activity_trigger(input_name="ref", activity=SUMMARISE)
def summarise_incident(ref: dict[str, Any]) -> dict[str, Any]:
    rt = runtime()
    summary = assemble_summary(
        rt.store, ref["tenant_id"], ref["incident_id"], lookback=rt.change_lookback
    )
    return summary.model_dump(mode="json", by_alias=True)


@bp.activity_trigger(input_name="summary", activity=DELIVER)
def deliver_incident_message(summary: dict[str, Any]) -> dict[str, Any]:
    rt = runtime()
    parsed = IncidentSummary.model_validate(summary)
    tenant = rt.tenants.get(parsed.incident.tenant_id)
    chat = chat_for(rt.settings, tenant, rt.settings.messages_dir) or rt.chat
    posted = deliver(rt.store, chat, render_summary(parsed), channel=tenant.slack_channel_id)
    return posted.model_dump(mode="json")
