"""What Azure installs and ships agrees with what the project declares."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _requirements_txt() -> list[Requirement]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in (x.strip() for x in lines) if line and line[0] != "#"]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_requirements_txt_matches_the_project_dependencies() -> None:
    declared = {str(Requirement(r)) for r in _pyproject()["project"]["dependencies"]}
    shipped = {str(r) for r in _requirements_txt()}
    assert shipped == declared, (
        f"only in requirements.txt: {shipped - declared}; only in pyproject: {declared - shipped}"
    )


def test_the_worker_library_is_pinned_and_python_is_313() -> None:
    pinned = {r.name: r for r in _requirements_txt()}
    worker = pinned["azure-functions-runtime"]
    assert len(worker.specifier) == 1 and next(iter(worker.specifier)).operator == "=="
    assert _pyproject()["project"]["requires-python"].startswith(">=3.13")


def test_funcignore_keeps_development_files_out_of_the_package() -> None:
    ignored = {line.strip() for line in (ROOT / ".funcignore").read_text().splitlines()}
    for folder in ("tests/", "node_modules/", ".venv/", "devhost/", "benchmarks/"):
        assert folder in ignored
    for needed in ("function_app.py", "functions/", "shared/", "host.json", "requirements.txt"):
        assert needed not in ignored


def test_the_core_never_imports_azure_functions() -> None:
    """``shared`` is the product: importable without the Functions SDK.

    The CLI alone may reach for the local host, lazily, to serve or demo it.
    """
    offenders = []
    for path in (ROOT / "shared").rglob("*.py"):
        if path == ROOT / "shared" / "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {n}"
                for n in names
                if n.startswith(("azure.functions", "azure.durable_functions", "devhost"))
            ]
    assert offenders == []
