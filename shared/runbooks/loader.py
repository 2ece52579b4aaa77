"""Runbooks as Markdown files with a front-matter block (see the scenario SPEC).

::

    ---
    id: rb-disk-cleanup
    title: Free disk space on a host
    categories: [disk_exhaustion]
    services: ["*"]
    actions:                      # SPEC 1.1 "Runbook actions" (optional)
      - action: scale_replicas
        target: "{target}"
        params: {delta: 2}
    ---

An action's ``target`` is a template: ``{target}`` (the matched hypothesis'
target), ``{service}``, ``{deployment}`` and ``{namespace}`` are filled in
from the incident by ``shared.autonomy.proposals``; any other ``{...}`` is
refused here, so a runbook cannot ask for something nobody fills in.
Which of these may run is the tenant's policy's decision, never the runbook's.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator

from shared.errors import BadInput
from shared.models.base import Model

PLACEHOLDERS = frozenset({"target", "service", "deployment", "namespace"})
"""What an action's target template may name; each is resolved from the incident."""
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ACTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
log = logging.getLogger(__name__)


class RunbookAction(Model):
    """One remediation action a runbook calls for (SPEC 1.1 "Runbook actions")."""

    action: str
    target: str = Field(min_length=1, max_length=300)
    params: dict[str, Any] = {}

    @field_validator("action")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ACTION_NAME.match(value):
            raise ValueError(f"{value!r} is not an action name (lower-case letters, digits, _)")
        return value

    @field_validator("target")
    @classmethod
    def _template(cls, value: str) -> str:
        unknown = sorted(set(_PLACEHOLDER.findall(value)) - PLACEHOLDERS)
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{unknown[0]}}} (known: "
                + ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS))
                + ")"
            )
        if "{" in _PLACEHOLDER.sub("", value) or "}" in _PLACEHOLDER.sub("", value):
            raise ValueError(f"unbalanced braces in {value!r}")
        return value

    @field_validator("params")
    @classmethod
    def _plain(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if not isinstance(item, str | int | float | bool) or item != item:
                raise ValueError(f"params.{key}: must be text, a number or true/false")
        return value


class Runbook(Model):
    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    categories: tuple[str, ...] = ()
    services: tuple[str, ...] = ("*",)
    actions: tuple[RunbookAction, ...] = ()
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


def actions_data(actions: Sequence[RunbookAction]) -> list[dict[str, Any]]:
    """A runbook's actions as plain JSON data (what an analysis keeps with its hit)."""
    return [a.model_dump(mode="json") for a in actions]


def actions_json(actions: Sequence[RunbookAction]) -> str:
    """A runbook's actions as the JSON text the search index stores with it."""
    return json.dumps(actions_data(actions), sort_keys=True)


def actions_from(value: object, *, origin: str) -> tuple[RunbookAction, ...]:
    """Actions read back from stored data (an index field, an analysis), validated again.

    ``value`` is the JSON text of ``actions_json`` or its parsed list. Stored
    content is data, not instructions: each item passes the front matter's
    rules (``RunbookAction``) or is dropped with a log line naming ``origin``
    and the reason, and the others are kept. None (a field an older index or
    analysis lacks) is no actions.
    """
    if value is None or value == "":
        return ()
    items: object = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except ValueError as exc:
            log.warning("%s: actions dropped: not JSON (%s)", origin, exc)
            return ()
    if not isinstance(items, list | tuple):
        log.warning("%s: actions dropped: not a list", origin)
        return ()
    kept: list[RunbookAction] = []
    for position, item in enumerate(items):
        try:
            kept.append(RunbookAction.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(item)"
            log.warning(
                "%s: action %d dropped: field %s: %s", origin, position, where, first["msg"]
            )
    return tuple(kept)
