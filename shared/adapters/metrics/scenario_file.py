"""Metrics from a scenario's ``metrics.om`` file (OpenMetrics text with timestamps).

The embedded stand-in for Prometheus: the same selectors, the same
step-and-lookback evaluation, so a replay reads exactly what the live
pipeline would read from a Prometheus backfilled with the same file. The file
is parsed once into per-series numpy arrays (a 3 MB bundle in tens of
milliseconds); queries then cost a binary search per series.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from shared.errors import BadInput
from shared.ports.metrics import LOOKBACK, QueryResult, Series

FloatArray = npt.NDArray[np.float64]

_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return re.sub(r"\\[\\\"n]", lambda m: _ESCAPES[m.group(0)], value)


@dataclass(frozen=True, slots=True)
class StoredSeries:
    """One series of the file: its labels and its samples as time-sorted arrays."""

    labels: dict[str, str]
    times: FloatArray
    values: FloatArray


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed plain PromQL selector."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        for label, op, want in self.matchers:
            have = labels.get(label, "")
            if op == "=" and have != want:
                return False
            if op == "!=" and have == want:
                return False
            if op == "=~" and re.fullmatch(want, have) is None:
                return False
            if op == "!~" and re.fullmatch(want, have) is not None:
                return False
        return True


def parse_selector(text: str) -> Selector:
    """``name{a="x",b=~"y.*"}`` -> Selector; raises ValueError on anything else."""
    text = text.strip()
    name_match = _NAME.match(text)
    name = name_match.group(0) if name_match else ""
    rest = text[len(name) :].strip()
    matchers: list[tuple[str, str, str]] = []
    if rest:
        if not (rest.startswith("{") and rest.endswith("}")):
            raise ValueError(f"not a plain selector: {text!r}")
        body = rest[1:-1]
        pos = 0
        while pos < len(body.strip()):
            found = _LABEL.match(body, pos)
            if found is None:
                raise ValueError(f"bad label matcher in {text!r} at {body[pos:]!r}")
            label, op, value = found.group(1), found.group(2), _unescape(found.group(3))
            if label == "__name__" and op == "=":
                name = name or value
            else:
                matchers.append((label, op, value))
            pos = found.end()
    if not name and not any(op in ("=", "=~") and want for _, op, want in matchers):
        # PromQL's own rule: a selector without a name needs a matcher that is non-empty.
        raise ValueError(f"selector without a metric name: {text!r}")
    return Selector(name=name, matchers=tuple(matchers))


def _parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        found = _LABEL.match(text, pos)
        if found is None or found.group(2) != "=":
            raise ValueError(f"bad labels {text!r}")
        labels[found.group(1)] = _unescape(found.group(3))
        pos = found.end()
    return labels


def parse_openmetrics(text: str, *, origin: str = "metrics.om") -> dict[str, list[StoredSeries]]:
    """Series grouped by metric name; raises BadInput naming the file and line."""
    raw: dict[str, tuple[list[float], list[float]]] = {}
    lines = text.split("\n")
    line_no = 0
    try:
        for line_no, line in enumerate(lines, start=1):  # noqa: B007 - reported on error
            if not line or line[0] == "#":
                continue
            key, value, stamp = line.rsplit(" ", 2)
            bucket = raw.get(key)
            if bucket is None:
                bucket = raw[key] = ([], [])
            bucket[0].append(float(stamp))
            bucket[1].append(float(value))
    except ValueError as exc:
        raise BadInput(
            f"{origin}: line {line_no}: expected 'series value timestamp' ({exc})"
        ) from exc
    by_name: dict[str, list[StoredSeries]] = {}
    for key, (times, values) in raw.items():
        brace = key.find("{")
        name = key if brace < 0 else key[:brace]
        try:
            labels = {} if brace < 0 else _parse_labels(key[brace + 1 : key.rindex("}")])
        except ValueError as exc:
            raise BadInput(f"{origin}: series {key!r}: {exc}") from exc
        if not _NAME.fullmatch(name):
            raise BadInput(f"{origin}: series {key!r}: bad metric name")
        labels["__name__"] = name
        t = np.asarray(times, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if t.size > 1 and np.any(np.diff(t) < 0):
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
        by_name.setdefault(name, []).append(StoredSeries(labels=labels, times=t, values=v))
    return by_name


class ScenarioFileMetrics:
    """``MetricsSource`` over one OpenMetrics file held in memory."""

    def __init__(self, series_by_name: dict[str, list[StoredSeries]]) -> None:
        self._by_name = series_by_name
        self._selectors: dict[str, Selector] = {}

    @classmethod
    def from_text(cls, text: str, *, origin: str = "metrics.om") -> ScenarioFileMetrics:
        return cls(parse_openmetrics(text, origin=origin))

    @classmethod
    def from_path(cls, path: Path) -> ScenarioFileMetrics:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"{path.name}: cannot read ({exc.strerror})") from exc
        return cls.from_text(text, origin=path.name)

    @property
    def metric_names(self) -> frozenset[str]:
        return frozenset(self._by_name)

    def time_span(self) -> tuple[float, float] | None:
        """First and last sample time over every series (None when empty)."""
        firsts = [s.times[0] for group in self._by_name.values() for s in group if s.times.size]
        lasts = [s.times[-1] for group in self._by_name.values() for s in group if s.times.size]
        if not firsts:
            return None
        return float(min(firsts)), float(max(lasts))

    def query_range(
        self, selector: str, start: datetime, end: datetime, step: timedelta
    ) -> QueryResult:
        """Prometheus range semantics: latest sample within the lookback at each step."""
        parsed = self._selectors.get(selector)
        if parsed is None:
            try:
                parsed = parse_selector(selector)
            except ValueError as exc:
                return QueryResult(error=f"bad_data: {exc}")
            self._selectors[selector] = parsed
        step_s = step.total_seconds()
        if step_s <= 0:
            return QueryResult(error="bad_data: step must be positive")
        t0, t1 = start.timestamp(), end.timestamp()
        if t1 < t0:
            return QueryResult(error="bad_data: end before start")
        grid = t0 + step_s * np.arange(int((t1 - t0) // step_s) + 1, dtype=np.float64)
        lookback = LOOKBACK.total_seconds()
        out: list[Series] = []
        if parsed.name:
            candidates: Iterable[StoredSeries] = self._by_name.get(parsed.name, ())
        else:  # ``{service=~"..."}``: every metric name
            candidates = (s for name in sorted(self._by_name) for s in self._by_name[name])
        for stored in candidates:
            if not parsed.matches(stored.labels):
                continue
            idx = np.searchsorted(stored.times, grid, side="right") - 1
            safe = np.clip(idx, 0, None)
            # [t - 5m, t], closed on the left as Prometheus 2.x evaluates it.
            fresh = (idx >= 0) & (stored.times[safe] >= grid - lookback)
            if not fresh.any():
                continue
            times = grid[fresh].tolist()
            values = stored.values[safe[fresh]].tolist()
            out.append(
                Series(labels=dict(stored.labels), samples=tuple(zip(times, values, strict=True)))
            )
        return QueryResult(series=tuple(out))
