"""The RCA core on synthetic series whose answer is known.

Each case builds the metrics a tenant would hold (1-minute samples, 6 hours,
seeded noise), an alert on the entry service, and runs the real context step
and the ranking; the assertions are about which service wins and why.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from shared.adapters.metrics.scenario_file import ScenarioFileMetrics, StoredSeries
from shared.enrichment.assemble import assemble_context
from shared.hypotheses.generate import generate_candidates
from shared.models.analysis import ContextSnapshot, SignalReading
from shared.models.hypothesis import RootCause
from shared.rca.rank import load_driven, rank_services
from shared.rca.series import ONSET_WINDOW, detect_change

NOW = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
STEPS = 361
TIMES = NOW.timestamp() - 60.0 * np.arange(STEPS)[::-1]


def _series(name: str, service: str, values: np.ndarray) -> StoredSeries:
    return StoredSeries(
        labels={"__name__": name, "service": service}, times=TIMES.copy(), values=values
    )


def _noise(seed: int, level: float, scale: float) -> np.ndarray:
    return level + scale * np.random.default_rng(seed).standard_normal(STEPS)


def _step(values: np.ndarray, minutes_before_now: int, size: float) -> np.ndarray:
    out = values.copy()
    out[STEPS - 1 - minutes_before_now :] += size
    return out


def _context(
    series: list[StoredSeries],
    depends: dict[str, list[str]],
    asynchronous: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    by_name: dict[str, list[StoredSeries]] = {}
    for s in series:
        by_name.setdefault(s.labels["__name__"], []).append(s)
    names = set(depends) | {d for ds in depends.values() for d in ds}
    request = {
        "tenant_id": "t",
        "now": NOW.isoformat(),
        "alerts": [
            {
                "id": "a1",
                "source": "alertmanager",
                "fingerprint": "f1",
                "status": "firing",
                "name": "EntrySLO",
                "summary": "entry latency",
                "service": "entry",
                "severity": "critical",
                "starts_at": (NOW - timedelta(minutes=1)).isoformat(),
            }
        ],
        "topology": {
            "services": [
                {
                    "name": n,
                    "depends_on": depends.get(n, []),
                    "async_calls": (asynchronous or {}).get(n, []),
                }
                for n in sorted(names)
            ]
        },
    }
    return assemble_context(request, metrics=ScenarioFileMetrics(by_name))


def _ranked(context: dict[str, Any]) -> list[str]:
    return [r.service for r in rank_services(ContextSnapshot.model_validate(context))]


CHAIN = {"entry": ["a"], "a": ["b"], "b": ["c"], "c": []}


def test_a_step_three_hops_down_explains_its_callers() -> None:
    """c's latency steps up; b, a and entry follow it, less sharply: c is the cause."""
    series = [
        _series("svc_latency_seconds", "c", _step(_noise(1, 0.05, 0.002), 4, 0.30)),
        _series("svc_latency_seconds", "b", _step(_noise(2, 0.10, 0.004), 4, 0.30)),
        _series("svc_latency_seconds", "a", _step(_noise(3, 0.15, 0.006), 3, 0.30)),
        _series("svc_latency_seconds", "entry", _step(_noise(4, 0.20, 0.008), 3, 0.30)),
    ]
    context = _context(series, CHAIN)
    assert _ranked(context)[0] == "c"
    top = generate_candidates(context)
    assert any(c["target"] == "c" for c in top)


def test_the_alerting_service_itself_can_be_the_cause() -> None:
    """Only the entry's own CPU and latency moved: nothing below explains it."""
    series = [
        _series("container_cpu_usage_cores", "entry", _step(_noise(5, 0.3, 0.01), 3, 0.6)),
        _series("svc_latency_seconds", "entry", _step(_noise(6, 0.2, 0.008), 3, 0.2)),
        _series("svc_latency_seconds", "a", _noise(7, 0.1, 0.004)),
        _series("svc_latency_seconds", "c", _noise(8, 0.05, 0.002)),
    ]
    context = _context(series, CHAIN)
    assert _ranked(context)[0] == "entry"
    cands = [c for c in generate_candidates(context) if c["target"] == "entry"]
    assert RootCause.CPU_SATURATION.value in {c["category"] for c in cands}


def test_an_old_spike_that_ended_does_not_win() -> None:
    """b spiked hard an hour ago and recovered; c moved a little just now: c, not b."""
    spiky = _noise(9, 0.10, 0.004)
    spiky[STEPS - 70 : STEPS - 50] += 5.0
    series = [
        _series("svc_latency_seconds", "b", spiky),
        _series("svc_latency_seconds", "c", _step(_noise(10, 0.05, 0.002), 3, 0.05)),
        _series("svc_latency_seconds", "entry", _step(_noise(11, 0.2, 0.008), 2, 0.1)),
    ]
    ranked = _ranked(_context(series, CHAIN))
    assert ranked[0] == "c"
    assert "b" not in ranked


