"""Wire shapes of the senders, validated strictly enough to name a bad field.

Only what the product reads is required; everything else is kept as sent.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import BadInput


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class AmAlert(_Wire):
    status: str = Field(pattern="^(firing|resolved)$")
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
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
    created_at: datetime | None = None
    urgency: str | None = None
    priority: PdReference | None = None
    service: PdReference | None = None
    incident: PdReference | None = None
    content: str | None = None


class PdEvent(_Wire):
    id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    resource_type: str = ""
    occurred_at: datetime
    data: dict[str, Any]


class PagerDutyWebhook(_Wire):
    """PagerDuty Webhooks V3 envelope."""

    event: PdEvent


class ChangeWire(_Wire):
    """A change event posted to ``/changes`` (see README, "Change events")."""

    id: str | None = Field(default=None, max_length=200)
    kind: str = Field(pattern="^(deployment|config|feature_flag|infrastructure)$")
    service: str = Field(min_length=1, max_length=200)
    at: datetime | None = None
    version: str | None = None
    previous_version: str | None = None
    description: str = Field(default="", max_length=4000)
    author: str | None = None
    url: str | None = None


_M = TypeVar("_M", bound=BaseModel)


def parse_json(body: bytes) -> Any:
    """Decode a JSON body, or say where it breaks."""
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise BadInput(f"body is not UTF-8: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


def validate(model: type[_M], data: Any, *, what: str) -> _M:
    """Validate ``data`` as ``model``; a failure names the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(body)"
        raise BadInput(f"invalid {what}: field '{where}': {first['msg']}") from None
