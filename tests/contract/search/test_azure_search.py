"""The Azure AI Search adapter, through the real SDK, against the local Search REST double.

The double (``tests/fixtures/search_server.py``) parses the OData filters the
adapter emits and refuses filters on non-filterable fields, so these tests
also check that the schema in code fits the queries in code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.search.documents import SearchClient
from azure.search.documents.indexes import SearchIndexClient
from azure.search.documents.indexes.models import SearchIndex as SearchIndex_

from shared.adapters.search.azure_search import (
    SHARED_TENANT,
    AzureRunbookSearch,
    SearchFailed,
    build_filter,
    document_key,
    index_schema,
)
from shared.adapters.search.local_index import LocalRunbookIndex
from shared.ports.search import RunbookHit, RunbookQuery, SearchIndex
from shared.runbooks.loader import Runbook, RunbookAction, load_runbooks
from tests.fixtures.prometheus import free_port
from tests.fixtures.search_server import RunningSearchServer, search_server

INDEX = "runbooks"
KIT_RUNBOOKS = Path(__file__).resolve().parents[3].parent / "shared" / "scenarios" / "runbooks"


class Factory(Protocol):
    def __call__(
        self, *, key: str | None = None, tenant_id: str = SHARED_TENANT, retry_total: int = 0
    ) -> AzureRunbookSearch: ...


@pytest.fixture
def server() -> Iterator[RunningSearchServer]:
    with search_server() as running:
        yield running


@pytest.fixture
def make(server: RunningSearchServer) -> Iterator[Factory]:
    """Adapters on the double (no SDK retries unless asked), closed after the test."""
    made: list[AzureRunbookSearch] = []

    def factory(
        *, key: str | None = None, tenant_id: str = SHARED_TENANT, retry_total: int = 0
    ) -> AzureRunbookSearch:
        adapter = AzureRunbookSearch(
            server.endpoint,
            key or server.admin_key,
            INDEX,
            tenant_id=tenant_id,
            retry_total=retry_total,
            timeout_seconds=5.0,
        )
        made.append(adapter)
        return adapter

    yield factory
    for adapter in made:
        adapter.close()


def runbook(rid: str, title: str, categories: list[str], services: list[str], body: str) -> Runbook:
    return Runbook(
        id=rid, title=title, categories=tuple(categories), services=tuple(services), body=body
    )


CORPUS = [
    runbook(
        "rb-rollback-deployment",
        "Roll back a bad deployment",
        ["bad_deployment"],
        ["*"],
        "Errors rose right after a release. Roll back the deployment to the previous "
        "version: kubectl rollout undo. Confirm the error ratio recovers after the rollback.",
    ),
    runbook(
        "rb-clear-cache",
        "Flush a poisoned cache",
        ["config_change", "bad_deployment"],
        ["*"],
        "Stale entries in a cache after a change. Flush the prefix with redis-cli.",
    ),
    runbook(
        "rb-feature-flag",
        "Turn off a feature flag",
        ["bad_deployment"],
        ["*"],
        "A flag enabled with the deployment misbehaves: switch it off in the flag service.",
    ),
    runbook(
        "rb-disk-cleanup",
        "Free disk space on a host",
        ["disk_exhaustion"],
        ["*"],
        "The filesystem is full. Deployment artefacts and old releases fill the disk: "
        "remove old release folders, rotate logs, roll back nothing.",
    ),
    runbook(
        "rb-checkout-payments-timeout",
        "Checkout: raise the payments client timeout",
        ["dependency_failure"],
        ["checkout"],
        "Checkout calls payments-api; when payments is slow, raise the timeout.",
    ),
    runbook(
        "rb-payments-failover",
        "Payments: fail over to the standby provider",
        ["dependency_failure"],
        ["payments-api"],
        "Switch payments-api to the standby card provider.",
    ),
    runbook(
        "rb-dependency-generic",
        "A dependency failed: shed load and degrade",
        ["dependency_failure"],
        ["*"],
        "When a downstream dependency fails, degrade gracefully and shed load.",
    ),
]


@pytest.fixture
def loaded(make: Factory) -> AzureRunbookSearch:
    adapter = make()
    adapter.ensure_index()
    assert adapter.upload_runbooks(CORPUS) == len(CORPUS)
    return adapter


def ids(hits: list[RunbookHit]) -> list[str]:
    return [h.id for h in hits]


# --- the index ----------------------------------------------------------------------


def test_index_is_created_with_the_schema(make: Factory, server: RunningSearchServer) -> None:
    adapter = make()
    created = adapter.ensure_index()
    assert created.name == INDEX
    fields = server.service.indexes[INDEX].fields
    assert [n for n, f in fields.items() if f.get("key")] == ["id"]
    for name in ("categories", "services"):
        assert fields[name]["type"] == "Collection(Edm.String)"
        assert fields[name]["filterable"] is True
    assert fields["tenant_id"]["filterable"] is True
    assert {n for n, f in fields.items() if f.get("searchable")} == {"title", "content"}
    assert fields["url"]["searchable"] is False
    # a second deploy updates in place: the double refuses any change to an existing field
    adapter.ensure_index()
    assert [m for m, p, _ in server.service.requests if p.startswith("/indexes")] == ["PUT", "PUT"]


def test_the_adapter_satisfies_the_port(loaded: AzureRunbookSearch) -> None:
    port: SearchIndex = loaded
    assert port.search(RunbookQuery(text="rollback"), top=1)


def test_upload_is_idempotent_and_keyed_per_tenant(
    make: Factory, server: RunningSearchServer
) -> None:
    adapter = make()
    adapter.ensure_index()
    adapter.upload_runbooks(CORPUS[:2], urls={"rb-rollback-deployment": "https://wiki/rb"})
    adapter.upload_runbooks(CORPUS[:2])
    adapter.upload_runbooks(CORPUS[:1], tenant_id="acme")
    documents = server.service.indexes[INDEX].documents
    assert len(documents) == 3
    shared = documents[document_key(SHARED_TENANT, "rb-rollback-deployment")]
    assert shared["runbook_id"] == "rb-rollback-deployment"
    assert shared["tenant_id"] == "*"
    assert shared["services"] == ["*"]
    assert shared["content"] == CORPUS[0].body
    assert documents[document_key("acme", "rb-rollback-deployment")]["tenant_id"] == "acme"


# --- filters and ranking ------------------------------------------------------------


def test_category_filter_returns_only_that_category_by_relevance(
    loaded: AzureRunbookSearch,
) -> None:
    query = RunbookQuery(
        text="checkout errors after release v2.3.1: roll back the deployment",
        categories=("bad_deployment",),
    )
    hits = loaded.search(query, top=10)
    # rb-disk-cleanup mentions deployment, release and roll back too, but is disk_exhaustion
    assert sorted(ids(hits)) == ["rb-clear-cache", "rb-feature-flag", "rb-rollback-deployment"]
    assert hits[0].id == "rb-rollback-deployment"
    assert hits[0].score > hits[1].score > hits[2].score
    # the same filter, other words: the order follows the text
    flag = loaded.search(
        RunbookQuery(text="switch off the flag", categories=("bad_deployment",)), top=10
    )
    assert ids(flag)[0] == "rb-feature-flag"


def test_several_categories_match_any_of_them(loaded: AzureRunbookSearch) -> None:
    query = RunbookQuery(text="disk cache", categories=("disk_exhaustion", "config_change"))
    assert sorted(ids(loaded.search(query, top=10))) == ["rb-clear-cache", "rb-disk-cleanup"]


def test_service_filter_keeps_runbooks_for_every_service(loaded: AzureRunbookSearch) -> None:
    query = RunbookQuery(
        text="payments timeout", categories=("dependency_failure",), services=("checkout",)
    )
    hits = loaded.search(query, top=10)
    # the generic runbook shares no word with the query: it still fits, with score 0
    assert ids(hits) == ["rb-checkout-payments-timeout", "rb-dependency-generic"]
    assert hits[0].score > 0.0
    assert hits[1].score == 0.0


def test_no_service_in_the_query_means_no_service_filter(loaded: AzureRunbookSearch) -> None:
    query = RunbookQuery(text="payments", categories=("dependency_failure",))
    assert len(loaded.search(query, top=10)) == 3


def test_tenants_see_their_own_and_shared_runbooks_only(make: Factory) -> None:
    admin = make()
    admin.ensure_index()
    admin.upload_runbooks(CORPUS[:1])
    private = "Roll back with our Argo pipeline; page the release captain."
    admin.upload_runbooks(
        [runbook("rb-argo-rollback", "Acme: Argo rollback", ["bad_deployment"], ["*"], private)],
        tenant_id="acme",
    )
    admin.upload_runbooks(
        [runbook("rb-argo-rollback", "Globex: Argo rollback", ["bad_deployment"], ["*"], private)],
        tenant_id="globex",
    )
    query = RunbookQuery(text="argo rollback release captain", categories=("bad_deployment",))
    acme = make(tenant_id="acme").search(query, top=10)
    assert [(h.id, h.title) for h in acme] == [
        ("rb-argo-rollback", "Acme: Argo rollback"),
        ("rb-rollback-deployment", "Roll back a bad deployment"),
    ]
    globex = make(tenant_id="globex").search(query, top=10)
    assert globex[0].title == "Globex: Argo rollback"
    assert "Acme: Argo rollback" not in [h.title for h in globex]
    assert ids(make().search(query, top=10)) == ["rb-rollback-deployment"]


def test_top_three_with_scores_in_the_unit_interval(loaded: AzureRunbookSearch) -> None:
    hits = loaded.search(RunbookQuery(text="deployment release rollback flag cache disk"))
    assert len(hits) == 3
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(loaded.search(RunbookQuery(text="deployment"), top=1)) == 1


def test_scores_are_comparable_across_queries(loaded: AzureRunbookSearch) -> None:
    """A better match scores higher even when it comes from another query."""
    strong = loaded.search(RunbookQuery(text="roll back deployment rollout undo error ratio"))
    weak = loaded.search(RunbookQuery(text="standby"))
    assert strong[0].id == "rb-rollback-deployment"
    assert weak[0].id == "rb-payments-failover"
    assert strong[0].score > weak[0].score
    assert strong[0].score < 1.0


def test_empty_text_lists_the_filtered_runbooks_by_id(loaded: AzureRunbookSearch) -> None:
    hits = loaded.search(RunbookQuery(text="  ", categories=("dependency_failure",)), top=10)
    assert ids(hits) == sorted(ids(hits))
    assert len(hits) == 3
    assert {h.score for h in hits} == {0.0}


def test_query_operators_and_quotes_are_plain_text(
    loaded: AzureRunbookSearch, server: RunningSearchServer
) -> None:
    hits = loaded.search(
        RunbookQuery(
            text='-rollback "release" (v2.3.1) +flag* | cache~',
            categories=("bad_deployment",),
            services=("o'brien",),
        )
    )
    assert ids(hits)
    _, _, body = server.service.requests[-1]
    assert body is not None
    assert body["search"] == "rollback release v2 3 1 flag cache"
    assert "x eq 'o''brien'" in body["filter"]


def test_filter_text_is_what_the_double_evaluates() -> None:
    text = build_filter(
        RunbookQuery(text="", categories=("a", "a", "b"), services=("svc",)), "acme"
    )
    assert text == (
        "(tenant_id eq 'acme' or tenant_id eq '*') and "
        "categories/any(x: x eq 'a' or x eq 'b') and "
        "services/any(x: x eq 'svc' or x eq '*')"
    )


def test_the_double_refuses_filters_on_fields_that_are_not_filterable(
    loaded: AzureRunbookSearch, server: RunningSearchServer
) -> None:
    """The guard that makes the filter tests mean something about the schema."""
    client = SearchClient(server.endpoint, INDEX, AzureKeyCredential(server.admin_key))
    with client, pytest.raises(HttpResponseError, match="not a filterable field"):
        list(client.search("rollback", filter="title eq 'x'"))


# --- failures -----------------------------------------------------------------------


def test_refused_key_is_a_permanent_search_failure(make: Factory) -> None:
    adapter = make(key="wrong-key")
    with pytest.raises(SearchFailed) as caught:
        adapter.search(RunbookQuery(text="rollback"))
    assert caught.value.permanent is True
    assert "credential was refused (HTTP 403)" in caught.value.reason
    assert "api-key is not valid" in caught.value.reason
    with pytest.raises(SearchFailed, match="HTTP 403"):
        adapter.ensure_index()


def test_missing_index_says_to_create_it(make: Factory) -> None:
    with pytest.raises(SearchFailed, match=r"not found.*create the index") as caught:
        make().search(RunbookQuery(text="rollback"))
    assert caught.value.permanent is True


def test_throttling_is_retryable_and_the_sdk_retries_it(
    loaded: AzureRunbookSearch, make: Factory, server: RunningSearchServer
) -> None:
    server.service.fail_next(503, "Service busy")
    with pytest.raises(SearchFailed, match="HTTP 503: Service busy") as caught:
        loaded.search(RunbookQuery(text="rollback"))
    assert caught.value.permanent is False
    server.service.fail_next(503, "Service busy")
    assert make(retry_total=1).search(RunbookQuery(text="rollback"))


def test_unreachable_service_is_retryable() -> None:
    adapter = AzureRunbookSearch(
        f"http://127.0.0.1:{free_port()}", "k", INDEX, retry_total=0, timeout_seconds=2
    )
    try:
        with pytest.raises(SearchFailed, match="unreachable") as caught:
            adapter.search(RunbookQuery(text="rollback"))
    finally:
        adapter.close()
    assert caught.value.permanent is False


# --- the kit's corpus ---------------------------------------------------------------


@pytest.mark.kit
def test_kit_corpus_category_filter(make: Factory) -> None:
    if not KIT_RUNBOOKS.is_dir():
        pytest.skip(f"{KIT_RUNBOOKS} absent: the scenario kit lives in ../shared/scenarios")
    corpus = load_runbooks(KIT_RUNBOOKS)
    adapter = make()
    adapter.ensure_index()
    adapter.upload_runbooks(corpus)
    by_id = {r.id: r for r in corpus}
    categories = sorted({c for r in corpus for c in r.categories})
    assert len(categories) >= 5
    for category in categories:
        hits = adapter.search(
            RunbookQuery(text=category.replace("_", " "), categories=(category,)), top=3
        )
        assert hits, category
        assert all(category in by_id[h.id].categories for h in hits), category


# --- runbook actions ----------------------------------------------------------------

WITH_ACTIONS = Runbook(
    id="rb-scale-out",
    title="Scale out a saturated service",
    categories=("cpu_saturation", "traffic_surge"),
    services=("*",),
    actions=(
        RunbookAction(action="scale_replicas", target="{namespace}/{deployment}",
                      params={"delta": 2}),
        RunbookAction(action="restart_pod", target="{target}"),
    ),
    body="CPU saturated under load: add replicas, then restart the stuck pods.",
)  # fmt: skip


def azure_adapter(make: Factory) -> SearchIndex:
    adapter = make()
    adapter.ensure_index()
    adapter.upload_runbooks([*CORPUS, WITH_ACTIONS])
    return adapter


def local_adapter(make: Factory) -> SearchIndex:
    return LocalRunbookIndex([*CORPUS, WITH_ACTIONS])


@pytest.mark.parametrize("build", [azure_adapter, local_adapter], ids=["azure", "local"])
def test_both_adapters_return_categories_and_actions(
    build: Callable[[Factory], SearchIndex], make: Factory
) -> None:
    index = build(make)
    hits = index.search(RunbookQuery(text="cpu saturated add replicas"), top=3)
    by_id = {h.id: h for h in hits}
    assert by_id["rb-scale-out"].actions == WITH_ACTIONS.actions
    assert by_id["rb-scale-out"].categories == WITH_ACTIONS.categories
    other = index.search(RunbookQuery(text="", categories=("bad_deployment",)), top=3)
    assert other and all(h.actions == () and "bad_deployment" in h.categories for h in other)


def test_actions_round_trip_as_json_text_in_the_index(
    loaded: AzureRunbookSearch, server: RunningSearchServer
) -> None:
    loaded.upload_runbooks([WITH_ACTIONS], tenant_id="acme")
    stored = server.service.indexes[INDEX].documents[document_key("acme", "rb-scale-out")]
    assert isinstance(stored["actions"], str)
    assert json.loads(stored["actions"])[0]["params"] == {"delta": 2}
    field = server.service.indexes[INDEX].fields["actions"]
    assert not field.get("searchable") and not field.get("filterable")
    assert loaded.search(RunbookQuery(text="saturated", categories=("traffic_surge",))) == []


def test_a_malformed_actions_value_is_dropped_with_a_reason_and_the_hit_kept(
    loaded: AzureRunbookSearch, server: RunningSearchServer, caplog: pytest.LogCaptureFixture
) -> None:
    documents = server.service.indexes[INDEX].documents
    rollback = documents[document_key(SHARED_TENANT, "rb-rollback-deployment")]
    rollback["actions"] = json.dumps(
        [
            {"action": "rollback_deployment", "target": "{target}"},
            {"action": "rollback_deployment", "target": "{alert_summary}"},
            {"action": "DROP TABLE", "target": "{target}"},
        ]
    )
    documents[document_key(SHARED_TENANT, "rb-feature-flag")]["actions"] = "{not json"
    with caplog.at_level("WARNING"):
        hits = loaded.search(RunbookQuery(text="roll back", categories=("bad_deployment",)))
    by_id = {h.id: h for h in hits}
    assert by_id["rb-rollback-deployment"].actions == (
        RunbookAction(action="rollback_deployment", target="{target}"),
    )
    assert by_id["rb-feature-flag"].actions == ()
    assert by_id["rb-feature-flag"].title == "Turn off a feature flag"
    lines = [r.getMessage() for r in caplog.records]
    assert sum("runbook rb-rollback-deployment: action" in line for line in lines) == 2
    assert any("runbook rb-feature-flag: actions dropped: not JSON" in line for line in lines)


def old_index(server: RunningSearchServer) -> SearchIndex_:
    """The index as an older version created it: no ``actions`` field, runbooks in it."""
    schema = index_schema(INDEX)
    schema.fields = [f for f in schema.fields if f.name != "actions"]
    credential = AzureKeyCredential(server.admin_key)
    with SearchIndexClient(server.endpoint, credential) as indexes:
        indexes.create_or_update_index(schema)
    old = [{k: v for k, v in d.items() if k != "actions"} for d in upload_documents(CORPUS)]
    with SearchClient(server.endpoint, INDEX, credential) as client:
        client.upload_documents(old)
    return schema


def upload_documents(runbooks: list[Runbook]) -> list[dict[str, object]]:
    return [
        {"id": document_key(SHARED_TENANT, r.id), "runbook_id": r.id, "title": r.title,
         "categories": list(r.categories), "services": list(r.services),
         "tenant_id": SHARED_TENANT, "content": r.body}
        for r in runbooks
    ]  # fmt: skip


def test_an_old_index_is_searched_without_actions_and_gets_the_field(
    make: Factory, server: RunningSearchServer, caplog: pytest.LogCaptureFixture
) -> None:
    old_index(server)
    app = make()
    with caplog.at_level("WARNING"):
        hits = app.search(RunbookQuery(text="roll back", categories=("bad_deployment",)))
    assert hits and all(h.actions is None for h in hits)  # unknown, not "none": see the folder
    assert any("has no actions field" in r.getMessage() for r in caplog.records)
    # the operator's upload says what to run instead of a bare 400
    with pytest.raises(SearchFailed, match=r"no 'actions' field.*--create-index") as caught:
        make().upload_runbooks([WITH_ACTIONS])
    assert caught.value.permanent is True

    assert make().create_index_if_missing() is False  # exists: only the field is added
    fields = server.service.indexes[INDEX].fields
    assert "actions" in fields and len(server.service.indexes[INDEX].documents) == len(CORPUS)
    make().upload_runbooks([WITH_ACTIONS])
    hit = make().search(RunbookQuery(text="replicas", categories=("traffic_surge",)), top=1)[0]
    assert hit.actions == WITH_ACTIONS.actions
    older = make().search(RunbookQuery(text="", categories=("bad_deployment",)))
    assert older and all(h.actions is None for h in older)  # uploaded before the field
    assert make().create_index_if_missing() is False  # nothing missing: no update
    puts = [m for m, p, _ in server.service.requests if m == "PUT" and p.startswith("/indexes")]
    assert len(puts) == 2  # the old index's creation, then the field's addition only


def test_ensure_index_adds_the_field_to_an_old_index_too(
    make: Factory, server: RunningSearchServer
) -> None:
    old_index(server)
    make().ensure_index()
    assert "actions" in server.service.indexes[INDEX].fields
    assert len(server.service.indexes[INDEX].documents) == len(CORPUS)