def test_a_change_already_under_way_before_the_onset_window_is_stale() -> None:
    """A level that moved 40 minutes ago and stayed there is not this incident's."""
    values = _step(_noise(12, 1.0, 0.01), 40, 2.0)
    assert detect_change(values, TIMES, NOW.timestamp()) is None


def test_a_change_two_minutes_before_the_alert_is_seen() -> None:
    """Two raw samples after the step: no smoothing hides them."""
    values = _step(_noise(13, 1.0, 0.01), 1, 0.5)
    change = detect_change(values, TIMES, NOW.timestamp())
    assert change is not None
    assert change.size > 10
    assert TIMES[change.onset_index] == pytest.approx(NOW.timestamp() - 60.0)
    assert NOW.timestamp() - TIMES[change.onset_index] < ONSET_WINDOW.total_seconds()


def test_a_drop_is_a_change_too() -> None:
    values = _step(_noise(14, 100.0, 1.0), 3, -60.0)
    change = detect_change(values, TIMES, NOW.timestamp())
    assert change is not None and change.size < -10


def test_a_bursty_counter_does_not_turn_a_usual_burst_into_a_cause() -> None:
    """Mostly zero with regular bursts: a burst now is ordinary, not a change."""
    values = np.zeros(STEPS)
    values[::7] = 500.0
    values[-1] = 500.0
    assert detect_change(values, TIMES, NOW.timestamp()) is None


def test_load_arriving_from_a_failing_caller_does_not_make_the_callee_the_cause() -> None:
    """a's errors rise and its retries double b's request rate, while b's latency
    falls (it is asked for less work per call): b changed only as a callee does
    under a changed caller, so a, whose own errors got worse, is the cause."""
    series = [
        _series("service:error_ratio:rate5m", "a", _step(_noise(20, 0.01, 0.001), 3, 0.2)),
        _series("service:request_rate:rate5m", "b", _step(_noise(21, 50.0, 1.0), 3, 60.0)),
        _series("svc_latency_seconds", "b", _step(_noise(22, 0.1, 0.002), 3, -0.05)),
        _series("service:error_ratio:rate5m", "entry", _step(_noise(23, 0.01, 0.001), 2, 0.1)),
    ]
    ranked = _ranked(_context(series, CHAIN))
    assert ranked[0] == "a"
    assert ranked.index("b") > ranked.index("entry")


def test_a_surge_into_the_entry_service_still_counts() -> None:
    """Nothing calls the entry service: its request rate rising is its own change."""
    series = [
        _series("service:request_rate:rate5m", "entry", _step(_noise(24, 50.0, 1.0), 3, 80.0)),
        _series("svc_latency_seconds", "a", _noise(25, 0.1, 0.002)),
    ]
    assert _ranked(_context(series, CHAIN)) == ["entry"]


def test_which_changes_are_load_driven() -> None:
    """Load received and benign moves are load-driven; worse latency, errors or
    a falling success ratio are a fault's signature."""

    def reading(name: str, deviation: float) -> SignalReading:
        return SignalReading(
            signal=f"series:{name}", entity="s", scope="service", deviation=deviation
        )

    assert load_driven(reading("service:request_rate:rate5m", 9.0))
    assert load_driven(reading("pod_network_receive_bytes", -9.0))
    assert load_driven(reading("svc_latency_seconds", -9.0))
    assert not load_driven(reading("svc_latency_seconds", 9.0))
    assert not load_driven(reading("service:error_ratio:rate5m", 9.0))
    assert not load_driven(reading("pod_success_ratio", -9.0))
    assert load_driven(reading("pod_success_ratio", 9.0))


def test_slow_outbound_calls_are_not_the_callers_own_fault() -> None:
    """a's client-side latency jumps (what it calls got slow) and c's own latency
    rises a little: the slow calls point away from a, so c ranks first."""
    series = [
        _series("pod_client_latency_seconds", "a", _step(_noise(26, 0.05, 0.001), 3, 2.0)),
        _series("svc_latency_seconds", "c", _step(_noise(27, 0.05, 0.002), 3, 0.02)),
    ]
    ranked = _ranked(_context(series, CHAIN))
    assert ranked[0] == "c"


def _labelled(name: str, values: np.ndarray, **labels: str) -> StoredSeries:
    return StoredSeries(labels={"__name__": name, **labels}, times=TIMES.copy(), values=values)


