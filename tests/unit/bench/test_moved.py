"""Moving a labelled fault onto another service (``bench rca --move-fault``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from shared.bench.cases import RcaCase, SeriesData
from shared.bench.moved import move_fault, path_from, summarise, targets
from shared.bench.rca import run_case
from shared.cli import app

ALERT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LATENCY = "service:latency_p99_seconds:5m"
REQUESTS = "service:request_rate:rate5m"
GRAPH = {"web": ("api", "cache"), "api": ("db",)}


def _series(name: str, service: str, level: float, jump: float, seed: int) -> SeriesData:
    """Three hours of 1-minute samples with noise, ``jump`` added for the last 4 minutes."""
    rng = np.random.default_rng(seed)
    times = ALERT.timestamp() + 60.0 * np.arange(-180, 1)
    values = level * (1.0 + 0.03 * rng.standard_normal(times.size))
    values[-4:] += jump
    return SeriesData(name=name, labels={"service": service}, times=times, values=values)


def _case(*, stale_db: bool = False, jobs: bool = False) -> RcaCase:
    """``cache`` 0.9 s slower, and ``web`` (which calls it) with it; the rest calm."""
    series = [
        _series(LATENCY, "web", 0.30, 0.9, 1),
        _series(LATENCY, "cache", 0.05, 0.9, 2),
        _series(LATENCY, "api", 0.20, 0.0, 3),
        _series(REQUESTS, "api", 40.0, 0.0, 4),
        _series(LATENCY, "db", 0.02, 0.0, 5),
    ]
    if stale_db:  # db's last sample is an hour old: nothing recent to carry a fault
        db = series[-1]
        keep = db.times < ALERT.timestamp() - 3600
        series[-1] = SeriesData(db.name, db.labels, db.times[keep], db.values[keep])
    if jobs:  # a worker the web service starts without waiting for it
        series.append(_series(LATENCY, "jobs", 2.0, 0.0, 6))
    return RcaCase(
        system="synthetic",
        case_id="c1",
        alert_time=ALERT,
        entry="web",
        alert_name="webHighLatency",
        alert_summary="web latency out of its SLO",
        depends_on={**GRAPH, "web": (*GRAPH["web"], "jobs")} if jobs else GRAPH,
        async_calls={"web": ("jobs",)} if jobs else {},
        instances={},
        series=tuple(series),
        truth="cache",
        fault="latency",
    )


def _values(case: RcaCase, name: str, service: str) -> np.ndarray:
    return next(s.values for s in case.series if s.name == name and s.labels["service"] == service)


def test_path_from_is_the_shortest_call_path() -> None:
    assert path_from(GRAPH, "web", "db") == ["web", "api", "db"]
    assert path_from(GRAPH, "web", "web") == ["web"]
    assert path_from(GRAPH, "db", "web") == []


def test_the_fault_moves_onto_the_target_and_its_callers_and_off_the_truth() -> None:
    case = _case()
    moved = move_fault(case, "db")
    assert moved is not None and moved.truth == "db"
    last = slice(-4, None)
    for service in ("db", "api"):
        added = _values(moved, LATENCY, service)[last] - _values(case, LATENCY, service)[last]
        assert np.all(np.abs(added - 0.9) < 0.05), service  # the cache's 0.9 s, over its noise
    assert np.ptp(_values(moved, LATENCY, "cache")[last]) == 0.0  # held at its median
    assert _values(moved, LATENCY, "cache")[-1] < 0.1
    # load is set by callers, not moved; the symptom stays as recorded
    assert np.array_equal(_values(moved, REQUESTS, "api"), _values(case, REQUESTS, "api"))
    assert np.array_equal(_values(moved, LATENCY, "web"), _values(case, LATENCY, "web"))
    # history before the window is untouched
    assert np.array_equal(_values(moved, LATENCY, "db")[:100], _values(case, LATENCY, "db")[:100])


def test_the_ranking_follows_the_moved_fault() -> None:
    case = _case()
    assert run_case(case).rank("ranking") == 1
    moved = move_fault(case, "db")
    assert moved is not None
    assert run_case(moved).ranking[0] == "db"


def test_targets_and_refusals() -> None:
    case = _case()
    assert targets(case) == ["api", "db"]  # not the entry, not the truth
    assert move_fault(case, "cache") is None
    assert move_fault(case, "nowhere") is None
    stale = _case(stale_db=True)
    assert move_fault(stale, "db") is None
    assert "db" in targets(stale)  # it has a baseline; the move itself finds nothing recent


def test_no_fault_is_moved_behind_a_call_not_waited_for() -> None:
    case = _case(jobs=True)
    assert targets(case) == ["api", "db"]
    assert move_fault(case, "jobs") is None
    assert move_fault(case, "db") is not None


def test_summary_figures() -> None:
    out = summarise({"a": [1, 2, None, 1], "b": [4]})
    assert out["targets"]["a"] == {"cases": 4, "top1": 0.5, "top3": 0.75}
    assert out["targets"]["b"] == {"cases": 1, "top1": 0.0, "top3": 0.0}
    assert out["all"] == {"cases": 5, "top1": 0.4, "top3": 0.6}
    assert out["median_target_top1"] == 0.25


def test_cli_refuses_to_without_move_fault(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["bench", "rca", "petshop", str(tmp_path), "--to", "x"])
    assert out.exit_code != 0
    assert "--to only applies with --move-fault" in out.output
