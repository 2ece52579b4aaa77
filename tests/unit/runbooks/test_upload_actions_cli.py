"""``sre-copilot runbooks index --search azure``: the runbooks' actions reach the index.

Against the local Search server (``tests/fixtures/search_server.py``), from an
index an older version created (no ``actions`` field) to one proposals can read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.search.documents.indexes import SearchIndexClient
from typer.testing import CliRunner

from shared import bootstrap
from shared.adapters.search.azure_search import SHARED_TENANT, document_key, index_schema
from shared.cli import app
from shared.runbooks.loader import actions_from, load_runbooks
from tests.fixtures.search_server import RunningSearchServer, search_server

runner = CliRunner()
SCALE = """\
---
id: rb-scale-out
title: Scale out a saturated service
categories: [cpu_saturation]
actions:
  - {action: scale_replicas, target: "{namespace}/{deployment}", params: {delta: 2}}
---
Add replicas.
"""
PLAIN = "---\nid: rb-read-only\ntitle: Look, do not touch\n---\nRead the dashboards.\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    made = tmp_path / "runbooks"
    made.mkdir()
    (made / "rb-scale-out.md").write_text(SCALE)
    (made / "rb-read-only.md").write_text(PLAIN)
    return made


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[RunningSearchServer]:
    monkeypatch.setenv("SRE_COPILOT_HOME", str(tmp_path / "home"))
    with search_server() as running:
        monkeypatch.setenv("SRE_COPILOT_AZURE_SEARCH_ENDPOINT", running.endpoint)
        monkeypatch.setenv("SRE_COPILOT_AZURE_SEARCH_KEY", running.admin_key)
        monkeypatch.setenv("SRE_COPILOT_AZURE_SEARCH_INDEX", "runbooks")
        yield running
    bootstrap.reset()


def test_an_old_index_refuses_then_gets_the_field_and_the_actions(
    server: RunningSearchServer, folder: Path
) -> None:
    old = index_schema("runbooks")
    old.fields = [f for f in old.fields if f.name != "actions"]
    with SearchIndexClient(server.endpoint, AzureKeyCredential(server.admin_key)) as indexes:
        indexes.create_or_update_index(old)

    refused = runner.invoke(app, ["runbooks", "index", "--search", "azure", str(folder)])
    assert refused.exit_code == 2
    assert "no 'actions' field" in refused.output and "--create-index" in refused.output

    added = runner.invoke(
        app, ["runbooks", "index", "--search", "azure", "--create-index", str(folder)]
    )
    assert added.exit_code == 0, added.output
    assert "created index" not in added.output  # it existed: only the field was added
    documents = server.service.indexes["runbooks"].documents
    for runbook in load_runbooks(folder):
        stored = documents[document_key(SHARED_TENANT, runbook.id)]["actions"]
        assert actions_from(json.loads(stored), origin=runbook.id) == runbook.actions
    assert json.loads(documents[document_key(SHARED_TENANT, "rb-scale-out")]["actions"]) == [
        {"action": "scale_replicas", "target": "{namespace}/{deployment}", "params": {"delta": 2}}
    ]