FAN = {"entry": ["a", "b"], "a": [], "b": []}


def test_a_delay_on_the_network_to_a_callee_is_the_callee_s() -> None:
    """Only the entry's client-side latency to b rises (b's own server-side latency
    does not move: the delay is on the way to it): the edge names b, so b is the
    cause, not the entry and not a."""
    series = [
        _labelled(
            "pod_client_latency_seconds",
            _step(_noise(30, 0.005, 0.0002), 2, 0.5),
            service="entry",
            destination_service="b",
        ),
        _labelled(
            "pod_client_latency_seconds",
            _noise(31, 0.005, 0.0002),
            service="entry",
            destination_service="a",
        ),
        _series("svc_latency_seconds", "b", _noise(32, 0.003, 0.0001)),
        _series("svc_latency_seconds", "entry", _step(_noise(33, 0.2, 0.008), 2, 0.5)),
    ]
    ranked = _ranked(_context(series, FAN))
    assert ranked[0] == "b"
    assert "a" not in ranked


def test_a_change_cut_off_from_the_symptom_by_a_calm_service_is_discounted() -> None:
    """d's errors jump, but its only caller a is measured (a catalog signal) and did
    not move; c's smaller change reaches the entry through b, which slowed: c ranks
    above d, and no dependency failure is proposed for d."""
    depends = {"entry": ["a", "b"], "a": ["d"], "b": ["c"], "c": [], "d": []}
    series = [
        _series("service:error_ratio:rate5m", "d", _step(_noise(40, 0.001, 0.0001), 3, 0.5)),
        _series("service:latency_p99_seconds:5m", "a", _noise(41, 0.1, 0.004)),
        _series("svc_latency_seconds", "b", _step(_noise(42, 0.1, 0.004), 3, 0.05)),
        _series("svc_latency_seconds", "c", _step(_noise(43, 0.05, 0.002), 3, 0.05)),
        _series("svc_latency_seconds", "entry", _step(_noise(44, 0.2, 0.008), 3, 0.05)),
    ]
    ranked = _ranked(_context(series, depends))
    assert ranked[0] == "c"
    assert ranked.index("b") < ranked.index("d")  # d alone would lead the walk
    assert "d" in ranked  # discounted, not dropped
    dependency = list(generate_candidates(_context(series, depends)))
    assert not any(
        c["target"] == "d"
        and c["category"] == RootCause.DEPENDENCY_FAILURE.value
        and "followed" in c["title"]
        for c in dependency
    )


def test_a_dependency_slower_by_far_less_does_not_take_its_caller_s_delay() -> None:
    """a is 0.5 s slower, what it calls (b) 5 ms slower: b cannot account for a's
    wait (latency adds up along a call), so a ranks first; with b as slow as a,
    b would explain it and win."""
    chain = {"entry": ["a"], "a": ["b"], "b": []}
    base = [_series("svc_latency_seconds", "entry", _step(_noise(50, 0.2, 0.008), 3, 0.5))]
    small = [
        *base,
        _series("svc_latency_seconds", "a", _step(_noise(51, 0.1, 0.004), 3, 0.5)),
        _series("svc_latency_seconds", "b", _step(_noise(52, 0.002, 0.0001), 3, 0.005)),
    ]
    assert _ranked(_context(small, chain))[0] == "a"
    large = [
        *base,
        _series("svc_latency_seconds", "a", _step(_noise(51, 0.1, 0.004), 3, 0.5)),
        _series("svc_latency_seconds", "b", _step(_noise(52, 0.05, 0.002), 3, 0.5)),
    ]
    assert _ranked(_context(large, chain))[0] == "b"


def test_an_endpoint_seen_only_by_its_caller_yields_to_the_service_behind_it() -> None:
    """The entry's calls through lb (an address with no series of its own, only the
    entry's client-side view of it) and svc's own p99 both rise at once: likely the
    same calls seen twice, so svc, which can be looked into, ranks first; when svc
    stays calm, lb is still the answer."""
    depends = {"entry": ["lb", "svc"], "lb": [], "svc": []}

    def lb_view(size: float) -> StoredSeries:
        return _labelled(
            "pod_client_latency_seconds",
            _step(_noise(60, 0.02, 0.001), 3, size),
            service="entry",
            destination_service="lb",
        )

    entry = _series("svc_latency_seconds", "entry", _step(_noise(61, 0.2, 0.008), 3, 0.5))
    both = [
        entry,
        lb_view(0.5),
        _series("service:latency_p99_seconds:5m", "svc", _step(_noise(62, 0.02, 0.001), 3, 0.5)),
    ]
    assert _ranked(_context(both, depends))[0] == "svc"
    only_lb = [
        entry,
        lb_view(0.5),
        _series("service:latency_p99_seconds:5m", "svc", _noise(62, 0.02, 0.001)),
    ]
    assert _ranked(_context(only_lb, depends))[0] == "lb"


