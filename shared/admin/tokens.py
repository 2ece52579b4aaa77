"""Entra ID bearer tokens: who is calling, and with which app roles.

A token is accepted when it is a JWT signed with RS256 by a key the issuer
publishes (``SigningKeys``), its ``iss`` is the configured issuer, its ``aud``
one of the configured audiences, it is within ``exp`` / ``nbf`` (a leeway of
``LEEWAY_SECONDS`` for clock skew), and it names the caller's object id
(``oid``). The algorithm is fixed: a token claiming ``none`` or ``HS256``
(signed with the public key as an HMAC secret) is refused before any key is
looked up. Each refusal is ``Unauthorized`` with a reason the caller can act on.

App roles come from the ``roles`` claim (assigned to users, groups or
applications on the app registration): ``Tenants.Read`` reads,
``Tenants.Admin`` reads and writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt

from shared.admin.errors import Forbidden
from shared.admin.keys import SigningKeys
from shared.errors import Unauthorized
from shared.ingestion.auth import header

ALGORITHMS = ("RS256",)
LEEWAY_SECONDS = 60.0
MAX_TOKEN_CHARS = 16 * 1024
REQUIRED_CLAIMS = ("exp", "iss", "aud", "oid")


class Role(StrEnum):
    ADMIN = "Tenants.Admin"
    READ = "Tenants.Read"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who the token speaks for."""

    object_id: str
    """``oid``: the user's or application's object id in the directory (audited)."""
    name: str | None
    """``preferred_username``, ``name`` or ``appid``/``azp``: for people reading the audit."""
    roles: frozenset[str]

    @property
    def actor(self) -> str:
        """How audit records name this caller."""
        return f"entra:{self.object_id}"

    def may(self, role: Role) -> bool:
        return role.value in self.roles or (role is Role.READ and Role.ADMIN.value in self.roles)


def require(caller: Caller, role: Role) -> None:
    """``Forbidden`` naming the missing app role, unless ``caller`` has it."""
    if not caller.may(role):
        held = ", ".join(sorted(caller.roles)) or "none"
        raise Forbidden(f"the token lacks the app role '{role.value}' (roles held: {held})")


class TokenValidator:
    """Validates ``Authorization: Bearer`` tokens of one issuer and audience."""

    def __init__(
        self,
        *,
        issuer: str,
        audiences: Iterable[str],
        keys: SigningKeys,
        leeway_seconds: float = LEEWAY_SECONDS,
    ) -> None:
        self._issuer = issuer
        self._audiences = tuple(audiences)
        self._keys = keys
        self._leeway = leeway_seconds

    def caller(self, headers: Mapping[str, str]) -> Caller:
        """The caller the request's bearer token proves; ``Unauthorized`` says why not."""
        token = _bearer(headers)
        try:
            head = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("malformed token: not a signed JWT") from None
        alg = head.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthorized(f"token algorithm {str(alg)[:20]!r} is not accepted (RS256 only)")
        kid = head.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("token header names no signing key (kid)")
        key = self._keys.key_for(kid)
        claims = self._claims(token, key.key)
        roles = claims.get("roles")
        return Caller(
            object_id=str(claims["oid"]),
            name=_name(claims),
            roles=frozenset(r for r in roles if isinstance(r, str))
            if isinstance(roles, list)
            else frozenset(),
        )

    def _claims(self, token: str, key: Any) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=list(self._audiences),
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidSignatureError:
            raise Unauthorized(
                "bad signature: the token was not signed by the key it names"
            ) from None
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired (exp is past)") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("token not valid yet (nbf or iat is in the future)") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized(f"wrong issuer: the token's iss is not {self._issuer!r}") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized(
                f"wrong audience: the token's aud is not {' or '.join(self._audiences)!r}"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"token has no '{exc.claim}' claim") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {str(exc)[:200]}") from None
        if not isinstance(claims.get("oid"), str) or not claims["oid"]:
            raise Unauthorized("token's oid claim is not an object id")
        return claims


def _bearer(headers: Mapping[str, str]) -> str:
    value = header(headers, "Authorization")
    if not value:
        raise Unauthorized(
            "missing Authorization header (expected 'Bearer <Entra ID access token>')"
        )
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization header is not 'Bearer <token>'")
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized(f"token longer than {MAX_TOKEN_CHARS} characters")
    if not token.isascii():
        raise Unauthorized("malformed token: not a signed JWT")
    return token


def _name(claims: Mapping[str, Any]) -> str | None:
    for claim in ("preferred_username", "name", "azp", "appid"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value[:200]
    return None
