"""A tenant: one customer organisation, its credentials, chat and topology."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_serializer, field_validator, model_validator

from shared.models.base import Model, TenantDocument, UtcDatetime, iana_zone


class Slo(Model):
    """A service's objectives: the share of requests that must succeed, and how
    fast the 99th percentile must be (either may be left out)."""

    availability: float | None = Field(default=None, gt=0.0, lt=1.0)
    latency_p99_seconds: float | None = Field(default=None, gt=0.0)


class Service(Model):
    """A node of the service topology: what it calls and where it runs.

    ``tier`` 1 is what users touch directly, higher tiers are further from them.
    ``async_calls`` are the dependencies it calls without waiting for their work
    (a workflow it starts, a queue consumer's processing): their delays and
    failures do not reach it, so root-cause analysis does not blame them for
    its symptoms. Each is also one of its ``depends_on``.
    """

    name: str = Field(min_length=1)
    team: str | None = None
    tier: int | None = None
    depends_on: tuple[str, ...] = ()
    async_calls: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()
    slo: Slo | None = None

    @model_validator(mode="after")
    def _async_calls_are_dependencies(self) -> Service:
        stray = [d for d in self.async_calls if d not in self.depends_on]
        if stray:
            raise ValueError(
                f"service {self.name!r}: async_calls {', '.join(map(repr, stray))} "
                "not in its depends_on"
            )
        return self


class CallNode(Protocol):
    """A node of the call graph, as the topology (``Service``) or an analysis
    (``analysis.ServiceNode``) holds it."""

    @property
    def depends_on(self) -> tuple[str, ...]: ...

    @property
    def async_calls(self) -> tuple[str, ...]: ...


def waits_for(node: CallNode) -> tuple[str, ...]:
    """The dependencies ``node`` waits for: the calls a delay or a failure travels back
    along (its ``depends_on`` less its ``async_calls``)."""
    return tuple(d for d in node.depends_on if d not in node.async_calls)


class Topology(Model):
    services: tuple[Service, ...] = ()

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def callers_of(self, name: str) -> list[str]:
        return [s.name for s in self.services if name in s.depends_on]

    def hosts(self) -> set[str]:
        return {h for s in self.services for h in s.instances}


class TokenHash(Model):
    """A bearer token as the store keeps it: SHA-256 over a random salt and the token.

    The token itself is not kept; ``matches`` compares digests in constant time.
    Tokens are generated with 192 bits or more of randomness, so one salted SHA-256 is enough
    (a slow password hash protects guessable secrets, which these are not).
    """

    salt: str
    """Hex, 16 random bytes, drawn anew for every token."""
    sha256: str
    """Hex digest of ``salt bytes + token bytes``."""
    set_at: UtcDatetime | None = None
    """When the token was set or last rotated (None: before this was recorded)."""

    @classmethod
    def of(cls, token: str, *, at: datetime | None = None) -> TokenHash:
        salt = secrets.token_bytes(16)
        return cls(salt=salt.hex(), sha256=_digest(salt, token.encode()), set_at=at)

    def matches(self, offered: bytes) -> bool:
        """Whether ``offered`` (the bytes a sender presented) is the token."""
        try:
            salt = bytes.fromhex(self.salt)
        except ValueError:
            return False
        return hmac.compare_digest(_digest(salt, offered), self.sha256)


def _digest(salt: bytes, token: bytes) -> str:
    return hashlib.sha256(salt + token).hexdigest()


class Tenant(TenantDocument):
    """Kept in its own partition (``tenantId`` equals ``id``).

    Bearer tokens (Alertmanager, change feed) are stored as ``TokenHash``es:
    ``TenantRegistry.add`` seals a plain ``alertmanager_token`` / ``change_token``
    given in memory (``sealed``) before it writes, so only callers that made the
    tenant hold the plain token. Documents written before hashing still carry
    the plain token; it keeps working until the token is rotated or the tenant
    is next written (which seals it). PagerDuty secrets are HMAC keys the
    product must hold to verify signatures, so they stay as they are. Secrets
    are ``SecretStr`` so they never appear in logs or reprs.
    """

    name: str
    alertmanager_token: SecretStr | None = None
    """Plain: in memory before ``sealed``, or in a document written before hashing."""
    alertmanager_token_hash: TokenHash | None = None
    pagerduty_secrets: tuple[SecretStr, ...] = ()
    """The current secret first; during a rotation's overlap also the previous one."""
    pagerduty_rotated_at: UtcDatetime | None = None
    pagerduty_previous_until: UtcDatetime | None = None
    """After this, only the first secret verifies (None: every listed secret does)."""
    change_token: SecretStr | None = None
    """Plain: as ``alertmanager_token``."""
    change_token_hash: TokenHash | None = None
    disabled_at: UtcDatetime | None = None
    """Set when the tenant was disabled: its deliveries are refused (403)."""
    disabled_reason: str | None = None
    slack_team_id: str | None = None
    slack_channel_id: str | None = None
    slack_bot_token: SecretStr | None = None
    prometheus_url: str | None = None
    metrics_file: str | None = None
    """An OpenMetrics file to read instead of Prometheus (replays, demos)."""
    signal_overrides: dict[str, str] = {}
    responders: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    topology: Topology = Topology()
    timezone: str = "UTC"
    """IANA zone the tenant's week runs in (the weekly report: Monday 09:00 there)."""
    forecast_horizon_hours: float | None = Field(default=None, gt=0.0, le=168.0)
    """How far ahead a capacity risk is posted (``shared.predict.sweep``); None: 12 h."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return iana_zone(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def pagerduty_secrets_at(self, now: datetime) -> tuple[SecretStr, ...]:
        """The secrets that verify at ``now``: the previous one only until its overlap ends."""
        until = self.pagerduty_previous_until
        if until is not None and now >= until:
            return self.pagerduty_secrets[:1]
        return self.pagerduty_secrets

    def sealed(self, *, at: datetime | None = None) -> Tenant:
        """This tenant with its plain bearer tokens replaced by their hashes (as stored).

        ``at``: when the tokens were set; hashes already present are kept.
        """
        update: dict[str, object] = {}
        if self.alertmanager_token is not None:
            update["alertmanager_token"] = None
            if self.alertmanager_token.get_secret_value():
                update["alertmanager_token_hash"] = TokenHash.of(
                    self.alertmanager_token.get_secret_value(), at=at
                )
        if self.change_token is not None:
            update["change_token"] = None
            if self.change_token.get_secret_value():
                update["change_token_hash"] = TokenHash.of(
                    self.change_token.get_secret_value(), at=at
                )
        return self.model_copy(update=update) if update else self

    @field_serializer("alertmanager_token", "change_token", "slack_bot_token", when_used="json")
    def _reveal(self, value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    @field_serializer("pagerduty_secrets", when_used="json")
    def _reveal_all(self, values: tuple[SecretStr, ...]) -> list[str]:
        return [v.get_secret_value() for v in values]
