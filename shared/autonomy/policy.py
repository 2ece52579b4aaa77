"""A tenant's remediation policy: which actions may run, when, how widely, with whose say.

Parsed from YAML (``sre-copilot policy set``) into frozen models. An action
that the catalog does not list is not allowed; a listed one starts in
``shadow`` mode unless the policy says ``active``. Every limit has a
conservative default, so a short policy is still a bounded one::

    timezone: Europe/Paris
    approvers: [U-LEAD]
    business_hours: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00"}
    freezes:
      - {start: 2025-12-20T00:00:00Z, end: 2026-01-05T00:00:00Z, reason: year end}
    limits: {max_concurrent: 3}
    actions:
      restart_pod:         {tier: low, mode: active}
      scale_replicas:      {tier: medium, mode: active, announce_seconds: 5}
      rollback_deployment: {tier: high, mode: active, approvers: [U-LEAD]}

``parse_policy`` raises ``BadInput`` naming the YAML path of the first
problem, e.g. ``actions.scale_replicas.tier: must be low, medium or high``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.errors import BadInput
from shared.models.base import Model, UtcDatetime, iana_zone


class Tier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Mode(StrEnum):
    SHADOW = "shadow"
    ACTIVE = "active"


class Hours(StrEnum):
    """When an action may run, against the policy's business hours."""

    ANY = "any"
    BUSINESS = "business"
    OUTSIDE_BUSINESS = "outside_business"


ACTIONS: tuple[str, ...] = (
    "restart_pod",
    "clear_cache",
    "scale_replicas",
    "rollback_deployment",
    "failover_database",
    "drain_node",
)
"""The catalog the executors know. A policy may list any of them, and nothing else."""

CAPACITY_PER_TARGET = frozenset({"restart_pod", "drain_node"})
"""Actions that take each target out of service while they run (one replica, one node)."""

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

DEFAULT_ANNOUNCE_SECONDS = 300
DEFAULT_APPROVAL_EXPIRY_SECONDS = 900


class _Strict(Model):
    """Policy parts refuse unknown fields: a misspelt limit must not be silently ignored."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")


class Window(_Strict):
    """A change freeze: nothing runs from ``start`` (inclusive) to ``end`` (exclusive).

    ``services`` narrows it to some services; left out, it covers them all.
    """

    start: UtcDatetime
    end: UtcDatetime
    reason: str = ""
    services: tuple[str, ...] = ()

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2025-12-20T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def covers(self, moment: datetime, service: str) -> bool:
        return self.start <= moment < self.end and (not self.services or service in self.services)


class BusinessHours(_Strict):
    """Working days and hours, read in the policy's time zone; ``end`` is exclusive."""

    days: tuple[Day, ...] = DAYS[:5]
    start: time = time(9, 0)
    end: time = time(18, 0)

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def contains(self, local: datetime) -> bool:
        return DAYS[local.weekday()] in self.days and self.start <= local.time() < self.end


class Preconditions(_Strict):
    """What must be true of the proposal for the action to be considered at all.

    Empty ``categories`` or ``service_tiers`` accept any; a proposal whose
    service tier is unknown fails a non-empty ``service_tiers``.
    """

    categories: tuple[str, ...] = ()
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    service_tiers: tuple[int, ...] = ()
    hours: Hours = Hours.ANY


class Limits(_Strict):
    """Blast radius of one action type (defaults are deliberately small).

    ``max_fleet_share`` and the healthy floor count what is out of service
    already (running executions on the same fleet) plus what this one takes.
    """

    per_service_per_hour: int = Field(default=3, ge=0)
    max_concurrent: int = Field(default=1, ge=0)
    """Executions of this action running at once across the tenant."""
    max_replica_delta: int = Field(default=2, ge=0)
    max_fleet_share: float = Field(default=0.5, gt=0.0, le=1.0)
    min_healthy: int = Field(default=1, ge=0)
    """Healthy members a fleet keeps while the action runs."""
    min_healthy_share: float = Field(default=0.0, ge=0.0, le=1.0)
    max_targets: int = Field(default=1, ge=1)
    """Explicit targets one proposal may name (the same change never everywhere at once)."""


class TenantLimits(_Strict):
    max_concurrent: int = Field(default=3, ge=0)
    """Executions of any action running at once across the tenant."""


class ActionPolicy(_Strict):
    tier: Tier
    mode: Mode = Mode.SHADOW
    preconditions: Preconditions = Preconditions()
    limits: Limits = Limits()
    approvers: tuple[str, ...] = ()
    """Slack user ids who may approve a high-risk run (else the policy's ``approvers``)."""
    announce_seconds: int = Field(default=DEFAULT_ANNOUNCE_SECONDS, ge=0)
    approval_expiry_seconds: int = Field(default=DEFAULT_APPROVAL_EXPIRY_SECONDS, gt=0)


class Policy(_Strict):
    """One tenant's remediation policy."""

    version: Literal[1] = 1
    timezone: str = "UTC"
    """IANA zone business hours are read in (the tenant's)."""
    kill_switch: bool = False
    """True stops every action of the tenant, shadow ones included."""
    approvers: tuple[str, ...] = ()
    business_hours: BusinessHours = BusinessHours()
    freezes: tuple[Window, ...] = ()
    limits: TenantLimits = TenantLimits()
    actions: dict[str, ActionPolicy] = {}

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return iana_zone(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def approvers_for(self, action: str) -> tuple[str, ...]:
        entry = self.actions.get(action)
        return (entry.approvers if entry and entry.approvers else None) or self.approvers

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def announce_window(entry: ActionPolicy) -> timedelta:
    return timedelta(seconds=entry.announce_seconds)


def approval_expiry(entry: ActionPolicy) -> timedelta:
    return timedelta(seconds=entry.approval_expiry_seconds)


# --- parsing ---------------------------------------------------------------------

_PLAIN = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "string_type": "must be text",
}


def _or_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _message(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    ctx = error.get("ctx") or {}
    if kind in {"literal_error", "enum"}:
        return f"must be {_or_list(re.findall(r"'([^']*)'", str(ctx.get('expected', ''))))}"
    if kind in _PLAIN:
        return _PLAIN[kind]
    for bound, words in (("ge", "at least"), ("gt", "more than"), ("le", "at most")):
        if bound in ctx:
            return f"must be {words} {ctx[bound]}"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


def parse_policy(text: str, *, source: str = "policy") -> Policy:
    """A policy from YAML text; ``BadInput`` names the path of the first problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise BadInput(f"{source}: bad YAML{where}: {problem}") from None
    return policy_from(data, source=source)


def policy_from(data: object, *, source: str = "policy") -> Policy:
    """A policy from parsed YAML or stored JSON."""
    if not isinstance(data, dict):
        raise BadInput(f"{source}: must be a mapping with an 'actions' key")
    actions = data.get("actions")
    if isinstance(actions, dict):
        for name in actions:
            if name not in ACTIONS:
                raise BadInput(
                    f"{source}: actions.{name}: unknown action (known: {', '.join(ACTIONS)})"
                )
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadInput(f"{source}: {_path(first['loc'])}: {_message(first)}") from None
    for name, entry in policy.actions.items():
        if entry.tier is Tier.HIGH and not policy.approvers_for(name):
            raise BadInput(
                f"{source}: actions.{name}.approvers: a high-risk action needs at least one "
                "approver (here or in the top-level approvers)"
            )
    return policy
