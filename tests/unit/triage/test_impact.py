"""Impact triage: who is hurt, how badly, which way it goes; deterministic order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.models.analysis import ContextSnapshot
from shared.triage.impact import assess, order_key

NOW = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)


def alert(service: str, *, severity: str = "critical", minutes_ago: float = 3) -> dict[str, Any]:
    return {
        "fingerprint": f"fp-{service}-{minutes_ago}",
        "name": "HighErrorRate",
        "status": "firing",
        "severity": severity,
        "service": service,
        "starts_at": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
    }


def reading(signal: str, service: str, current: float, **kw: Any) -> dict[str, Any]:
    base = kw.pop("baseline", current / 10 if current else 0.0)
    return {
        "signal": signal,
        "entity": service,
        "scope": "service",
        "baseline": base,
        "current": current,
        "deviation": kw.pop("deviation", 10.0),
        **kw,
    }


def snapshot(
    *,
    alerts: list[dict[str, Any]],
    signals: list[dict[str, Any]] = (),  # type: ignore[assignment]
    services: dict[str, dict[str, Any]] | None = None,
    hosts: dict[str, list[str]] | None = None,
) -> ContextSnapshot:
    nodes = {name: {"name": name, **spec} for name, spec in (services or {}).items()}
    return ContextSnapshot.model_validate(
        {
            "tenant_id": "acme",
            "incident_id": "inc-1",
            "now": NOW.isoformat(),
            "started_at": (NOW - timedelta(minutes=5)).isoformat(),
            "alerts": alerts,
            "signals": list(signals),
            "neighbourhood": {
                "services": nodes,
                "hosts": hosts or {},
                "focus_services": sorted({a["service"] for a in alerts if a.get("service")}),
                "scope_services": sorted(nodes),
            },
        }
    )


TOPOLOGY = {
    "checkout": {"tier": 1, "depends_on": ["ledger"]},
    "ledger": {"tier": 3},
}


def test_users_facing_failures_outrank_the_same_failures_far_from_users() -> None:
    front = assess(
        snapshot(
            alerts=[alert("checkout")],
            signals=[reading("error_ratio", "checkout", 0.12)],
            services=TOPOLOGY,
        )
    )
    back = assess(
        snapshot(
            alerts=[alert("ledger")],
            signals=[reading("error_ratio", "ledger", 0.12)],
            services=TOPOLOGY,
        )
    )
    assert front.score > back.score
    assert front.urgency.startswith("affects checkout (tier 1): 12% of requests failing")
    assert "ledger (tier 3)" in back.urgency


def test_more_requests_failing_is_more_impact() -> None:
    def at(share: float) -> float:
        return assess(
            snapshot(
                alerts=[alert("checkout")],
                signals=[reading("error_ratio", "checkout", share)],
                services=TOPOLOGY,
            )
        ).score

    assert at(0.01) < at(0.05) < at(0.12)


def test_the_alerts_own_severity_counts_only_when_nothing_is_measured() -> None:
    measured_low = assess(
        snapshot(
            alerts=[alert("checkout", severity="critical")],
            signals=[reading("error_ratio", "checkout", 0.0, baseline=0.0, deviation=0.0)],
            services=TOPOLOGY,
        )
    )
    unmeasured = assess(
        snapshot(alerts=[alert("checkout", severity="critical")], services=TOPOLOGY)
    )
    warning = assess(snapshot(alerts=[alert("checkout", severity="warning")], services=TOPOLOGY))
    assert unmeasured.score > warning.score
    assert any("severity stands in" in r for r in unmeasured.reasons)
    # Measured and healthy: a "critical" label does not make it hurt.
    assert measured_low.score < unmeasured.score
    assert not any("severity" in r for r in measured_low.reasons)


def test_an_slo_turns_the_error_share_into_a_burn_rate() -> None:
    with_slo = {**TOPOLOGY, "checkout": {"tier": 1, "slo": {"availability": 0.999}}}
    burning = assess(
        snapshot(
            alerts=[alert("checkout")],
            signals=[reading("error_ratio", "checkout", 0.01)],
            services=with_slo,
        )
    )
    plain = assess(
        snapshot(
            alerts=[alert("checkout")],
            signals=[reading("error_ratio", "checkout", 0.01)],
            services=TOPOLOGY,
        )
    )
    assert "error budget burning 10x (SLO 99.9%)" in burning.urgency
    assert "error budget" not in plain.urgency
    assert burning.score > plain.score


def test_latency_against_its_usual_level_is_harm() -> None:
    slow = assess(
        snapshot(
            alerts=[alert("checkout")],
            signals=[reading("latency_p99", "checkout", 2.0, baseline=0.4, prior=0.4)],
            services=TOPOLOGY,
        )
    )
    assert "p99 2 s (5x usual)" in slow.urgency
    assert slow.score > assess(snapshot(alerts=[], services=TOPOLOGY)).score


def test_degraded_services_in_scope_count_towards_the_spread() -> None:
    wide = {f"svc{i}": {"tier": 2} for i in range(8)}
    narrow = assess(
        snapshot(
            alerts=[alert("svc0")],
            signals=[reading("error_ratio", "svc0", 0.05)],
            services=wide,
        )
    )
    broad = assess(
        snapshot(
            alerts=[alert("svc0")],
            signals=[reading("error_ratio", f"svc{i}", 0.05) for i in range(8)],
            services=wide,
        )
    )
    assert broad.services == tuple(f"svc{i}" for i in range(8))
    assert narrow.services == ("svc0",)
    assert broad.score > narrow.score
    assert "8 services" in broad.urgency


def test_trend_growing_when_new_alerts_join_and_easing_when_errors_fall_back() -> None:
    growing = assess(
        snapshot(
            alerts=[alert("checkout", minutes_ago=30), alert("ledger", minutes_ago=2)],
            services=TOPOLOGY,
        )
    )
    easing = assess(
        snapshot(
            alerts=[alert("checkout")],
            signals=[reading("error_ratio", "checkout", 0.02, recent_max=0.2)],
            services=TOPOLOGY,
        )
    )
    rising = assess(
        snapshot(
            alerts=[alert("checkout")],
            signals=[reading("error_ratio", "checkout", 0.2, recent_max=0.2, slope_per_hour=0.5)],
            services=TOPOLOGY,
        )
    )
    assert growing.trend == "growing"
    assert easing.trend == "easing"
    assert rising.trend == "growing"
    assert rising.score > easing.score
    assert rising.urgency.endswith("growing")


def test_same_evidence_same_impact_and_a_total_order() -> None:
    snap = snapshot(
        alerts=[alert("checkout")],
        signals=[reading("error_ratio", "checkout", 0.12)],
        services=TOPOLOGY,
    )
    assert assess(snap) == assess(snap)
    keys = [
        order_key(None, "2026-03-04T13:00:00Z", "inc-c"),
        order_key(40.0, "2026-03-04T13:30:00Z", "inc-b"),
        order_key(40.0, "2026-03-04T13:30:00Z", "inc-a"),
        order_key(75.5, "2026-03-04T13:50:00Z", "inc-d"),
    ]
    assert [k[2] for k in sorted(keys)] == ["inc-d", "inc-a", "inc-b", "inc-c"]


def test_levels_follow_the_score() -> None:
    severe = assess(
        snapshot(
            alerts=[alert("checkout")],
            signals=[reading("error_ratio", "checkout", 0.5)],
            services=TOPOLOGY,
        )
    )
    minor = assess(snapshot(alerts=[alert("ledger", severity="info")], services=TOPOLOGY))
    assert (severe.level, minor.level) == ("critical", "low")
    assert severe.score >= 60.0 > 20.0 > minor.score
