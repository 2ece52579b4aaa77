"""Wire shapes of the senders, validated strictly enough to name a bad field.

Only what the product reads is required; everything else is kept as sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from shared.errors import BadInput

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Times outside [EARLIEST, LATEST) are refused: year 999 or 9999 is a sender's bug,
and such a time cannot be stored in the product's sortable text form."""
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
"""Alertmanager's (Go's) zero time: "not set", accepted for ``endsAt`` only."""


def _in_range(moment: datetime) -> datetime:
    """Within the sane range, in UTC (a time without an offset is taken as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if not EARLIEST <= aware < LATEST:
        raise ValueError(
            f"time {moment.isoformat()} is outside {EARLIEST:%Y-%m-%d}..{LATEST:%Y-%m-%d}"
        )
    return aware.astimezone(UTC)


def _in_range_or_unset(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if aware == GO_ZERO_TIME:
        return None
    return _in_range(moment)


SaneTime = Annotated[datetime, AfterValidator(_in_range)]
"""A sender's time, refused (naming the field) outside EARLIEST..LATEST."""
EndTime = Annotated[datetime | None, AfterValidator(_in_range_or_unset)]
"""An end time: Go's zero time means unset (None); otherwise a ``SaneTime``."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class AmAlert(_Wire):
    status: str = Field(pattern="^(firing|resolved)$")
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: SaneTime = Field(alias="startsAt")
    ends_at: EndTime = Field(default=None, alias="endsAt")
    generator_url: str | None = Field(default=None, alias="generatorURL")
    fingerprint: str | None = None


class AlertmanagerWebhook(_Wire):
    """Alertmanager webhook, version 4."""

    version: str = Field(pattern="^4$")
    status: str = Field(pattern="^(firing|resolved)$")
    receiver: str = ""
    group_key: str = Field(default="", alias="groupKey")
    group_labels: dict[str, str] = Field(default={}, alias="groupLabels")
    common_labels: dict[str, str] = Field(default={}, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default={}, alias="commonAnnotations")
    external_url: str | None = Field(default=None, alias="externalURL")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    alerts: list[AmAlert]


class PdReference(_Wire):
    id: str | None = None
    summary: str | None = None
    html_url: str | None = None


class PdData(_Wire):
    """The event's ``data``: an incident, or a note (``incident.annotated``)."""

    id: str
    type: str
    status: str | None = None
    title: str | None = None
    number: int | None = None
    html_url: str | None = None
    incident_key: str | None = None
    created_at: SaneTime | None = None
    urgency: str | None = None
    priority: PdReference | None = None
    service: PdReference | None = None
    incident: PdReference | None = None
    content: str | None = None


class PdEvent(_Wire):
    id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    resource_type: str = ""
    occurred_at: SaneTime
    data: dict[str, Any]


class PagerDutyWebhook(_Wire):
    """PagerDuty Webhooks V3 envelope."""

    event: PdEvent


class ChangeWire(_Wire):
    """A change event posted to ``/changes`` (see README, "Change events")."""

    id: str | None = Field(default=None, max_length=200)
    kind: str = Field(pattern="^(deployment|config|feature_flag|infrastructure)$")
    service: str = Field(min_length=1, max_length=200)
    at: SaneTime | None = None
    version: str | None = None
    previous_version: str | None = None
    description: str = Field(default="", max_length=4000)
    author: str | None = None
    url: str | None = None


def validate[M: BaseModel](model: type[M], data: Any, *, what: str) -> M:
    """Validate ``data`` as ``model``; a failure names the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(body)"
        raise BadInput(f"invalid {what}: field '{where}': {first['msg']}") from None
