"""Runbooks as Markdown files with a front-matter block (see the scenario SPEC).

::

    ---
    id: rb-disk-cleanup
    title: Free disk space on a host
    categories: [disk_exhaustion]
    services: ["*"]
    ---
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from shared.errors import BadInput
from shared.models.base import Model


class Runbook(Model):
    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    categories: tuple[str, ...] = ()
    services: tuple[str, ...] = ("*",)
    body: str = ""

    def applies_to(self, service: str) -> bool:
        return "*" in self.services or service in self.services


def parse_runbook(text: str, *, origin: str) -> Runbook:
    """One runbook from its Markdown text; BadInput names the file and the field."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise BadInput(f"{origin}: front matter: must start with a '---' line")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise BadInput(f"{origin}: front matter: no closing '---' line") from None
    try:
        meta: Any = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise BadInput(f"{origin}: front matter: not valid YAML ({exc})") from exc
    if not isinstance(meta, dict):
        raise BadInput(f"{origin}: front matter: must be a mapping")
    try:
        return Runbook.model_validate({**meta, "body": "\n".join(lines[end + 1 :]).strip()})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise BadInput(f"{origin}: field {where}: {first['msg']}") from exc


def load_runbooks(folder: Path) -> list[Runbook]:
    """Every ``*.md`` runbook of a folder, by id; duplicate ids are an error."""
    if not folder.is_dir():
        raise BadInput(f"{folder}: not a runbook folder")
    found: dict[str, Runbook] = {}
    for path in sorted(folder.glob("*.md")):
        runbook = parse_runbook(path.read_text(encoding="utf-8"), origin=path.name)
        if runbook.id in found:
            raise BadInput(f"{path.name}: field id: duplicate runbook id {runbook.id!r}")
        found[runbook.id] = runbook
    return [found[k] for k in sorted(found)]
