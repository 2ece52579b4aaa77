"""Runbook search on Azure AI Search (azure-search-documents), the production ``SearchIndex``.

The index schema lives here, in code (``index_schema``), so ``ensure_index``
can create or update it on deploy. One document per runbook and tenant:

- ``tenant_id`` is the owning tenant, or ``"*"`` for the shared corpus every
  tenant sees (the SPEC's runbook folder). A search of tenant ``acme`` filters
  on ``tenant_id eq 'acme' or tenant_id eq '*'``: no other tenant's runbook can
  come back, however well it matches.
- ``services`` keeps the front matter's ``"*"`` as a literal element, so a
  service filter ``services/any(s: s eq 'checkout' or s eq '*')`` still finds
  runbooks written for every service.
- ``id`` (the key) encodes tenant and runbook id (URL-safe base64: Azure keys
  allow letters, digits, ``-``, ``_`` and ``=``), so two tenants may each
  customise ``rb-rollback-deployment`` without overwriting the other's copy;
  ``runbook_id`` keeps the id the product shows.
- ``actions`` holds the front matter's remediation actions as JSON text
  (retrievable only: neither searched nor filtered), so proposals can be made
  where the index is the only copy of the runbooks. Read back, it is data, not
  instructions: each action is validated as the loader validates front matter
  and an invalid one is dropped with a log line (``actions_from``). An index
  created before the field existed gets it from ``ensure_index`` or
  ``create_index_if_missing`` (Azure allows adding fields to an index); until
  then searches still work, with hits' actions None (unknown, so proposals
  read the runbook folder when there is one), and uploads say what to run.

Search is keyword (BM25) over ``title`` and ``content``, filtered by the
query's categories, services and the tenant, ``top`` results. The score is
text relevance only (the filters already guarantee the fit): Azure's
``@search.score`` is unbounded, so it is squashed to ``[0, 1)`` as
``raw / (raw + SCORE_HALF)``: monotone (Azure's ranking is kept), and the same
raw score always maps to the same value, which is what makes scores
comparable across queries as the port promises. Runbooks that pass the
filters without sharing a word with the query score 0.

Authentication is an admin or query key (local servers) or an Entra ID
``TokenCredential`` (Azure, where the deployment turns API keys off: the app
holds Search Index Data Reader, the operator who indexes runbooks Search Index
Data Contributor). Token credentials need HTTPS, as the SDK insists.

Failures raise ``SearchFailed`` (a product error) with ``permanent`` saying
whether a retry can help: a refused credential (401/403) or a missing index will not
heal by itself; throttling, 5xx and network errors may.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from azure.core.credentials import AzureKeyCredential, TokenCredential
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.search.documents import SearchClient
from azure.search.documents.indexes import SearchIndexClient
from azure.search.documents.indexes.models import (
    SearchableField,
    SearchField,
    SearchFieldDataType,
    SearchIndex,
    SimpleField,
)

from shared.errors import SearchFailed
from shared.ports.search import RunbookHit, RunbookQuery
from shared.runbooks.loader import Runbook, actions_from, actions_json

SHARED_TENANT = "*"
"""``tenant_id`` of runbooks every tenant sees."""

ALL_SERVICES = "*"
"""The ``services`` element of a runbook written for every service (SPEC front matter)."""

SCORE_HALF = 5.0
"""The raw BM25 score that maps to 0.5. An estimate from BM25's formula, not a
measurement on a live service: on a corpus of tens of runbooks a matching term
adds about 1-4, so a match on several terms lands around 0.7 and a single
common term below 0.3. Retune against real scores if the corpus grows a lot."""

_UNSAFE_QUERY = re.compile(r"[^\w]+")
"""Anything but word characters: the simple syntax's operators (+ | - " * ( ) ~)
would turn hypothesis prose into a query expression."""

_PERMANENT_STATUSES = frozenset({400, 401, 403, 404})
ACTIONS_FIELD = "actions"
_SELECT = ("runbook_id", "title", "categories", ACTIONS_FIELD)

log = logging.getLogger(__name__)


def index_schema(name: str) -> SearchIndex:
    """The runbook index: what is filterable, what is searched, what is returned."""
    strings = "Collection(Edm.String)"
    fields: list[SearchField] = [
        SimpleField(name="id", type=SearchFieldDataType.STRING, key=True),
        SimpleField(name="runbook_id", type=SearchFieldDataType.STRING, filterable=True),
        SearchableField(name="title"),
        SimpleField(name="categories", type=strings, filterable=True),
        SimpleField(name="services", type=strings, filterable=True),
        SimpleField(name="tenant_id", type=SearchFieldDataType.STRING, filterable=True),
        SearchableField(name="content"),
        SimpleField(name="url", type=SearchFieldDataType.STRING),
        SimpleField(name=ACTIONS_FIELD, type=SearchFieldDataType.STRING),
    ]
    return SearchIndex(name=name, fields=fields)


def document_key(tenant_id: str, runbook_id: str) -> str:
    """The index key of one tenant's copy of a runbook (a valid Azure key, reversible)."""
    return base64.urlsafe_b64encode(f"{tenant_id}\n{runbook_id}".encode()).decode("ascii")


