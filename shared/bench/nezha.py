"""Nezha (FSE'23) Online Boutique and Train Ticket days read in their own layout.

Layout (``rca_data/<day>/``): ``<day>-fault_list.json`` (faults by hour:
``inject_time``, ``inject_pod``, ``inject_type``), and ``metric/`` with one
``<pod>_metric.csv`` per pod (1-minute rows: CPU, memory, syscalls, network,
client and server latency quantiles, workload, node usage),
``front_service.csv`` (what users of the entry service see) and, for Online
Boutique, ``dependency.csv`` (the call graph, plus each service's node IP) and
the per-call-edge median latency seen by each side of a call
(``source_50.csv``: the caller's view, ``destination_50.csv``: the callee's;
one ``<caller>_<callee>`` column each). They are read as a service mesh
exports them (Istio's reporter=source / reporter=destination): the caller's
view as ``pod_client_latency_seconds{service=<caller>,destination_service=
<callee>}``, the callee's as ``pod_server_latency_seconds{service=<callee>,
source_service=<caller>}``.

Times come from the ``Time`` strings (UTC), never from ``TimeStamp``, which is
offset by 2e8 s in some Online Boutique days. A pod's service is its name
without the ReplicaSet and pod suffixes. Each fault becomes one case: an
alert on the entry service (``frontend``, ``ts-ui-dashboard``) two minutes
after the injection (a rule with ``for: 1m`` on 1-minute samples fires about
then), history up to that moment only. Train Ticket ships no call graph in
the kit, so its entry service is taken to call every other service directly
(flat: no depth to reason over, as a tenant without tracing would know it).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.bench.cases import RcaCase, SeriesData, parse_float, regular
from shared.errors import BadInput

ALERT_DELAY = timedelta(minutes=2)
MIB = 1048576.0


def service_of(pod: str) -> str:
    """``cartservice-579f59597d-wc2lz`` -> ``cartservice``."""
    parts = pod.split("-")
    return "-".join(parts[:-2]) if len(parts) > 2 else pod


def _time(text: str) -> float:
    return datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


# column -> (metric name, extra labels, scale); None: derived elsewhere or skipped
_POD_COLUMNS: dict[str, tuple[str, dict[str, str], float]] = {
    "CpuUsage(m)": ("container_cpu_usage_cores", {}, 0.001),
    "CpuUsageRate(%)": ("service:cpu_utilization:ratio", {}, 0.01),
    "MemoryUsage(Mi)": ("container_memory_working_set_bytes", {}, MIB),
    "SyscallRead": ("pod_syscall_reads", {}, 1.0),
    "SyscallWrite": ("pod_syscall_writes", {}, 1.0),
    "NetworkReceiveBytes": ("pod_network_receive_bytes", {}, 1.0),
    "NetworkTransmitBytes": ("pod_network_transmit_bytes", {}, 1.0),
    "PodClientLatencyP90(s)": ("pod_client_latency_seconds", {"quantile": "0.9"}, 1.0),
    "PodClientLatencyP95(s)": ("pod_client_latency_seconds", {"quantile": "0.95"}, 1.0),
    "PodClientLatencyP99(s)": ("pod_client_latency_seconds", {"quantile": "0.99"}, 1.0),
    "PodServerLatencyP90(s)": ("pod_server_latency_seconds", {"quantile": "0.9"}, 1.0),
    "PodServerLatencyP95(s)": ("pod_server_latency_seconds", {"quantile": "0.95"}, 1.0),
    "PodServerLatencyP99(s)": ("service:latency_p99_seconds:5m", {}, 1.0),
    "PodWorkload(Ops)": ("service:request_rate:rate5m", {}, 1.0),
    "PodSuccessRate(%)": ("pod_success_ratio", {}, 0.01),
    "NodeCpuUsageRate(%)": ("node_cpu_utilization_ratio", {}, 0.01),
    "NodeMemoryUsageRate(%)": ("node_memory_utilization_ratio", {}, 0.01),
    "NodeNetworkReceiveBytes": ("node_network_receive_bytes", {}, 1.0),
}
_FRONT_QUANTILES = {
    "LatencyP50(s)": "0.5",
    "LatencyP90(s)": "0.9",
    "LatencyP95(s)": "0.95",
    "LatencyP99(s)": "0.99",
}


@dataclass(frozen=True, slots=True)
class Day:
    """One day's metrics, topology and faults (read once, shared by its cases)."""

    system: str
    entry: str
    series: tuple[SeriesData, ...]
    depends_on: dict[str, tuple[str, ...]]
    instances: dict[str, tuple[str, ...]]
    faults: tuple[tuple[datetime, str, str], ...]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _pod_series(path: Path, hosts: dict[str, tuple[str, ...]]) -> list[SeriesData]:
    rows = _rows(path)
    if not rows:
        return []
    pod = rows[0]["PodName"]
    service = service_of(pod)
    base = {"service": service, "pod": pod}
    host = hosts.get(service, ())
    times = [_time(r["Time"]) for r in rows]
    out: list[SeriesData] = []
    for column, (name, extra, scale) in _POD_COLUMNS.items():
        if column not in rows[0]:
            continue
        labels = {**base, **extra}
        if name.startswith("node_") and host:
            labels["instance"] = host[0]
        s = regular(name, labels, times, [parse_float(r[column]) * scale for r in rows])
        if s is not None:
            out.append(s)
    if "MemoryUsage(Mi)" in rows[0] and "MemoryUsageRate(%)" in rows[0]:
        limits = []
        for r in rows:
            used, rate = parse_float(r["MemoryUsage(Mi)"]), parse_float(r["MemoryUsageRate(%)"])
            limits.append(used * MIB / (rate / 100.0) if rate > 0 else float("nan"))
        s = regular("container_spec_memory_limit_bytes", base, times, limits)
        if s is not None:
            out.append(s)
    return out


