"""What the deployment tests share: the Bicep files, parsed once with pycep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[3]
BICEP = ROOT / "bicep"


def bicep_files() -> list[Path]:
    return sorted(BICEP.rglob("*.bicep"))


@pytest.fixture(scope="session")
def parsed() -> dict[str, dict[str, Any]]:
    """Each .bicep file's pycep JSON, by path relative to bicep/ (``modules/access.bicep``)."""
    parser = BicepParser()
    return {
        path.relative_to(BICEP).as_posix(): parser.parse(file_path=path) for path in bicep_files()
    }


def resources(doc: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Symbolic name -> (type, body): a conditional resource's or a loop's body too."""
    found = {}
    for name, resource in doc.get("resources", {}).items():
        config = resource["config"]
        if "condition" in config and "config" in config:
            config = config["config"]
        found[name] = (resource["type"], config)
    return found
