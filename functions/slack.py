"""Slack's requests: button clicks, the ``/sre`` command, and installing the app.

Each trigger verifies the request, makes one call into ``shared.notify``, and
answers. Slack wants an answer within 3 seconds: a click's work is stored and the
incident's orchestration woken, which applies it and answers the user through
the click's ``response_url``; nothing is left running after the response.
"""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df
import azure.functions as func

from functions.http import error_response, headers_of, json_response
from functions.incident import wake
from functions.remediation import answered, propose_and_start
from shared.bootstrap import runtime
from shared.errors import SreCopilotError
from shared.incidents.steps import record_click
from shared.notify.interactions import (
    OrchestrationEvent,
    RemediationSignal,
    handle_action,
    handle_command,
)
from shared.notify.oauth import begin_install, failure_page, finish_install, success_page
from shared.notify.slack_requests import (
    is_ssl_check,
    parse_command,
    parse_interaction,
    verify_request,
)

bp = df.Blueprint()
log = logging.getLogger("sre_copilot.slack")


async def _wake(client: df.DurableOrchestrationClient, event: OrchestrationEvent) -> None:
    """The click's work is stored already: a wake that fails is only logged.

    The next wake, or the reconciliation timer, drains it.
    """
    try:
        await wake(client, event.tenant_id, event.incident_id)
    except Exception:
        log.warning("could not wake %s for %s", event.incident_id, event.name, exc_info=True)


@bp.route(route="slack/interactions", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def slack_interactions(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Record the click (its work goes to the store), wake the orchestration, answer.

    Nothing runs after the response: a serverless instance may be frozen the
    moment it is sent. A click with work is answered by the orchestration
    once applied; one without (refused, duplicate) is answered here.
    """
    body = req.get_body()
    try:
        rt = runtime()
        verify_request(rt.settings.slack_signing_secret.get_secret_value(), headers_of(req), body)
        action = parse_interaction(body)
        if action is None:
            return func.HttpResponse(status_code=200)
        outcome = await asyncio.to_thread(handle_action, rt, action)
        if outcome.event is not None:
            await asyncio.to_thread(
                record_click, rt, outcome.event, response_url=action.response_url, text=outcome.text
            )
            rt.telemetry.clicked(outcome.event)
    except Exception as exc:  # noqa: BLE001 - the edge maps every failure to a response
        return error_response(exc)
    text = outcome.text
    if outcome.remediation is not None:
        text = await _remediate(client, outcome.remediation, text)
    if outcome.event is not None:
        await _wake(client, outcome.event)
    elif action.response_url:
        await asyncio.to_thread(rt.replies.respond, action.response_url, text)
    return func.HttpResponse(status_code=200)


async def _remediate(
    client: df.DurableOrchestrationClient, signal: RemediationSignal, text: str
) -> str:
    """An answer wakes its proposal's orchestration; "Propose fix" proposes and starts.

    The answer is in the store already: a wake that fails is logged, and the
    orchestration still reads it when its timer fires.
    """
    try:
        if signal.kind == "answer" and signal.proposal_id:
            await answered(client, signal.tenant_id, signal.proposal_id)
            return text
        proposed = await propose_and_start(
            client, signal.tenant_id, signal.incident_id, requested_by=signal.user_id
        )
    except Exception:
        log.warning("remediation %s for %s failed", signal.kind, signal.incident_id, exc_info=True)
        return f"{text}\nSomething went wrong on the way; see the incident's thread."
    return f"{text}\n{proposed.summary()}"


@bp.route(route="slack/commands", methods=["POST"])
async def slack_commands(req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_body()
    if is_ssl_check(body):
        return func.HttpResponse(status_code=200)
    try:
        rt = runtime()
        verify_request(rt.settings.slack_signing_secret.get_secret_value(), headers_of(req), body)
        reply = await asyncio.to_thread(handle_command, rt, parse_command(body))
    except Exception as exc:  # noqa: BLE001 - the edge maps every failure to a response
        return error_response(exc)
    answer = {"response_type": "ephemeral", "text": reply.text, "blocks": list(reply.blocks)}
    return json_response(answer, 200)


@bp.route(route="slack/install", methods=["GET"])
async def slack_install(req: func.HttpRequest) -> func.HttpResponse:
    try:
        url = await asyncio.to_thread(begin_install, runtime())
    except Exception as exc:  # noqa: BLE001 - the edge maps every failure to a response
        return error_response(exc)
    return func.HttpResponse(
        status_code=302, headers={"Location": url, "Cache-Control": "no-store"}
    )


@bp.route(route="slack/oauth/callback", methods=["GET"])
async def slack_oauth_callback(req: func.HttpRequest) -> func.HttpResponse:
    params = req.params
    try:
        result = await asyncio.to_thread(
            finish_install,
            runtime(),
            params.get("code"),
            params.get("state"),
            error=params.get("error"),
        )
    except SreCopilotError as exc:
        return _html(failure_page(exc.reason), exc.http_status)
    except Exception:  # the browser gets a page, the log the details
        log.exception("Slack install failed")
        return _html(failure_page("internal error"), 500)
    return _html(success_page(result), 200)


def _html(page: str, status: int) -> func.HttpResponse:
    return func.HttpResponse(
        page,
        status_code=status,
        mimetype="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )
