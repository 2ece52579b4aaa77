"""serve and demo on a port that cannot be used; reads that meet a poisoned incident."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared import bootstrap
from shared.cli import app
from shared.ports.store import Container
from shared.settings import load_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SRE_COPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SRE_COPILOT_STORE", "sqlite")
    yield tmp_path
    bootstrap.reset()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", [["serve"], ["demo", "--once"]])
def test_a_busy_port_is_one_line_and_exit_2(busy_port: int, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--port", str(busy_port)])

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: cannot listen on 127.0.0.1:{busy_port}: it is in use; "
        "choose another port with --port"
    ]


def test_incidents_list_skips_an_unreadable_incident_with_a_warning() -> None:
    assert runner.invoke(app, ["tenants", "add", "acme"]).exit_code == 0
    rt = bootstrap.configure(bootstrap.build(load_settings()))
    good = {
        "id": "INC-260304-A1B2C3",
        "tenantId": "acme",
        "title": "fine",
        "first_seen": "2026-03-04T14:05:00.000000Z",
        "last_seen": "2026-03-04T14:05:00.000000Z",
        "created_at": "2026-03-04T14:05:00.000000Z",
        "updated_at": "2026-03-04T14:05:00.000000Z",
    }
    # What iso() stored for a year-999 alert before ingestion refused such times.
    poisoned = good | {"id": "INC-260304-BAD999", "first_seen": "999-01-01T00:00:00.000000Z"}
    rt.store.create(Container.INCIDENTS, "acme", good)
    rt.store.create(Container.INCIDENTS, "acme", poisoned)
    bootstrap.reset()

    result = runner.invoke(app, ["incidents", "list", "--json"])

    assert result.exit_code == 0, result.output
    assert "warning: incident 'INC-260304-BAD999' is unreadable" in result.output
    listed = json.loads(result.output[result.output.index("[") :])
    assert [row["id"] for row in listed] == ["INC-260304-A1B2C3"]
