"""PetShop (Amazon Science RCA dataset) read in its own layout, as RCA cases.

Layout (``dataset/<scenario>/``): ``graph.csv`` an adjacency matrix (row calls
column), ``noissue/metrics.csv`` normal operation, ``{train,test}/issue_N/``
with ``metrics.csv`` (3 header rows: microservice, metric, statistic; then
``unix_timestamp`` rows at a 5-minute step) and ``target.json`` (the alerting
node and metric, the anomaly time, and the root-cause node).

A live tenant would hold the normal-operation history before the incident, so
the last 6 hours of ``noissue`` are re-stamped to end just before the issue's
first sample and shifted to its level (``_history``; the temporal scenarios
ship without one and borrow ``low_traffic``'s). The alert fires on
``PetSite`` when the first sample at or after the labelled anomaly time
arrives (CloudWatch-style 5-minute points). Columns map onto the SPEC catalog
where they mean the same (p99 latency, request rate, error ratio from
availability); every other statistic is an "other series". An X-Ray remote
node (``*_remote``: an endpoint with no segments of its own) is measured only
by its caller's client subsegments, so its columns become that caller's
client-side series naming it (``petshop_client_*{destination_service=...}``).
The call graph is the topology as X-Ray draws it; a Step Functions workflow's
execution node is a call its starter does not wait for (``async_calls``).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from shared.bench.cases import RcaCase, SeriesData, parse_float, regular
from shared.errors import BadInput

STEP = 300.0
HISTORY_ROWS = 72
"""6 hours of 5-minute points of normal operation before the issue."""
ENTRY = "PetSite"
STATE_MACHINE = "AWS::StepFunctions::StateMachine"
"""X-Ray's type for a Step Functions workflow's own execution. Its callers start it
(their ``StartExecution`` call is a node of its own, ``StepFunctions``) and do not
wait for it: in the topology it is an ``async_calls`` dependency of theirs."""

Column = tuple[str, str, str]  # node, metric, statistic


def _read_metrics(path: Path) -> tuple[list[Column], list[float], list[list[float]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 4 or rows[0][0] != "microservice":
        raise BadInput(f"{path}: expected the 3-row PetShop header")
    columns = list(zip(rows[0][1:], rows[1][1:], rows[2][1:], strict=True))
    times: list[float] = []
    values: list[list[float]] = []
    for row in rows[3:]:
        if not row or row[0] == "unix_timestamp":
            continue
        times.append(float(row[0]))
        values.append([parse_float(v) for v in row[1:]])
    return columns, times, values


def _graph(path: Path) -> dict[str, tuple[str, ...]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0][1:]
    out: dict[str, tuple[str, ...]] = {}
    for row in rows[1:]:
        deps = [header[i] for i, v in enumerate(row[1:]) if parse_float(v) > 0 and header[i]]
        out[row[0]] = tuple(d for d in deps if d != row[0])
    return out


def _started(graph: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Per caller, the workflow executions it starts without waiting (``STATE_MACHINE``)."""
    out = {n: tuple(d for d in deps if d.endswith(STATE_MACHINE)) for n, deps in graph.items()}
    return {n: deps for n, deps in out.items() if deps}


def _mapped(column: Column, value: float) -> tuple[str, dict[str, str], float]:
    """A column's metric name, extra labels and value in base units."""
    _node, metric, stat = column
    if metric == "latency" and stat == "p99":
        return "service:latency_p99_seconds:5m", {}, value
    if metric == "requests" and stat == "Sum":
        return "service:request_rate:rate5m", {}, value / STEP
    if metric == "availability" and stat == "Average":
        return "service:error_ratio:rate5m", {}, 1.0 - value / 100.0
    unit = {"latency": "_seconds", "availability": "_ratio"}.get(metric, "")
    scale = 0.01 if metric == "availability" else 1.0
    return f"petshop_{metric}{unit}", {"statistic": stat.lower()}, value * scale


REMOTE = "_remote"
"""X-Ray's name suffix for an inferred node: an endpoint seen only from its callers."""


