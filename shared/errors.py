"""One error tree for the product; the edge maps it to HTTP statuses or replies.

::

    SreCopilotError
    ├── BadInput              the caller sent something we cannot accept (400)
    │   └── PayloadTooLarge   body over the limit (413)
    ├── Unauthorized          missing or wrong credentials (401)
    ├── NotFound              unknown tenant, incident ... (404)
    ├── Conflict              the document exists already (409)
    ├── PreconditionFailed    the ETag moved on: re-read and retry
    ├── StoreUnavailable      transient: throttled or down; senders must retry (503)
    ├── DeliveryFailed        a chat message could not be delivered (502); ``permanent``
    │                         says whether retrying can help (invalid_auth: no; 429: yes)
    ├── SearchFailed          the runbook search service refused or failed (502); ``permanent``
    └── ExecutorUnavailable   transient: the executor's backend (Kubernetes API) failed; retry

Expected outcomes (a duplicate delivery, an ignored event type) are values,
not errors.
"""

from __future__ import annotations


class SreCopilotError(Exception):
    """Root of every error the product raises on purpose."""

    http_status = 500

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadInput(SreCopilotError):
    http_status = 400


class PayloadTooLarge(BadInput):
    http_status = 413


class Unauthorized(SreCopilotError):
    http_status = 401


class NotFound(SreCopilotError):
    http_status = 404


class Conflict(SreCopilotError):
    http_status = 409


class PreconditionFailed(SreCopilotError):
    http_status = 412


class StoreUnavailable(SreCopilotError):
    """Transient: the caller should retry (503 to webhook senders)."""

    http_status = 503


class DeliveryFailed(SreCopilotError):
    """A chat delivery failed; ``permanent`` failures are not retried."""

    http_status = 502

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


class SearchFailed(SreCopilotError):
    """The search service refused or failed a request; ``permanent``: retrying won't help."""

    http_status = 502

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


class ExecutorUnavailable(SreCopilotError):
    """Transient: the executor's backend did not answer or failed; the step is retried
    (idempotency keys make that safe). A refused action is a value, not this."""

    http_status = 503