def odata_string(value: str) -> str:
    """An OData string literal: quotes around, inner single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _any_of(collection: str, values: Iterable[str]) -> str:
    alternatives = " or ".join(f"x eq {odata_string(v)}" for v in values)
    return f"{collection}/any(x: {alternatives})"


def build_filter(query: RunbookQuery, tenant_id: str) -> str:
    """The OData filter of one query: the tenant's and shared runbooks, then the query's
    categories (any of them) and services (any of them, or written for every service)."""
    tenants = [tenant_id] if tenant_id == SHARED_TENANT else [tenant_id, SHARED_TENANT]
    clauses = ["(" + " or ".join(f"tenant_id eq {odata_string(t)}" for t in tenants) + ")"]
    if query.categories:
        clauses.append(_any_of("categories", dict.fromkeys(query.categories)))
    if query.services:
        clauses.append(_any_of("services", dict.fromkeys([*query.services, ALL_SERVICES])))
    return " and ".join(clauses)


def search_text(text: str) -> str:
    """Hypothesis prose as plain terms (``*``, i.e. everything, when none are left)."""
    words = _UNSAFE_QUERY.sub(" ", text).split()
    return " ".join(words) if words else "*"


def normalised(raw: float) -> float:
    return raw / (raw + SCORE_HALF) if raw > 0 else 0.0


class AzureRunbookSearch:
    """``SearchIndex`` over an Azure AI Search index, scoped to one tenant.

    ``credential`` is an API key or an Entra ID token credential.
    ``tenant_id`` (default: the shared corpus only) is the tenant whose
    searches this instance runs; uploads name their tenant explicitly.
    ``timeout_seconds`` bounds connect and read of each request;
    ``retry_total`` is the SDK's retry budget for throttling and 5xx;
    ``ca_file`` is a CA bundle to trust instead of the system's (a local server).
    """

    def __init__(
        self,
        endpoint: str,
        credential: str | TokenCredential,
        index_name: str,
        *,
        tenant_id: str = SHARED_TENANT,
        timeout_seconds: float = 10.0,
        retry_total: int = 3,
        ca_file: str | None = None,
    ) -> None:
        if not endpoint or not credential or not index_name:
            raise ValueError("endpoint, credential and index_name are required")
        self._index_name = index_name
        self._tenant_id = tenant_id
        self._select = list(_SELECT)
        options: dict[str, Any] = {
            "connection_timeout": timeout_seconds,
            "read_timeout": timeout_seconds,
            "retry_total": retry_total,
        }
        if ca_file is not None:
            options["connection_verify"] = ca_file
        auth = AzureKeyCredential(credential) if isinstance(credential, str) else credential
        self._indexes = SearchIndexClient(endpoint, auth, **options)
        self._documents = SearchClient(endpoint, index_name, auth, **options)

    def close(self) -> None:
        self._documents.close()
        self._indexes.close()

    def __enter__(self) -> AzureRunbookSearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_index(self) -> SearchIndex:
        """Create the index, or update it to ``index_schema`` (adding fields is allowed)."""
        try:
            return self._indexes.create_or_update_index(index_schema(self._index_name))
        except AzureError as exc:
            raise _failure(exc, f"create or update index {self._index_name!r}") from exc

    def create_index_if_missing(self, definition: SearchIndex | None = None) -> bool:
        """Create the index when the service has none of this name; True when it did.

        ``definition`` (default ``index_schema``) is what is created. An index
        that exists keeps its fields as they are and gets those of the
        definition it lacks (one made by an older version has no ``actions``),
        since Azure allows adding fields but not changing them. Either needs a
        management role (Search Service Contributor): the operator's, never the app's.
        """
        what = f"create index {self._index_name!r}"
        chosen = definition if definition is not None else index_schema(self._index_name)
        if chosen.name != self._index_name:
            raise SearchFailed(
                f"{what}: the definition is of index {chosen.name!r}", permanent=True
            )
        try:
            existing = self._indexes.get_index(self._index_name)
        except ResourceNotFoundError:
            existing = None
        except AzureError as exc:
            raise _failure(exc, f"read index {self._index_name!r}") from exc
        if existing is not None:
            self._add_missing_fields(existing, chosen)
            return False
        try:
            self._indexes.create_or_update_index(chosen)  # PUT: no race with another creator
        except AzureError as exc:
            raise _failure(exc, what) from exc
        return True

    def _add_missing_fields(self, existing: SearchIndex, wanted: SearchIndex) -> None:
        have = {f.name for f in existing.fields or []}
        missing = [f for f in wanted.fields or [] if f.name not in have]
        if not missing:
            return
        existing.fields = [*(existing.fields or []), *missing]
        names = ", ".join(f.name for f in missing)
        try:
            self._indexes.create_or_update_index(existing)
        except AzureError as exc:
            raise _failure(exc, f"add fields {names} to index {self._index_name!r}") from exc
        log.info("index %s: added fields %s", self._index_name, names)

    def upload_runbooks(
        self,
        runbooks: Sequence[Runbook],
        *,
        tenant_id: str = SHARED_TENANT,
        urls: Mapping[str, str] | None = None,
    ) -> int:
        """Merge-or-upload ``tenant_id``'s runbooks (idempotent); returns how many.

        ``urls`` maps runbook ids to where a human reads them (a wiki page).
        """
        documents = [
            {
                "id": document_key(tenant_id, r.id),
                "runbook_id": r.id,
                "title": r.title,
                "categories": list(r.categories),
                "services": list(r.services),
                "tenant_id": tenant_id,
                "content": r.body,
                "url": (urls or {}).get(r.id),
                ACTIONS_FIELD: actions_json(r.actions),
            }
            for r in runbooks
        ]
        if not documents:
            return 0
        what = f"upload {len(documents)} runbooks to {self._index_name!r}"
        try:
            results = self._documents.merge_or_upload_documents(documents)
        except AzureError as exc:
            if _names_missing_field(exc):
                raise SearchFailed(
                    f"{what}: the index has no {ACTIONS_FIELD!r} field (made by an older "
                    "version): add it with --create-index (or ensure_index), then upload again",
                    permanent=True,
                ) from exc
            raise _failure(exc, what) from exc
        failed = [r for r in results if not r.succeeded]
        if failed:
            detail = "; ".join(f"{r.key}: {r.status_code} {r.error_message}" for r in failed[:3])
            retryable = all(r.status_code in (409, 422, 503) for r in failed)
            raise SearchFailed(
                f"{what}: {len(failed)} rejected ({detail})", permanent=not retryable
            )
        return len(documents)

    def search(self, query: RunbookQuery, *, top: int = 3) -> list[RunbookHit]:
        """The ``top`` best runbooks of this tenant (and shared ones), best first, ties by id.

        Keyword search only returns documents sharing a word with the query, so
        when fewer than ``top`` do, runbooks that pass the filters without a
        shared word fill the list with score 0: a runbook of the right category
        and service is still a better answer than none.
        """
        if top <= 0:
            return []
        where = build_filter(query, self._tenant_id)
        text = search_text(query.text)
        found = self._query(text, where, top) if text != "*" else []
        if len(found) < top:
            seen = {doc["runbook_id"] for _, doc in found}
            rest = [doc for _, doc in self._query("*", where, top + len(found))]
            found += [(0.0, doc) for doc in rest if doc["runbook_id"] not in seen]
        hits = [
            RunbookHit(
                id=str(doc["runbook_id"]),
                title=str(doc["title"]),
                score=normalised(raw),
                categories=tuple(str(c) for c in doc.get("categories") or ()),
                actions=None
                if doc.get(ACTIONS_FIELD) is None
                else actions_from(
                    doc[ACTIONS_FIELD],
                    origin=f"index {self._index_name}, runbook {doc['runbook_id']}",
                ),
            )
            for raw, doc in found
        ]
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:top]

    def _query(self, text: str, where: str, top: int) -> list[tuple[float, dict[str, Any]]]:
        try:
            pages = self._documents.search(
                text, filter=where, search_fields=["title", "content"], select=self._select, top=top
            )
            return [(float(doc["@search.score"] or 0.0), doc) for doc in pages]
        except AzureError as exc:
            if ACTIONS_FIELD in self._select and _names_missing_field(exc):
                # An index from an older version: search on without actions (the app
                # may not change the index; the operator's upload adds the field).
                log.warning("index %s has no %s field yet", self._index_name, ACTIONS_FIELD)
                self._select = [f for f in self._select if f != ACTIONS_FIELD]
                return self._query(text, where, top)
            raise _failure(exc, f"search {self._index_name!r}") from exc


def _failure(exc: AzureError, what: str) -> SearchFailed:
    """The SDK's exception as a product error naming the operation and the cause."""
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        message = _service_message(exc)
        if status in (401, 403):
            cause = f"the credential was refused (HTTP {status}): {message}"
        elif isinstance(exc, ResourceNotFoundError) or status == 404:
            cause = f"not found (HTTP 404), create the index first: {message}"
        else:
            cause = f"HTTP {status}: {message}"
        return SearchFailed(f"{what}: {cause}", permanent=status in _PERMANENT_STATUSES)
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return SearchFailed(f"{what}: service unreachable: {exc.message}", permanent=False)
    return SearchFailed(f"{what}: {exc.message}", permanent=False)


def _names_missing_field(exc: AzureError) -> bool:
    """A 400 saying the index has no ``actions`` field (an index made by an older version)."""
    return (
        isinstance(exc, HttpResponseError)
        and exc.status_code == 400
        and f"'{ACTIONS_FIELD}'" in _service_message(exc)
    )


def _service_message(exc: HttpResponseError) -> str:
    """The service's own ``error.message`` when the body had one, else the reason phrase."""
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None)
    if message:
        return str(message)
    response = exc.response
    return str(response.reason) if response is not None and response.reason else "no detail"