def _series(
    columns: list[Column],
    times: list[float],
    values: list[list[float]],
    depends_on: dict[str, tuple[str, ...]],
) -> list[SeriesData]:
    """Each column as a series; an X-Ray remote node's columns are what its caller's
    client subsegments measured of it, so they are the caller's client-side series
    naming it as the callee (``destination_service``), as a mesh would label them."""
    out: list[SeriesData] = []
    seen: set[tuple[str, str, str]] = set()
    for j, column in enumerate(columns):
        if column in seen or not column[0]:
            continue
        seen.add(column)
        name, extra, _ = _mapped(column, 0.0)
        mapped = [_mapped(column, row[j])[2] for row in values]
        labels = {"service": column[0], **extra}
        callers = sorted(c for c, deps in depends_on.items() if column[0] in deps)
        if column[0].endswith(REMOTE) and callers:
            _node, metric, stat = column
            unit = {"latency": "_seconds", "availability": "_ratio"}.get(metric, "")
            name = f"petshop_client_{metric}{unit}"
            extra = {"statistic": stat.lower()}
            labels = {"service": callers[0], "destination_service": column[0], **extra}
            if metric == "availability":
                mapped = [v * 0.01 for v in (row[j] for row in values)]
            else:
                mapped = [row[j] for row in values]
        s = regular(name, labels, times, mapped)
        if s is not None:
            out.append(s)
    return out


def _history(folder: Path, columns: list[Column], issue: list[list[float]]) -> list[list[float]]:
    """The last rows of normal operation, in the issue's column order (NaN when absent),
    each column shifted so that its median meets the issue's first sample.

    The normal-operation file was recorded months apart from the issues, at other
    levels; spliced as it is, the seam itself would look like a change. Shifting
    keeps its shape (the noise the baseline needs) and removes the seam. Only the
    first issue row is used, which lies before the labelled anomaly in every case.
    A scenario without its own file borrows ``low_traffic``'s.
    """
    path = folder / "noissue" / "metrics.csv"
    if not path.is_file():
        path = folder.parent / "low_traffic" / "noissue" / "metrics.csv"
    if not path.is_file():
        return []
    cols, times, rows = _read_metrics(path)
    index = {c: i for i, c in enumerate(cols)}
    ordered = [rows[i] for i in sorted(range(len(times)), key=times.__getitem__)]
    picked = ordered[-HISTORY_ROWS:]
    nan = float("nan")
    out = [[row[index[c]] if c in index else nan for c in columns] for row in picked]
    for j in range(len(columns)):
        past = [row[j] for row in out if math.isfinite(row[j])]
        first = next((row[j] for row in issue if math.isfinite(row[j])), nan)
        if past and math.isfinite(first):
            shift = first - statistics.median(past)
            for row in out:
                row[j] += shift
    return out


def read_case(scenario: Path, issue: Path) -> RcaCase:
    target = json.loads((issue / "target.json").read_text(encoding="utf-8"))
    columns, times, values = _read_metrics(issue / "metrics.csv")
    order = sorted(range(len(times)), key=times.__getitem__)
    times = [times[i] for i in order]
    values = [values[i] for i in order]
    anomaly = float(target["target"]["timestamp"])
    alert_at = next((t for t in times if t >= anomaly), times[-1])
    history = _history(scenario, columns, values)
    graph = _graph(scenario / "graph.csv")
    stamps = [times[0] - STEP * (len(history) - i) for i in range(len(history))]
    metric = str(target["target"]["metric"])
    entry = str(target["target"].get("node") or ENTRY)
    return RcaCase(
        system=scenario.name,
        case_id=f"{scenario.name}/{issue.parent.name}/{issue.name}",
        alert_time=datetime.fromtimestamp(alert_at, tz=UTC),
        entry=entry,
        alert_name=f"{entry}{'HighLatency' if metric == 'latency' else 'LowAvailability'}",
        alert_summary=f"{entry} {metric} out of its SLO",
        depends_on=graph,
        instances={},
        series=tuple(_series(columns, stamps + times, history + values, graph)),
        truth=str(target["root_cause"]["node"]),
        fault=metric,
        async_calls=_started(graph),
    )


def find_root(folder: Path) -> Path | None:
    """The ``dataset`` folder under ``folder`` (or ``folder`` itself)."""
    for candidate in (folder, folder / "dataset", folder / "petshop" / "dataset"):
        if candidate.is_dir() and any(candidate.glob("*/graph.csv")):
            return candidate
    return None


def read_cases(folder: Path, *, limit: int | None = None) -> Iterator[RcaCase]:
    """Every issue of every scenario (train and test halves, whichever are present);
    ``limit`` issues per scenario when given."""
    root = find_root(folder)
    if root is None:
        return
    for scenario in sorted(p for p in root.iterdir() if (p / "graph.csv").is_file()):
        issues = [
            issue
            for half in ("train", "test")
            for issue in sorted(
                (p for p in (scenario / half).glob("issue_*") if (p / "target.json").is_file()),
                key=lambda p: int(p.name.rpartition("_")[2] or 0),
            )
        ]
        for issue in issues[:limit]:
            yield read_case(scenario, issue)
