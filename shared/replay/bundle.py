"""Loading and validating a scenario bundle (format: the scenario SPEC, version 1).

Everything wrong with a bundle is a ``BadInput`` that names the file and the
field (``scenario.json: field webhooks.1.body.alerts.0.startsAt: ...``), so
a broken bundle is fixed in one look rather than debugged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, Field, ValidationError

from shared.adapters.metrics.scenario_file import ScenarioFileMetrics
from shared.errors import BadInput
from shared.ingestion.normalisers import normalise
from shared.models.alert import Alert
from shared.models.analysis import PastIncident
from shared.models.base import Model
from shared.models.change import ChangeKind
from shared.models.hypothesis import RootCause
from shared.models.tenant import Topology

SCENARIO = "scenario.json"
METRICS = "metrics.om"
HISTORY = "history.json"
EXPECTED = "expected.json"


class Webhook(Model):
    source: Literal["alertmanager", "pagerduty"]
    received_at: AwareDatetime
    body: dict[str, Any]


class ScenarioChange(Model):
    kind: ChangeKind
    service: str = Field(min_length=1)
    at: AwareDatetime
    version: str | None = None
    previous_version: str | None = None
    description: str = ""
    author: str | None = None
    id: str | None = None


class Scenario(Model):
    schema_: Literal["scenario@1"] = Field(alias="schema")
    id: str = Field(min_length=1)
    tenant: str = Field(min_length=1)
    alert_time: AwareDatetime
    webhooks: tuple[Webhook, ...] = Field(min_length=1)
    changes: tuple[ScenarioChange, ...] = ()
    topology: Topology = Topology()


class Expected(Model):
    category: RootCause
    target: str = Field(min_length=1)
    runbook: str | None = None


@dataclass(frozen=True, slots=True)
class Bundle:
    path: Path
    scenario: Scenario
    alerts: tuple[Alert, ...]
    history: tuple[PastIncident, ...]
    expected: Expected | None

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    def metrics(self) -> ScenarioFileMetrics:
        """Parse ``metrics.om`` (BadInput names the file and line)."""
        return ScenarioFileMetrics.from_path(self.metrics_path)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise BadInput(f"{path.name}: missing from bundle {path.parent}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{path.name}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path.name}: cannot read ({exc})") from exc


def _field_error(file: str, exc: ValidationError, prefix: str = "") -> BadInput:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in (*([prefix] if prefix else []), *first["loc"]))
    return BadInput(f"{file}: field {where or '(root)'}: {first['msg']}")


def _alerts(scenario: Scenario) -> tuple[Alert, ...]:
    seen: dict[str, Alert] = {}
    for i, hook in enumerate(scenario.webhooks):
        try:
            result = normalise(hook.source, hook.body, tenant_id=scenario.tenant)
        except BadInput as exc:
            raise BadInput(f"{SCENARIO}: field webhooks.{i}.body: {exc.reason}") from exc
        for alert in result.alerts:
            seen[alert.id] = alert  # a later delivery of the same alert carries its latest state
    return tuple(seen.values())


def load_bundle(path: Path) -> Bundle:
    """Read and validate a bundle folder; raises BadInput naming the file and field."""
    path = Path(path)
    if not path.is_dir():
        raise BadInput(f"{path}: not a bundle folder")
    try:
        scenario = Scenario.model_validate(_read_json(path / SCENARIO))
    except ValidationError as exc:
        raise _field_error(SCENARIO, exc) from exc
    if not (path / METRICS).is_file():
        raise BadInput(f"{METRICS}: missing from bundle {path}")
    raw_history = _read_json(path / HISTORY)
    if not isinstance(raw_history, list):
        raise BadInput(f"{HISTORY}: field (root): must be a list of past incidents")
    history = []
    for i, item in enumerate(raw_history):
        try:
            history.append(PastIncident.model_validate(item))
        except ValidationError as exc:
            raise _field_error(HISTORY, exc, prefix=str(i)) from exc
    expected = None
    if (path / EXPECTED).is_file():
        try:
            expected = Expected.model_validate(_read_json(path / EXPECTED))
        except ValidationError as exc:
            raise _field_error(EXPECTED, exc) from exc
    return Bundle(
        path=path,
        scenario=scenario,
        alerts=_alerts(scenario),
        history=tuple(history),
        expected=expected,
    )


def find_runbooks_dir(bundle_path: Path) -> Path | None:
    """The ``runbooks/`` folder of the nearest folder above the bundle that has one."""
    for folder in Path(bundle_path).resolve().parents:
        candidate = folder / "runbooks"
        if candidate.is_dir():
            return candidate
    return None
