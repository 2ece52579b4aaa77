"""Base class for documents kept in the store.

Every document has an ``id`` and a ``tenantId`` (the Cosmos partition key);
models are frozen and keyword-only, and cross the Durable boundary as plain
JSON-able dicts (``to_doc`` / ``from_doc``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field


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


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``: sortable as text, as the store compares it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
