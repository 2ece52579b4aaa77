"""``sre-copilot audit verify`` and ``audit export``: exit codes 0 / 1 / 2 and JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.adapters.store.sqlite import SqliteStore
from shared.audit import append
from shared.audit.chain import record_id
from shared.settings import load_settings
from tests.fixtures.cli import run
from tests.unit.audit.support import record, sql

pytestmark = pytest.mark.usefixtures("cli_home")


@pytest.fixture
def db_path() -> Path:
    """A tenant with three audit records; the path of the store's file."""
    assert run("tenants", "add", "acme")[0] == 0
    path = load_settings().sqlite_path
    store = SqliteStore(path)
    try:
        for n in (1, 2, 3):
            append(store, "acme", record(n))
    finally:
        store.close()
    return path


def test_an_intact_chain_exits_0_with_one_line(db_path: Path) -> None:
    code, out = run("audit", "verify", "--tenant", "acme")

    assert code == 0, out
    assert out == "audit chain of acme intact: 3 records\n"


def test_an_edited_record_exits_1_naming_it(db_path: Path) -> None:
    sql(
        db_path,
        "UPDATE audit SET body = json_set(body, '$.actor', 'slack:UMALLORY') WHERE id = ?",
        record_id(2),
    )

    code, out = run("audit", "verify", "--tenant", "acme")

    assert code == 1, out
    assert len(out.splitlines()) == 1
    assert f"seq 2 ({record_id(2)}): edited" in out


@pytest.mark.parametrize(("gone", "reason"), [(2, "missing"), (3, "head_beyond")])
def test_a_deleted_record_exits_1_naming_it(db_path: Path, gone: int, reason: str) -> None:
    sql(db_path, "DELETE FROM audit WHERE id = ?", record_id(gone))

    code, out = run("audit", "verify", "--tenant", "acme", "--json")

    assert code == 1, out
    broken = json.loads(out)["first_broken"]
    assert (broken["seq"], broken["id"], broken["reason"]) == (gone, record_id(gone), reason)


@pytest.mark.parametrize("command", ["verify", "export"])
def test_an_unknown_tenant_exits_2_with_one_line(command: str) -> None:
    code, out = run("audit", command, "--tenant", "ghost")

    assert code == 2, out
    assert "unknown tenant 'ghost'" in out
    assert len(out.strip().splitlines()) == 1


def test_export_writes_json_lines_oldest_first(db_path: Path, tmp_path: Path) -> None:
    code, out = run("audit", "export", "--tenant", "acme")

    assert code == 0, out
    lines = [json.loads(line) for line in out.splitlines()]
    assert [d["seq"] for d in lines] == [1, 2, 3]
    assert lines[1]["prev_hash"] == lines[0]["hash"]
    assert all(d["tenantId"] == "acme" and "_etag" not in d for d in lines)

    target = tmp_path / "audit.jsonl"
    code, out = run("audit", "export", "--tenant", "acme", "--out", str(target))
    assert (code, out) == (0, "")
    assert [json.loads(line) for line in target.read_text().splitlines()] == lines


def test_export_to_an_unwritable_place_exits_2() -> None:
    assert run("tenants", "add", "acme")[0] == 0

    code, out = run("audit", "export", "--tenant", "acme", "--out", "/nonexistent/dir/a.jsonl")

    assert code == 2, out
    assert "/nonexistent/dir/a.jsonl" in out
