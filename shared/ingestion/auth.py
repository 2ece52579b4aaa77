"""Proving that a request belongs to the tenant its route names.

Alertmanager: ``Authorization: Bearer <token>`` (its ``http_config.authorization``).
PagerDuty: ``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 of the
raw body with the subscription's secret; several signatures may come during a
secret rotation, and any one matching any of the tenant's secrets is enough.
All comparisons are constant-time, on bytes: a header value is whatever the
sender put there (non-ASCII, or bytes that were not UTF-8 and reach us as
surrogate escapes), and such a value is wrong credentials (401), never an error.

Bearer tokens are stored as salted SHA-256 hashes (``TokenHash``): the offered
token is hashed with the stored salt and the digests compared. A tenant
document written before hashing still holds the plain token, which is compared
as it is until the token is rotated (or the tenant rewritten, which seals it);
when a hash is stored, only the hash counts.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from pydantic import SecretStr

from shared.errors import Unauthorized
from shared.models.tenant import TokenHash


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (HTTP header names are case-insensitive)."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _bytes(text: str) -> bytes:
    """Any header text as bytes, lone surrogates included (they cannot match a secret)."""
    return text.encode("utf-8", "surrogatepass")


def _same(offered: str, expected: str) -> bool:
    return hmac.compare_digest(_bytes(offered), _bytes(expected))


def verify_bearer(
    headers: Mapping[str, str],
    expected: SecretStr | None,
    *,
    what: str,
    hashed: TokenHash | None = None,
) -> None:
    """The request carries the tenant's token: ``hashed`` when stored, else the plain one."""
    plain = expected.get_secret_value() if expected is not None else ""
    if hashed is None and not plain:
        raise Unauthorized(f"no {what} token is configured for this tenant")
    value = header(headers, "Authorization")
    if not value:
        raise Unauthorized("missing Authorization header (expected 'Bearer <token>')")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header is not 'Bearer <token>'")
    offered = token.strip()
    matched = hashed.matches(_bytes(offered)) if hashed is not None else _same(offered, plain)
    if not matched:
        raise Unauthorized(f"wrong {what} token")


def pagerduty_signature(secret: str, body: bytes) -> str:
    """The ``v1=`` signature PagerDuty sends for ``body`` under ``secret``."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_pagerduty(headers: Mapping[str, str], body: bytes, secrets: Iterable[SecretStr]) -> None:
    candidates = [s.get_secret_value() for s in secrets if s.get_secret_value()]
    if not candidates:
        raise Unauthorized("no PagerDuty signing secret is configured for this tenant")
    value = header(headers, "X-PagerDuty-Signature")
    if not value:
        raise Unauthorized("missing X-PagerDuty-Signature header")
    offered = [part.strip() for part in value.split(",") if part.strip().startswith("v1=")]
    if not offered:
        raise Unauthorized("X-PagerDuty-Signature has no v1= signature")
    for secret in candidates:
        expected = pagerduty_signature(secret, body)
        if any(_same(sig, expected) for sig in offered):
            return
    raise Unauthorized("X-PagerDuty-Signature does not match any signing secret")