def test_a_call_not_waited_for_carries_no_fault_back() -> None:
    """The entry starts a workflow w without waiting for it; w's step s fails hard and
    w runs long, while a, which the entry waits for, slowed a little with the entry.
    Taken for a waited call, s explains the entry; marked ``async_calls``, a does, s
    stays a candidate (a second problem), and no dependency failure of s is proposed
    as the alert's cause."""
    depends = {"entry": ["a", "w"], "a": [], "w": ["s"], "s": []}
    series = [
        _series("service:error_ratio:rate5m", "s", _step(_noise(60, 0.001, 0.0001), 4, 0.5)),
        _series("service:latency_p99_seconds:5m", "w", _step(_noise(61, 2.0, 0.08), 4, 1.5)),
        _series("svc_latency_seconds", "a", _step(_noise(62, 0.1, 0.004), 3, 0.05)),
        _series("svc_latency_seconds", "entry", _step(_noise(63, 0.2, 0.008), 3, 0.05)),
    ]
    assert _ranked(_context(series, depends))[0] == "s"
    context = _context(series, depends, asynchronous={"entry": ["w"]})
    ranked = _ranked(context)
    assert ranked[0] == "a"
    assert "s" in ranked
    assert not any(
        c["target"] == "s"
        and c["category"] == RootCause.DEPENDENCY_FAILURE.value
        and "followed" in c["title"]
        for c in generate_candidates(context)
    )


def test_a_caller_failing_fast_is_not_explained_by_a_slower_dependency() -> None:
    """a's errors jump while its (measured) latency stays put; db, which a calls, got
    slower at the same time but does not fail. Had a timed out on db it would have
    waited too: a, not db, is the cause. Were db failing as well, or restarting (a
    crash makes callers fail fast too), or a's latency not measured at all, db would
    be."""
    depends = {"entry": ["a"], "a": ["db"], "db": []}
    errors, p99 = "service:error_ratio:rate5m", "service:latency_p99_seconds:5m"
    base = [
        _series(errors, "entry", _step(_noise(70, 0.001, 0.0001), 3, 0.05)),
        _series(errors, "a", _step(_noise(71, 0.001, 0.0001), 4, 0.05)),
        _series("svc_latency_seconds", "entry", _noise(73, 0.2, 0.008)),
        _series(p99, "db", _step(_noise(74, 0.01, 0.0004), 4, 0.03)),
    ]
    a_latency = _series(p99, "a", _noise(72, 0.1, 0.004))
    assert _ranked(_context([*base, a_latency], depends))[0] == "a"
    db_errors = _series(errors, "db", _step(_noise(75, 0.001, 0.0001), 4, 0.05))
    assert _ranked(_context([*base, a_latency, db_errors], depends))[0] == "db"
    restarts = _series(
        "kube_pod_container_status_restarts_total", "db", _step(np.zeros(STEPS), 4, 3.0)
    )
    assert _ranked(_context([*base, a_latency, restarts], depends))[0] == "db"
    assert _ranked(_context(base, depends))[0] == "db"


def test_a_surge_behind_a_call_not_waited_for_is_not_the_alert_s_cause() -> None:
    """Runs of the workflow w flood its step s (3x its requests, slower); the entry
    degraded at the same time. Were the entry waiting on w, the surge would be
    proposed as its cause; as w is started and not waited for, it is not (s stays
    a ranked, discounted candidate of the RCA core)."""
    depends = {"entry": ["w"], "w": ["s"], "s": []}
    series = [
        _series("service:request_rate:rate5m", "s", _step(_noise(80, 10.0, 0.3), 4, 20.0)),
        _series("service:latency_p99_seconds:5m", "s", _step(_noise(81, 0.2, 0.008), 4, 0.3)),
        _series("service:latency_p99_seconds:5m", "w", _step(_noise(82, 1.0, 0.04), 4, 0.5)),
        _series("service:error_ratio:rate5m", "entry", _step(_noise(83, 0.001, 0.0001), 3, 0.05)),
    ]

    def surges(asynchronous: dict[str, list[str]] | None) -> list[str]:
        return [
            c["target"]
            for c in generate_candidates(_context(series, depends, asynchronous))
            if c["category"] == RootCause.TRAFFIC_SURGE.value
            and c["title"].startswith("Traffic to")
        ]

    assert surges(None) == ["s"]
    assert surges({"entry": ["w"]}) == []
