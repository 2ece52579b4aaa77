"""``sre-copilot runbooks index``: check a folder, or upload it to Azure AI Search.

Runs against the local Search server (``tests/fixtures/search_server.py``)
with its admin key, as an operator would with a key; the identity path is
tested in ``tests/contract/identity``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import bootstrap
from tests.fixtures.cli import run
from tests.fixtures.prometheus import free_port
from tests.fixtures.search_server import RunningSearchServer, search_server

RUNBOOKS = Path(__file__).resolve().parents[3] / "samples" / "runbooks"
COUNT = len(list(RUNBOOKS.glob("*.md")))


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[RunningSearchServer]:
    monkeypatch.setenv("SRE_COPILOT_HOME", str(tmp_path / "home"))
    with search_server() as running:
        monkeypatch.setenv("SRE_COPILOT_AZURE_SEARCH_ENDPOINT", running.endpoint)
        monkeypatch.setenv("SRE_COPILOT_AZURE_SEARCH_KEY", running.admin_key)
        monkeypatch.setenv("SRE_COPILOT_AZURE_SEARCH_INDEX", "runbooks")
        yield running
    bootstrap.reset()


def test_local_checks_the_folder_only(server: RunningSearchServer) -> None:
    code, out = run("runbooks", "index", "--search", "local", str(RUNBOOKS))

    assert code == 0, out
    assert f"{COUNT} runbooks in" in out and "rb-disk-cleanup" in out
    assert server.service.requests == []


def test_azure_without_the_index_says_so_and_creates_nothing(server: RunningSearchServer) -> None:
    code, out = run("runbooks", "index", "--search", "azure", str(RUNBOOKS))

    assert code == 2
    assert len(out.strip().splitlines()) == 1, out
    assert "not found" in out and "create the index" in out
    assert server.service.indexes == {}


def test_create_index_then_upload_and_again_in_place(server: RunningSearchServer) -> None:
    code, out = run("runbooks", "index", "--search", "azure", "--create-index", str(RUNBOOKS))

    assert code == 0, out
    assert "created index runbooks" in out
    assert f"uploaded {COUNT} runbooks to runbooks" in out
    index = server.service.indexes["runbooks"]
    assert len(index.documents) == COUNT
    assert {d["tenant_id"] for d in index.documents.values()} == {"*"}

    code, out = run("runbooks", "index", "--search", "azure", "--create-index", str(RUNBOOKS))
    assert code == 0, out
    assert "created index" not in out
    assert len(server.service.indexes["runbooks"].documents) == COUNT


def test_the_created_index_is_the_deployments_definition(server: RunningSearchServer) -> None:
    import json

    run("runbooks", "index", "--search", "azure", "--create-index", str(RUNBOOKS))

    deployed = json.loads((Path(__file__).resolve().parents[3] / "bicep" / "search-index.json")
                          .read_text())  # fmt: skip
    created = server.service.indexes["runbooks"].fields
    assert sorted(created) == sorted(f["name"] for f in deployed["fields"])
    for field in deployed["fields"]:
        assert created[field["name"]]["filterable"] == field["filterable"], field["name"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--search", "azure", "/no/such/folder"], "not a runbook folder"),
        (["--search", "local", "/no/such/folder"], "not a runbook folder"),
        (["--search", "elsewhere", str(RUNBOOKS)], "use local or azure"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    server: RunningSearchServer, args: list[str], says: str
) -> None:
    code, out = run("runbooks", "index", *args)

    assert code == 2
    assert len(out.strip().splitlines()) == 1 and says in out, out


def test_an_empty_folder_is_refused(server: RunningSearchServer, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, out = run("runbooks", "index", "--search", "azure", str(tmp_path / "empty"))

    assert code == 2 and "no runbooks" in out


def test_an_unreachable_service_is_one_line_and_exit_2(
    server: RunningSearchServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SRE_COPILOT_AZURE_SEARCH_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    code, out = run("runbooks", "index", "--search", "azure", str(RUNBOOKS))

    assert code == 2
    assert len(out.strip().splitlines()) == 1 and "unreachable" in out, out
