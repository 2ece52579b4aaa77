"""Translating between HTTP and the product's outcomes and errors."""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func

from shared.errors import SreCopilotError

log = logging.getLogger("sre_copilot.http")


def json_response(body: Any, status: int) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype="application/json", charset="utf-8"
    )


def error_response(exc: Exception) -> func.HttpResponse:
    """A product error becomes its status with the reason; anything else a bare 500."""
    if isinstance(exc, SreCopilotError):
        if exc.http_status >= 500:
            log.warning("transient failure: %s", exc.reason)
            return json_response({"error": "unavailable", "reason": exc.reason}, exc.http_status)
        return json_response({"error": type(exc).__name__, "reason": exc.reason}, exc.http_status)
    log.exception("unexpected failure")
    return json_response({"error": "internal", "reason": "internal error"}, 500)


def headers_of(req: func.HttpRequest) -> dict[str, str]:
    return dict(req.headers.items())
