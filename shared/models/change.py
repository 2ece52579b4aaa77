"""Changes made to production: what context assembly looks back on."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from shared.models.base import TenantDocument, UtcDatetime


class ChangeKind(StrEnum):
    DEPLOYMENT = "deployment"
    CONFIG = "config"
    FEATURE_FLAG = "feature_flag"
    INFRASTRUCTURE = "infrastructure"


class ChangeEvent(TenantDocument):
    kind: ChangeKind
    service: str = Field(min_length=1)
    at: UtcDatetime
    version: str | None = None
    previous_version: str | None = None
    description: str = ""
    author: str | None = None
    url: str | None = None