def _front_series(path: Path, entry: str) -> list[SeriesData]:
    if not path.is_file():
        return []
    rows = _rows(path)
    times = [_time(r["Time"]) for r in rows]
    out: list[SeriesData] = []
    success = [parse_float(r.get("SuccessRate(%)", "nan")) for r in rows]
    if any(v > 0 for v in success):  # a column of zeros is not measured, not an outage
        s = regular(
            "service:error_ratio:rate5m",
            {"service": entry},
            times,
            [1.0 - v / 100.0 for v in success],
        )
        if s is not None:
            out.append(s)
    for column, quantile in _FRONT_QUANTILES.items():
        if column in rows[0]:
            s = regular(
                "frontend_latency_seconds",
                {"service": entry, "quantile": quantile},
                times,
                [parse_float(r[column]) for r in rows],
            )
            if s is not None:
                out.append(s)
    return out


_EDGE_FILES = {
    # file -> (metric name, label naming the other side, whose view it is)
    "source_50.csv": ("pod_client_latency_seconds", "destination_service", "caller"),
    "destination_50.csv": ("pod_server_latency_seconds", "source_service", "callee"),
}


def _edge(column: str, services: set[str]) -> tuple[str, str] | None:
    """``frontend_cartservice`` -> (caller, callee), both known services; None otherwise."""
    for i, ch in enumerate(column):
        if ch == "_" and column[:i] in services and column[i + 1 :] in services:
            return column[:i], column[i + 1 :]
    return None


def _edge_series(metric: Path, services: set[str]) -> list[SeriesData]:
    """Per-call-edge latency (median), each side's view, as a mesh would label it."""
    out: list[SeriesData] = []
    for file, (name, peer_label, side) in _EDGE_FILES.items():
        path = metric / file
        if not path.is_file():
            continue
        rows = _rows(path)
        if not rows:
            continue
        times = [_time(r["time"]) for r in rows]
        for column in rows[0]:
            edge = _edge(column, services)
            if edge is None:
                continue
            caller, callee = edge
            own, peer = (caller, callee) if side == "caller" else (callee, caller)
            labels = {"service": own, peer_label: peer, "quantile": "0.5"}
            s = regular(name, labels, times, [parse_float(r[column]) for r in rows])
            if s is not None:
                out.append(s)
    return out


def _graph(
    path: Path, services: set[str]
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    deps: dict[str, list[str]] = {}
    hosts: dict[str, list[str]] = {}
    if path.is_file():
        for r in _rows(path):
            src, dst = r["Source"], r["Target"]
            if dst in services or not dst[:1].isdigit():
                deps.setdefault(src, []).append(dst)
            else:
                hosts.setdefault(src, []).append(dst)
    return (
        {k: tuple(sorted(set(v))) for k, v in deps.items()},
        {k: tuple(sorted(set(v))) for k, v in hosts.items()},
    )


def read_day(folder: Path) -> Day:
    metric = folder / "metric"
    pods = sorted(metric.glob("*_metric.csv"))
    if not pods:
        raise BadInput(f"{metric}: no pod metric files")
    services = {service_of(p.name.removesuffix("_metric.csv")) for p in pods}
    train_ticket = any(s.startswith("ts-") for s in services)
    entry = "ts-ui-dashboard" if train_ticket else "frontend"
    system = "train-ticket" if train_ticket else "online-boutique"
    depends_on, hosts = _graph(metric / "dependency.csv", services)
    if not depends_on:
        depends_on = {entry: tuple(sorted(services - {entry}))}
    series: list[SeriesData] = []
    for path in pods:
        series += _pod_series(path, hosts)
    series += _front_series(metric / "front_service.csv", entry)
    series += _edge_series(metric, services)
    faults_path = next(folder.glob("*-fault_list.json"), None)
    if faults_path is None:
        raise BadInput(f"{folder}: no fault list")
    raw = json.loads(faults_path.read_text(encoding="utf-8"))
    faults = sorted(
        (
            datetime.strptime(f["inject_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC),
            service_of(f["inject_pod"]),
            str(f.get("inject_type", "")),
        )
        for hour in raw.values()
        for f in hour
    )
    return Day(
        system=system,
        entry=entry,
        series=tuple(series),
        depends_on=depends_on,
        instances=hosts,
        faults=tuple(faults),
    )


def find_days(folder: Path) -> list[Path]:
    """Day folders (``rca_data/<day>``) under ``folder``, in date order."""
    for root in (folder, folder / "rca_data", folder / "nezha" / "rca_data"):
        days = sorted(p for p in root.glob("*") if p.is_dir() and (p / "metric").is_dir())
        if days:
            return days
    return []


def read_cases(
    folder: Path, *, limit: int | None = None, alert_delay: timedelta = ALERT_DELAY
) -> Iterator[RcaCase]:
    """Every fault of every day, ``limit`` per day when given.

    ``alert_delay`` moves the alert off the usual two minutes: a ranking gain
    that holds at one delay only is not a gain (check 1, 3 and 4 minutes)."""
    for path in find_days(folder):
        day = read_day(path)
        for i, (at, service, kind) in enumerate(day.faults):
            if limit is not None and i >= limit:
                break
            yield RcaCase(
                system=day.system,
                case_id=f"{path.name}/{i:02d}",
                alert_time=at + alert_delay,
                entry=day.entry,
                alert_name=f"{day.entry}SLOBurn",
                alert_summary=f"{day.entry} latency or errors out of SLO",
                depends_on=day.depends_on,
                instances=day.instances,
                series=day.series,
                truth=service,
                fault=kind,
            )
