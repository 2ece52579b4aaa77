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
    """The request's headers as valid text.

    A header may carry bytes that are not UTF-8 (a host hands them on as
    surrogate escapes); they become U+FFFD here, so nothing downstream (the
    store, a log line, a credential check) meets text it cannot encode.
    """
    return {_text(k): _text(v) for k, v in req.headers.items()}


def _text(value: str) -> str:
    if value.isascii():
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")  # the bytes as sent
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")
