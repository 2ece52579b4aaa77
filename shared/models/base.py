"""Base class for documents kept in the store.

Every document has an ``id`` and a ``tenantId`` (the Cosmos partition key);
models are frozen and keyword-only, and cross the Durable boundary as plain
JSON-able dicts (``to_doc`` / ``from_doc``).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:@=+-]{1,200}$")


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``: sortable as text, as the store compares it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


UtcDatetime = Annotated[datetime, PlainSerializer(iso, return_type=str, when_used="json")]
"""A datetime stored in one text form, so the store can compare times as text."""


class Model(BaseModel):
    """Frozen, keyword-only value object."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")


class TenantDocument(Model):
    """A document of one tenant's partition."""

    id: str
    tenant_id: str = Field(alias="tenantId", min_length=1)

    def to_doc(self) -> dict[str, Any]:
        """The JSON-able form the store and the orchestrations exchange."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Self:
        return cls.model_validate(doc)


def doc_id(prefix: str, raw: str) -> str:
    """A store-safe document id from outside text (Cosmos forbids ``/ \\ ? #``).

    Safe text is kept readable; anything else is replaced by its hash.
    """
    if _SAFE_ID.match(raw):
        return f"{prefix}{raw}"
    return f"{prefix}h-{hashlib.sha256(raw.encode()).hexdigest()[:40]}"


def iana_zone(value: str) -> str:
    """``value`` when it names an IANA time zone; ValueError (a validation error) else."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value
