"""A tenant: one customer organisation, its credentials, chat and topology."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_serializer, field_validator

from shared.models.base import Model, TenantDocument, iana_zone


class Slo(Model):
    """A service's objectives: the share of requests that must succeed, and how
    fast the 99th percentile must be (either may be left out)."""

    availability: float | None = Field(default=None, gt=0.0, lt=1.0)
    latency_p99_seconds: float | None = Field(default=None, gt=0.0)


class Service(Model):
    """A node of the service topology: what it calls and where it runs.

    ``tier`` 1 is what users touch directly, higher tiers are further from them.
    """

    name: str = Field(min_length=1)
    team: str | None = None
    tier: int | None = None
    depends_on: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()
    slo: Slo | None = None


class Topology(Model):
    services: tuple[Service, ...] = ()

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def callers_of(self, name: str) -> list[str]:
        return [s.name for s in self.services if name in s.depends_on]

    def hosts(self) -> set[str]:
        return {h for s in self.services for h in s.instances}


class Tenant(TenantDocument):
    """Kept in its own partition (``tenantId`` equals ``id``).

    Secrets are stored so that the product can verify (and ``send`` can sign);
    they are ``SecretStr`` so they never appear in logs or reprs.
    """

    name: str
    alertmanager_token: SecretStr | None = None
    pagerduty_secrets: tuple[SecretStr, ...] = ()
    change_token: SecretStr | None = None
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

    @field_serializer("alertmanager_token", "change_token", "slack_bot_token", when_used="json")
    def _reveal(self, value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    @field_serializer("pagerduty_secrets", when_used="json")
    def _reveal_all(self, values: tuple[SecretStr, ...]) -> list[str]:
        return [v.get_secret_value() for v in values]
