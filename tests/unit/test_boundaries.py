"""Adapters are chosen in ``shared/bootstrap.py`` only (STYLE habit 3).

Ports import no adapter, and neither do the core modules that once chose one
themselves (incidents, ingestion, scoring, the Slack trigger).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
CHECKED = sorted(
    [
        *(REPO / "shared" / "ports").glob("*.py"),
        *(REPO / "shared" / "incidents").glob("*.py"),
        *(REPO / "shared" / "ingestion").glob("*.py"),
        *(REPO / "shared" / "scoring").glob("*.py"),
        REPO / "functions" / "slack.py",
    ]
)


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_adapter_is_imported_outside_bootstrap(path: Path) -> None:
    adapters = {m for m in imported_modules(path) if m.startswith("shared.adapters")}
    assert not adapters, f"{path.name} imports {sorted(adapters)}: choose it in bootstrap"
