"""The admin API's own errors (see the tree in ``shared.admin``)."""

from __future__ import annotations

from shared.errors import NotFound, SreCopilotError


class Forbidden(SreCopilotError):
    """A valid token that lacks the app role an operation needs."""

    http_status = 403


class AdminDisabled(NotFound):
    """The admin API has no issuer or audience configured: it answers nothing."""


class KeysUnavailable(SreCopilotError):
    """Transient: the OpenID configuration or JWKS could not be fetched; retry."""

    http_status = 503
