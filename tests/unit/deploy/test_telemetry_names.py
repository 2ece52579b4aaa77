"""The workbook and alerts query the telemetry names bicep/README.md promises.

The code's telemetry must emit exactly the names in README's "Telemetry"
table; this keeps the portal side to the same list.
"""

from __future__ import annotations

import re

from tests.unit.deploy.conftest import BICEP

NAME = re.compile(r"sre_copilot\.[a-z_]+(?:\.[a-z_]+)*")


def documented() -> set[str]:
    rows = re.findall(r"^\| `(sre_copilot\.[a-z_.]+)` \|", (BICEP / "README.md").read_text(), re.M)
    return set(rows)


def queried() -> set[str]:
    text = (BICEP / "workbook.json").read_text() + (BICEP / "modules" / "alerts.bicep").read_text()
    return {n for n in NAME.findall(text) if n != "sre_copilot."}


def test_every_queried_name_is_documented() -> None:
    assert documented(), "bicep/README.md has no Telemetry table"
    assert sorted(queried() - documented()) == []


def test_every_documented_metric_is_on_the_workbook() -> None:
    workbook = (BICEP / "workbook.json").read_text()
    assert sorted(n for n in documented() if f'"{n}\\"' not in workbook and n not in workbook) == []
