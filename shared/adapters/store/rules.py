"""The part of the store contract both adapters enforce the same way.

Whatever Cosmos DB would refuse is refused on a laptop too, and a filter
means the same thing on both adapters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from shared.errors import BadInput
from shared.models.base import iso
from shared.ports.store import Document, Filter, Operator

SYSTEM_FIELDS = frozenset({"_etag", "_rid", "_self", "_attachments", "_ts", "_expiresAt"})
"""Fields the stores own: dropped from what callers write; of them only ``_etag`` is returned."""

ORDERING_OPERATORS = frozenset({"<", "<=", ">", ">="})
_OPERATORS = frozenset(get_args(Operator))
_MAX_ID_LENGTH = 255
_ID_FORBIDDEN = re.compile(r"[/\\?#]")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A document checked for writing: its body, that body as JSON, its lifetime."""

    doc: Document
    text: str
    ttl: int | None
    """Seconds to live; None when it lives until deleted."""


def require_tenant(tenant_id: str) -> str:
    if not isinstance(tenant_id, str) or not tenant_id:
        raise BadInput("No store call without a tenant")
    return tenant_id


def require_id(doc_id: object) -> str:
    """An id Cosmos DB accepts: it forms part of a URL there."""
    if not isinstance(doc_id, str) or not doc_id:
        raise BadInput("a document needs a non-empty string id")
    if len(doc_id) > _MAX_ID_LENGTH or _ID_FORBIDDEN.search(doc_id):
        raise BadInput(
            f"document id {doc_id[:60]!r}: at most {_MAX_ID_LENGTH} characters, none of / \\ ? #"
        )
    return doc_id


def prepare(tenant_id: str, doc: Document) -> Prepared:
    """Check ``doc`` for writing under ``tenant_id``; the caller's dict is left as it was."""
    require_tenant(tenant_id)
    if not isinstance(doc, dict):
        raise BadInput("a document is a JSON object")
    body = {key: value for key, value in doc.items() if key not in SYSTEM_FIELDS}
    require_id(body.get("id"))
    owner = body.setdefault("tenantId", tenant_id)
    if owner != tenant_id:
        raise BadInput(f"document {body['id']!r} belongs to tenant {owner!r}, not {tenant_id!r}")
    ttl = body.get("ttl")
    if ttl is None:
        body.pop("ttl", None)
    elif isinstance(ttl, bool) or not isinstance(ttl, int) or not (ttl > 0 or ttl == -1):
        # Cosmos DB's rule: whole seconds, or -1 for "never".
        raise BadInput(f"ttl must be a positive number of seconds or -1, not {ttl!r}")
    try:
        text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise BadInput(f"document {body['id']!r} is not JSON: {exc}") from exc
    return Prepared(doc=body, text=text, ttl=ttl if isinstance(ttl, int) and ttl > 0 else None)


def field_name(name: str) -> str:
    """A top-level field name safe to splice into SQL (values are always bound)."""
    if not isinstance(name, str) or not _FIELD_NAME.match(name):
        raise BadInput(f"cannot filter or sort on field {name!r}")
    return name


def filter_value(where: Filter) -> str | int | float | bool | None:
    """The value to compare with: a JSON scalar; datetimes become ISO text as stored."""
    if where.op not in _OPERATORS:
        raise BadInput(f"unknown filter operator {where.op!r}")
    field_name(where.field)
    value = iso(where.value) if isinstance(where.value, datetime) else where.value
    if value is not None and not isinstance(value, str | int | float | bool):
        raise BadInput(f"filter on {where.field!r}: compare with a string, number, bool or None")
    if (value is None or isinstance(value, bool)) and where.op in ORDERING_OPERATORS:
        raise BadInput(f"filter on {where.field!r}: {value!r} has no order")
    return value


def require_limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise BadInput(f"limit must be a whole number >= 0, not {limit!r}")
    return limit


def public(doc: dict[str, Any]) -> Document:
    """A stored document as callers see it: their fields and ``_etag``."""
    return {key: value for key, value in doc.items() if key == "_etag" or key not in SYSTEM_FIELDS}
