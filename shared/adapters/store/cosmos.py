"""The production document store: Azure Cosmos DB (NoSQL API), partitioned by tenant.

Every container has the partition key ``/tenantId``, so a tenant's point reads
and queries stay in its own partition, and ``default_ttl=-1`` so that a
document's own ``ttl`` applies. Cosmos DB deletes expired documents in the
background; the ``_expiresAt`` stamp written beside ``ttl`` lets reads hide
them at once, which keeps the contract on servers that never expire anything
(``@zeit/cosmosdb-server``, which the tests run).

Nothing connects at import or construction (the Functions host imports the
app before it may reach the network): the client is made on the first call.

Authentication is a key (the emulator, a local server) or an Entra ID token
credential (Azure: the app's managed identity holds the Cosmos DB Built-in Data
Contributor role). That role is data plane only: creating a database or a
container is a management operation it refuses, so the deployment creates
them and this store only opens them. ``create_if_missing`` (for emulators,
``SRE_COPILOT_COSMOS_CREATE_IF_MISSING``) creates the database on the first
call and each container on its first use instead.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.cosmos import ContainerProxy, CosmosClient, DatabaseProxy, PartitionKey
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosClientTimeoutError,
    CosmosHttpResponseError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)
from requests import Session
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning
from urllib3.util.retry import Retry

from shared.adapters.store.rules import (
    field_name,
    filter_value,
    prepare,
    public,
    require_id,
    require_limit,
    require_tenant,
)
from shared.errors import (
    BadInput,
    Conflict,
    PayloadTooLarge,
    PreconditionFailed,
    StoreUnavailable,
)
from shared.ports.store import Container, Document, Filter

_TRANSIENT_STATUSES = frozenset({408, 429, 449, 500, 502, 503, 504})
"""Timeout, throttled, retry-with, server trouble: worth the caller's retry.
The SDK has already retried 429s (up to 9 times) before we see one."""

_CONNECTIONS = 64
"""HTTP connections kept per host; requests' default of 10 would make every
thread beyond the tenth open a fresh TLS connection under load."""

_LIVE = "(NOT IS_DEFINED(c._expiresAt) OR c._expiresAt > @now)"

_TYPE_TEST = {str: "IS_STRING", int: "IS_NUMBER", float: "IS_NUMBER", bool: "IS_BOOL"}


class CosmosStore:
    """``DocumentStore`` over one Cosmos DB database; safe to share between threads."""

    def __init__(
        self,
        endpoint: str,
        credential: str | TokenCredential,
        database: str,
        *,
        verify_tls: bool = True,
        create_if_missing: bool = False,
    ) -> None:
        if not credential:
            raise ValueError("a key or a token credential is required")
        self._endpoint = endpoint
        self._credential = credential
        self._database = database
        self._verify_tls = verify_tls
        self._create_if_missing = create_if_missing
        self._lock = threading.Lock()
        self._client: CosmosClient | None = None
        self._database_proxy: DatabaseProxy | None = None
        self._containers: dict[Container, ContainerProxy] = {}
        self._closed = False

    def get(self, container: Container, tenant_id: str, doc_id: str) -> Document | None:
        require_tenant(tenant_id)
        require_id(doc_id)
        proxy = self._container(container)
        with _translated(f"{container}/{doc_id}"):
            raw = self._read(proxy, tenant_id, doc_id)
        return public(raw) if raw is not None and _live(raw, time.time()) else None

    def create(self, container: Container, tenant_id: str, doc: Document) -> Document:
        prepared = prepare(tenant_id, doc)
        body = _stamped(prepared.doc, prepared.ttl)
        doc_id = prepared.doc["id"]
        proxy = self._container(container)
        with _translated(f"{container}/{doc_id}"):
            try:
                return public(proxy.create_item(body))
            except CosmosResourceExistsError:
                existing = self._read(proxy, tenant_id, doc_id)
                if existing is not None and _live(existing, time.time()):
                    raise
                return self._take_over(proxy, body, existing)

    def upsert(self, container: Container, tenant_id: str, doc: Document) -> Document:
        prepared = prepare(tenant_id, doc)
        proxy = self._container(container)
        with _translated(f"{container}/{prepared.doc['id']}"):
            return public(proxy.upsert_item(_stamped(prepared.doc, prepared.ttl)))

    def replace(
        self, container: Container, tenant_id: str, doc: Document, *, etag: str
    ) -> Document:
        prepared = prepare(tenant_id, doc)
        doc_id = prepared.doc["id"]
        proxy = self._container(container)
        with _translated(f"{container}/{doc_id}"):
            try:
                return public(
                    proxy.replace_item(
                        doc_id,
                        _stamped(prepared.doc, prepared.ttl),
                        etag=etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
                )
            except CosmosResourceNotFoundError as exc:
                # Gone has no ETag to match: the same outcome as a stale one,
                # so update_with_retry re-reads and finds nothing.
                raise PreconditionFailed(f"{container}/{doc_id} is gone") from exc

    def delete(self, container: Container, tenant_id: str, doc_id: str) -> bool:
        require_tenant(tenant_id)
        require_id(doc_id)
        proxy = self._container(container)
        with _translated(f"{container}/{doc_id}"):
            try:
                proxy.delete_item(doc_id, partition_key=tenant_id)
            except CosmosResourceNotFoundError:
                return False
        return True

    def query(
        self,
        container: Container,
        tenant_id: str,
        filters: Sequence[Filter] = (),
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        require_tenant(tenant_id)
        if require_limit(limit) == 0:
            return []
        sql, parameters = _select(tenant_id, filters, order_by, descending, limit)
        proxy = self._container(container)
        with _translated(f"query on {container}"):
            items = proxy.query_items(sql, parameters=parameters, partition_key=tenant_id)
            return [public(item) for item in items]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            client, self._client, self._database_proxy = self._client, None, None
            self._containers = {}
        if client is not None:
            client.close()

    def _container(self, container: Container) -> ContainerProxy:
        """The container's proxy (read without the lock once known).

        Opening one sends nothing; with ``create_if_missing`` it is created
        here, on its first use, if it does not exist.
        """
        proxy = self._containers.get(container)
        if proxy is not None:
            return proxy
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            proxy = self._containers.get(container)
            if proxy is None:
                database = self._database_proxy or self._open_database()
                if self._create_if_missing:
                    with _translated(f"Cosmos DB container {self._database}/{container}"):
                        proxy = database.create_container_if_not_exists(
                            id=container.value,
                            partition_key=PartitionKey(path="/tenantId"),
                            default_ttl=-1,
                        )
                else:
                    proxy = database.get_container_client(container.value)
                self._containers = {**self._containers, container: proxy}
            return proxy

    def _open_database(self) -> DatabaseProxy:
        """Make the client and open (or, for an emulator, create) the database.

        The caller holds the lock. Without ``create_if_missing`` nothing is
        sent here: the first data-plane request is the first call's own.
        """
        if not self._verify_tls:
            _allow_unverified(self._endpoint)
        client = CosmosClient(
            self._endpoint,
            credential=self._credential,
            connection_verify=self._verify_tls,
            transport=_transport(),
        )
        try:
            if self._create_if_missing:
                with _translated(f"Cosmos DB database {self._database}"):
                    database = client.create_database_if_not_exists(self._database)
            else:
                database = client.get_database_client(self._database)
        except BaseException:
            client.close()
            raise
        self._client, self._database_proxy = client, database
        return database

    @staticmethod
    def _take_over(
        proxy: ContainerProxy, body: Document, expired: dict[str, Any] | None
    ) -> Document:
        """Create over an item that has expired but is not yet deleted.

        Replacing under its ETag means that of two creators racing here only
        one wins; the other gets ``Conflict`` as if the item had been live.
        """
        what = f"{proxy.id}/{body['id']}"
        try:
            if expired is None:  # deleted since our create failed
                return public(proxy.create_item(body))
            return public(
                proxy.replace_item(
                    body["id"],
                    body,
                    etag=expired["_etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            )
        except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError) as exc:
            raise Conflict(f"{what} exists already") from exc

    @staticmethod
    def _read(proxy: ContainerProxy, tenant_id: str, doc_id: str) -> dict[str, Any] | None:
        """The stored item, expired or not; None when there is none."""
        try:
            return proxy.read_item(doc_id, partition_key=tenant_id)
        except CosmosResourceNotFoundError:
            return None
        except CosmosHttpResponseError as exc:
            if exc.status_code != 500:
                raise
        # @zeit/cosmosdb-server fails a point read of a missing document with a
        # 500 where Cosmos DB answers 404. Reading the same id by query tells a
        # missing document from a real failure, on either server.
        items = proxy.query_items(
            "SELECT * FROM c WHERE c.tenantId = @tenant AND c.id = @id",
            parameters=[{"name": "@tenant", "value": tenant_id}, {"name": "@id", "value": doc_id}],
            partition_key=tenant_id,
        )
        return next(iter(items), None)


def _select(
    tenant_id: str,
    filters: Sequence[Filter],
    order_by: str | None,
    descending: bool,
    limit: int | None,
) -> tuple[str, list[dict[str, object]]]:
    """Parameterised SQL confined to the tenant; field names are checked identifiers."""
    parameters: list[dict[str, object]] = [
        {"name": "@tenant", "value": tenant_id},
        {"name": "@now", "value": time.time()},
    ]
    where = ["c.tenantId = @tenant", _LIVE]
    for index, condition in enumerate(filters):
        value = filter_value(condition)
        ref = f'c["{condition.field}"]'
        if value is None and condition.op != "contains":
            # Cosmos DB compares nothing with null but null: "!= null" would
            # match no document at all, so None asks "is null" / "is set".
            where.append(
                f"IS_NULL({ref})"
                if condition.op == "="
                else f"(IS_DEFINED({ref}) AND NOT IS_NULL({ref}))"
            )
            continue
        name = f"@p{index}"
        parameters.append({"name": name, "value": value})
        if condition.op == "contains":
            where.append(f"ARRAY_CONTAINS({ref}, {name})")
        elif condition.op == "!=":
            # Cosmos DB never matches across types; @zeit/cosmosdb-server does
            # for != (2 != "2" holds there), so the type test is spelled out.
            where.append(f"{_TYPE_TEST[type(value)]}({ref}) AND {ref} != {name}")
        else:
            where.append(f"{ref} {condition.op} {name}")
    top = ""
    if limit is not None:
        top = " TOP @limit"
        parameters.append({"name": "@limit", "value": limit})
    sql = f"SELECT{top} * FROM c WHERE {' AND '.join(where)}"
    if order_by is not None:
        sql += f' ORDER BY c["{field_name(order_by)}"] {"DESC" if descending else "ASC"}'
    return sql, parameters


def _stamped(doc: Document, ttl: int | None) -> Document:
    return doc if ttl is None else {**doc, "_expiresAt": time.time() + ttl}


def _live(item: dict[str, Any], now: float) -> bool:
    expires_at = item.get("_expiresAt")
    return not isinstance(expires_at, int | float) or expires_at > now


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Cosmos DB's failures as the product's error tree."""
    try:
        yield
    except CosmosResourceExistsError as exc:
        raise Conflict(f"{what} exists already") from exc
    except CosmosAccessConditionFailedError as exc:
        raise PreconditionFailed(f"{what} changed since it was read") from exc
    except CosmosHttpResponseError as exc:
        if exc.status_code in _TRANSIENT_STATUSES:
            raise StoreUnavailable(f"{what}: Cosmos DB answered {exc.status_code}") from exc
        if exc.status_code == 413:
            raise PayloadTooLarge(f"{what}: too large for Cosmos DB") from exc
        if exc.status_code == 400:
            raise BadInput(f"{what}: Cosmos DB refused it: {exc.message}") from exc
        raise
    except (CosmosClientTimeoutError, ServiceRequestError, ServiceResponseError) as exc:
        raise StoreUnavailable(f"{what}: {exc}") from exc


def _transport() -> RequestsTransport:
    session = Session()
    # Retries are the Cosmos SDK's business; urllib3 must not add its own.
    adapter = HTTPAdapter(
        pool_maxsize=_CONNECTIONS,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(session=session, session_owner=True)


def _allow_unverified(endpoint: str) -> None:
    """Silence urllib3's warning for this host only: unverified TLS was asked for."""
    host = urlsplit(endpoint).hostname or ""
    warnings.filterwarnings(
        "ignore",
        message=re.escape(f"Unverified HTTPS request is being made to host '{host}'"),
        category=InsecureRequestWarning,
    )
