"""The kit's ``capacity@1`` series: read, checked, and answered in the SPEC's shape.

A file that cannot be used raises ``BadInput`` naming the file and the
problem (missing, bad JSON, a field that is absent or of the wrong type),
so the command line can say so in one line and exit 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import BadInput
from shared.json_input import parse_json
from shared.predict.forecast import Forecast, Status, forecast
from shared.predict.regimes import Floats

SCHEMA = "capacity@1"
MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacitySeries:
    """One filesystem's free bytes (or memory headroom) up to ``now``."""

    id: str
    metric: str
    labels: dict[str, str]
    size_bytes: float | None
    now: datetime
    times: Floats
    free: Floats

    def forecast(self) -> Forecast:
        return forecast(self.times, self.free, now=self.now, capacity=self.size_bytes)

    @property
    def where(self) -> str:
        """``/data on db-1``, as an SRE names a filesystem."""
        mount = self.labels.get("mountpoint") or self.labels.get("device") or self.metric
        host = self.labels.get("instance")
        return f"{mount} on {host}" if host else mount


def read_series(path: Path) -> CapacitySeries:
    """The series in ``path``; ``BadInput`` says what is wrong with the file."""
    data = read_json_file(path)
    try:
        return parse_series(data)
    except BadInput as exc:
        raise BadInput(f"{path}: {exc.reason}") from None


def read_json_file(path: Path) -> Any:
    """The JSON value in ``path``; ``BadInput`` (naming the file) when there is none."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{path}: file not found") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a folder, not a series file") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise BadInput(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        return parse_json(raw, what="file")
    except BadInput as exc:
        raise BadInput(f"{path}: {exc.reason}") from None


def parse_series(data: Any) -> CapacitySeries:
    """A ``capacity@1`` document as a series; ``BadInput`` names the field at fault."""
    if not isinstance(data, dict):
        raise BadInput("expected a JSON object with schema, id, now and samples")
    schema = data.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise BadInput(f"field 'schema': expected {SCHEMA!r}, got {schema!r}")
    series_id = _text(data, "id")
    labels = data.get("labels", {})
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise BadInput("field 'labels': expected an object of text values")
    size = data.get("size_bytes")
    if size is not None and (not _number(size) or size <= 0):
        raise BadInput("field 'size_bytes': expected a positive number")
    now = parse_moment(data.get("now"), "now")
    samples = data.get("samples")
    if not isinstance(samples, list) or not samples:
        raise BadInput("field 'samples': expected a non-empty list of [unix seconds, bytes]")
    for i, pair in enumerate(samples):
        if not (isinstance(pair, list) and len(pair) == 2 and all(_number(v) for v in pair)):
            raise BadInput(f"field 'samples.{i}': expected [unix seconds, bytes], got {pair!r}")
    array = np.asarray(samples, dtype=np.float64)
    return CapacitySeries(
        id=series_id,
        metric=str(data.get("metric", "node_filesystem_avail_bytes")),
        labels=dict(labels),
        size_bytes=float(size) if size is not None else None,
        now=now,
        times=array[:, 0],
        free=array[:, 1],
    )


def _text(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise BadInput(f"field '{field}': expected non-empty text")
    return value


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def parse_moment(value: Any, field: str) -> datetime:
    """An ISO-8601 time as an aware UTC datetime; ``BadInput`` names ``field``."""
    if not isinstance(value, str):
        raise BadInput(f"field '{field}': expected an ISO-8601 time such as 2026-03-04T14:00:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"field '{field}': {value!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the kit writes UTC; a bare time is read so
    return moment.astimezone(UTC)


def iso_minute(moment: datetime) -> str:
    """``2026-03-04T18:10:00Z``: the SPEC's form, to the minute."""
    rounded = datetime.fromtimestamp(round(moment.timestamp() / 60) * 60, tz=UTC)
    return rounded.strftime("%Y-%m-%dT%H:%M:%SZ")


def hours(value: float | None) -> float | None:
    """Hours as the SPEC prints them: one decimal, two below one hour."""
    if value is None:
        return None
    return round(value, 1) if value >= 1 else round(value, 2)


def spec_output(series_id: str, result: Forecast) -> dict[str, Any]:
    """Exactly the SPEC's ``forecast`` object: id, exhausted_at, hours_left, range_hours."""
    filling = result.status in (Status.FILLING, Status.FULL)
    at = result.exhausted_at if filling else None
    spread = result.range_hours if filling else None
    return {
        "id": series_id,
        "exhausted_at": iso_minute(at) if at is not None else None,
        "hours_left": hours(result.hours_left) if filling else None,
        "range_hours": [hours(spread[0]), hours(spread[1])] if spread is not None else None,
    }
