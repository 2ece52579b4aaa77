"""Storm files (SPEC "Alert storms"): read one, group its alerts, print the groups.

A storm is replayed through the webhook's own normaliser
(``shared.ingestion.normalisers``) and each firing alert handed once to
``Grouper.assign``, earliest onset first (``in_order``): Alertmanager holds a
group back for ``group_wait`` and re-sends it every ``group_interval``, so
arrival order is onset order blurred by minutes, and a cause whose alert came
in a later delivery than its first effects would otherwise find them in
groups of their own.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.correlation.grouping import Group, Grouper, Params, firing_once
from shared.errors import BadInput
from shared.ingestion.normalisers import NORMALISERS
from shared.models.alert import Alert, AlertSource
from shared.models.tenant import Topology

SCHEMA = "storm@1"


@dataclass(frozen=True, slots=True)
class Storm:
    id: str
    tenant: str
    topology: Topology
    alerts: tuple[Alert, ...]
    """Every alert of every delivery, in arrival order (``in_order``), repeats included."""
    groupings: tuple[tuple[str, ...], ...] = ()
    """Firing fingerprints of each delivery: what Alertmanager grouped (the baseline)."""
    group_keys: tuple[str, ...] = ()
    """Each delivery's Alertmanager ``groupKey`` (its group labels), beside ``groupings``."""


@dataclass(frozen=True, slots=True)
class Correlated:
    storm: str
    alerts: int
    groups: tuple[Group, ...]

    def to_json(self, *, reasons: bool = False) -> dict[str, Any]:
        """The SPEC output; ``reasons`` adds why each alert joined its incident."""
        return {
            "storm": self.storm,
            "alerts": self.alerts,
            "incidents": [g.to_json(reasons=reasons) for g in self.groups],
        }


def in_order(alerts: Iterable[Alert]) -> list[Alert]:
    """One delivery's alerts in the order correlation takes them: earliest onset first."""
    return sorted(alerts, key=lambda a: (a.starts_at, a.fingerprint))


def _where(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]) or "(top level)"


def read_storm(path: Path) -> Storm:
    """Parse a storm file; ``BadInput`` naming the file and the field on anything wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path}: not JSON ({exc})") from None
    return parse_storm(data, name=str(path))


def parse_storm(data: Any, *, name: str) -> Storm:
    if not isinstance(data, dict):
        raise BadInput(f"{name}: field '(top level)': expected a storm object")
    if data.get("schema") != SCHEMA:
        raise BadInput(f"{name}: field 'schema': expected {SCHEMA!r}, got {data.get('schema')!r}")
    for key in ("id", "tenant"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise BadInput(f"{name}: field '{key}': expected a non-empty string")
    tenant = str(data["tenant"])
    try:
        topology = Topology.model_validate(data.get("topology") or {})
    except ValidationError as exc:
        raise BadInput(f"{name}: field 'topology.{_where(exc)}': invalid") from None
    deliveries = data.get("deliveries")
    if not isinstance(deliveries, list):
        raise BadInput(f"{name}: field 'deliveries': expected a list")
    alerts: list[Alert] = []
    groupings: list[tuple[str, ...]] = []
    group_keys: list[str] = []
    for i, delivery in enumerate(deliveries):
        where = f"deliveries[{i}]"
        if not isinstance(delivery, dict):
            raise BadInput(f"{name}: field '{where}': expected an object")
        try:
            source = AlertSource(str(delivery.get("source")))
        except ValueError:
            raise BadInput(
                f"{name}: field '{where}.source': expected one of "
                f"{', '.join(s.value for s in AlertSource)}"
            ) from None
        try:
            normalised = NORMALISERS[source](delivery.get("body"), tenant_id=tenant)
        except BadInput as exc:
            raise BadInput(f"{name}: field '{where}.body': {exc.reason}") from None
        except (OverflowError, ValueError) as exc:
            raise BadInput(f"{name}: field '{where}.body': invalid value ({exc})") from None
        ordered = in_order(normalised.alerts)
        alerts.extend(ordered)
        groupings.append(tuple(dict.fromkeys(a.fingerprint for a in ordered if a.is_firing)))
        body = delivery.get("body")
        group_key = body.get("groupKey") if isinstance(body, dict) else None
        group_keys.append(str(group_key) if group_key else f"{source.value}:{i}")
    return Storm(
        id=str(data["id"]),
        tenant=tenant,
        topology=topology,
        alerts=tuple(alerts),
        groupings=tuple(groupings),
        group_keys=tuple(group_keys),
    )


def correlate(storm: Storm, *, params: Params | None = None) -> Correlated:
    """Group the storm's firing alerts into incidents (each fingerprint once)."""
    grouper = Grouper({storm.tenant: storm.topology}, params=params, new_id=_ids(storm.id))
    firing: Sequence[Alert] = in_order(firing_once(storm.alerts))
    for alert in firing:
        grouper.assign(alert)
    return Correlated(
        storm=storm.id, alerts=len(firing), groups=tuple(grouper.groups(storm.tenant))
    )


def _ids(storm_id: str) -> Callable[[str], str]:
    """Group ids that read as the storm's own and repeat from run to run."""
    count = itertools.count(1)

    def new_id(_tenant: str) -> str:
        return f"{storm_id}-{next(count):03d}"

    return new_id
