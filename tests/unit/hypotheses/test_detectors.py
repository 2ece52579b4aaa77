"""Detectors on crafted contexts, each with the distractors that fool naive rules."""

from __future__ import annotations

from pathlib import Path

from shared.hypotheses.facts import Facts
from shared.hypotheses.generate import detect_all, generate_candidates
from shared.hypotheses.registry import DETECTORS
from shared.models.analysis import ContextSnapshot
from shared.models.hypothesis import Candidate, RootCause
from shared.replay.bundle import load_bundle
from shared.replay.pipeline import analyze, context_request
from shared.scoring.engine import rank_hypotheses
from tests.unit.hypotheses.contexts import Incident, ago, chain, degraded, names, reading


def top(snapshot: ContextSnapshot) -> tuple[str, str]:
    ranked = rank_hypotheses(detect_all(snapshot), snapshot)
    assert ranked, "no hypothesis at all"
    return ranked[0].category.value, ranked[0].target


def test_every_category_has_a_detector() -> None:
    assert set(DETECTORS) == set(RootCause)


def test_release_of_a_dependency_beats_the_alerting_caller_and_an_idle_release() -> None:
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="web")
        .change("deployment", "api", 20, version="v2")
        .change("deployment", "worker", 30, version="v9")  # healthy: a distractor
        .move(degraded("api", 14), degraded("web", 12, 0.1))
    )
    found = detect_all(incident.snapshot())
    assert ("bad_deployment", "api") in names(found)
    assert ("bad_deployment", "worker") not in names(found)
    assert ("bad_deployment", "web") not in names(found)
    assert top(incident.snapshot()) == ("bad_deployment", "api")


def test_release_that_broke_only_its_callers() -> None:
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="web")
        .change("deployment", "api", 15, version="v3")
        .move(degraded("web", 10))
    )
    found = {c.key: c for c in detect_all(incident.snapshot())}
    assert ("bad_deployment", "api") in found
    assert "callers" in found[("bad_deployment", "api")].title


def test_change_after_the_trouble_began_is_not_a_cause() -> None:
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="api")
        .change("config", "api", 5)
        .move(degraded("api", 20))
    )
    assert ("config_change", "api") not in names(detect_all(incident.snapshot()))


def test_change_to_a_victim_of_a_deeper_failure_stays_behind_it() -> None:
    # web was changed, but its dependency api failed first: api is the story.
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="web")
        .change("feature_flag", "web", 25)
        .move(degraded("api", 16), degraded("web", 15))
    )
    assert top(incident.snapshot()) == ("dependency_failure", "api")


def test_feature_flag_on_a_dependency() -> None:
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="web")
        .change("feature_flag", "db", 18)
        .move(degraded("db", 15, 0.4), degraded("api", 14), degraded("web", 13))
    )
    assert top(incident.snapshot()) == ("config_change", "db")


def test_disk_exhaustion_under_a_database_not_a_standing_nearly_full_disk() -> None:
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="api")
        .move(
            reading(
                "h4",
                "disk_free",
                0.0005,
                baseline=0.35,
                onset=60,
                scope="host",
                detail="mountpoint=/data",
            ),
            reading("h3", "disk_free", 0.08, baseline=0.085, scope="host", detail="mountpoint=/"),
            degraded("db", 12, 0.6),
            degraded("api", 11),
        )
    )
    found = names(detect_all(incident.snapshot()))
    assert ("disk_exhaustion", "h4") in found
    assert ("disk_exhaustion", "h3") not in found
    assert top(incident.snapshot()) == ("disk_exhaustion", "h4")


def test_memory_leak_needs_growth_or_restarts_not_just_a_high_level() -> None:
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="api")
        .move(
            reading(
                "api", "memory", 0.8, baseline=0.55, recent_max=0.98, slope=0.12, detail="pod=api-1"
            ),
            reading("api", "restarts", 3.0, baseline=0.0, onset=10),
            degraded("api", 9),
            # worker sits high but flat, never restarted: its normal
            reading("worker", "memory", 0.9, baseline=0.9, slope=0.0),
        )
    )
    found = names(detect_all(incident.snapshot()))
    assert ("memory_leak", "api") in found
    assert ("memory_leak", "worker") not in found
    assert top(incident.snapshot()) == ("memory_leak", "api")


def test_memory_peak_of_an_earlier_fault_fallen_back_long_ago_is_no_evidence() -> None:
    # api touched 97% of its limit 100 minutes before the alert, then fell back to its
    # baseline on its own (no restart); today's errors are someone else's.
    stale = reading("api", "memory", 0.42, baseline=0.4, recent_max=0.97, slope=0.0)
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="api")
        .move(
            stale.model_copy(update={"recent_max_at": ago(100)}),
            reading("api", "restarts", 0.0, baseline=0.0),
            degraded("api", 9),
        )
    )
    assert ("memory_leak", "api") not in names(detect_all(incident.snapshot()))
    # The same reading with the peak inside the onset window still counts.
    fresh = incident.move(stale.model_copy(update={"recent_max_at": ago(10)}))
    assert ("memory_leak", "api") in names(detect_all(fresh.snapshot()))


def test_a_current_leak_is_found_however_long_ago_its_first_peak() -> None:
    # Climbing for hours and still at 93%: the peak's age does not matter.
    leak = reading("api", "memory", 0.93, baseline=0.5, recent_max=0.95, slope=0.12)
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="api")
        .move(
            leak.model_copy(update={"recent_max_at": ago(90)}),
            reading("api", "restarts", 0.0, baseline=0.0),
            degraded("api", 9),
        )
    )
    assert ("memory_leak", "api") in names(detect_all(incident.snapshot()))
    assert top(incident.snapshot()) == ("memory_leak", "api")


def test_cpu_saturation_of_a_dependency_with_normal_traffic() -> None:
    incident = (
        Incident(chain())
        .alert("HighLatency", service="web")
        .move(
            reading("db", "cpu", 1.1, baseline=0.3, onset=15),
            reading("db", "latency_p99", 1.2, onset=15),
            reading("web", "latency_p99", 0.9, onset=14),
            reading("api", "latency_p99", 0.8, onset=14),
        )
    )
    assert top(incident.snapshot()) == ("cpu_saturation", "db")


def test_surge_is_placed_where_the_load_entered() -> None:
    incident = (
        Incident(chain())
        .alert("HighLatency", service="api")
        .move(
            reading("web", "request_rate", 800.0, onset=12, prior=210.0),
            reading("api", "request_rate", 780.0, onset=12, prior=205.0),
            reading("web", "cpu", 0.95, baseline=0.3, onset=11),
            reading("api", "cpu", 1.0, baseline=0.3, onset=11),
            reading("api", "latency_p99", 0.9, onset=11),
            reading("web", "latency_p99", 0.7, onset=11),
        )
    )
    found = names(detect_all(incident.snapshot()))
    assert ("traffic_surge", "web") in found
    assert ("traffic_surge", "api") not in found  # its caller surged too
    assert top(incident.snapshot()) == ("traffic_surge", "web")


def test_daily_drift_is_not_a_surge() -> None:
    incident = (
        Incident(chain())
        .alert("HighLatency", service="web")
        # 1.6x the early-morning baseline, but no jump from the level just before
        .move(reading("web", "request_rate", 330.0, onset=90, prior=320.0))
    )
    assert ("traffic_surge", "web") not in names(detect_all(incident.snapshot()))


def test_database_saturation_not_a_busy_but_fine_database() -> None:
    services = {**chain(), "db2": ([], ["h6"])}
    incident = (
        Incident(services)
        .alert("HighLatency", service="api")
        .move(
            reading("db", "db_connections", 0.99, baseline=0.2, onset=30),
            reading("db2", "db_connections", 0.5, baseline=0.48),
            reading("db", "latency_p99", 0.8, onset=25),
            degraded("api", 14),
            degraded("worker", 13),
        )
    )
    found = names(detect_all(incident.snapshot()))
    assert ("database_saturation", "db2") not in found
    assert top(incident.snapshot()) == ("database_saturation", "db")


def test_expired_certificate_not_one_expiring_in_two_weeks() -> None:
    incident = (
        Incident(chain())
        .alert("ProbeFailed", service="web")
        .alert(
            "CertificateExpiringSoon", service="api", severity="warning", minutes=600, recent=False
        )
        .move(
            reading("web", "cert_expiry", -0.01, baseline=0.0),
            reading("api", "cert_expiry", 13.0, baseline=13.2),
            reading("web", "probe_success", 0.0, baseline=1.0, onset=9),
        )
    )
    found = names(detect_all(incident.snapshot()))
    assert ("certificate_expiry", "api") not in found
    assert top(incident.snapshot()) == ("certificate_expiry", "web")


def test_dns_failure_found_by_breadth_and_topology_not_by_name() -> None:
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="worker")
        .move(
            reading("web", "dns_lookup", 2.0, baseline=0.003, onset=15),
            reading("api", "dns_lookup", 1.5, baseline=0.003, onset=15),
            reading("resolver", "latency_p99", 0.3, baseline=0.002, onset=15),
            reading("resolver", "error_ratio", 0.5, onset=15),
            degraded("worker", 14),
            degraded("api", 14),
            degraded("db", 14, 0.05),  # also a shared leaf, also hurting: fan-in decides
        )
    )
    assert top(incident.snapshot()) == ("dns_failure", "resolver")


def test_node_failure_beats_the_services_that_ran_on_it() -> None:
    incident = (
        Incident(chain())
        .alert("TargetDown", instance="h2")
        .alert("HighErrorRate", service="web")
        .move(
            reading("h2", "up", 0.0, baseline=1.0, onset=10, scope="host"),
            degraded("api", 9, 0.5),
            degraded("web", 9),
        )
    )
    assert top(incident.snapshot()) == ("node_failure", "h2")


def test_dependency_failure_is_the_deepest_service_that_failed_first() -> None:
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="web")
        .alert("KubeJobFailed", service="worker", severity="warning", minutes=900, recent=False)
        .move(degraded("db", 15, 0.6), degraded("api", 14), degraded("web", 13))
    )
    found = names(detect_all(incident.snapshot()))
    assert ("dependency_failure", "api") not in found  # db failed before it
    assert top(incident.snapshot()) == ("dependency_failure", "db")


def test_specific_cause_explains_the_generic_one_away() -> None:
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="api")
        .move(
            reading("db", "db_connections", 0.99, baseline=0.2, onset=30),
            degraded("db", 15, 0.6),
            degraded("api", 14),
        )
    )
    found = {c.key: c for c in detect_all(incident.snapshot())}
    generic = found[("dependency_failure", "db")]
    assert any("explained by database_saturation" in e.summary for e in generic.evidence)
    assert top(incident.snapshot()) == ("database_saturation", "db")


def test_quiet_incident_proposes_nothing_rather_than_guessing() -> None:
    incident = (
        Incident(chain()).alert("HighErrorRate", service="web").change("deployment", "api", 20)
    )
    assert detect_all(incident.snapshot()) == []


def test_generate_candidates_is_json_in_json_out() -> None:
    incident = (
        Incident(chain())
        .alert("HighErrorRate", service="web")
        .change("deployment", "api", 20, version="v2")
        .move(degraded("api", 14), degraded("web", 12))
    )
    context = incident.snapshot().model_dump(mode="json", by_alias=True)
    produced = generate_candidates(context)
    assert produced and all(isinstance(c, dict) for c in produced)
    parsed = [Candidate.model_validate(c) for c in produced]
    assert [c.model_dump(mode="json") for c in parsed] == produced
    assert all(c.origin == "detector" for c in parsed)


def test_facts_symptoms_and_order() -> None:
    incident = Incident(chain()).move(degraded("db", 15), degraded("api", 10))
    facts = Facts(incident.snapshot())
    assert [s.service for s in facts.degraded()] == ["db", "api"]
    api = facts.symptom("api")
    assert api is not None
    assert facts.degraded_dependency_before("api", api.onset) is not None
    assert facts.degraded_dependency_before("api", api.onset, exclude=["db"]) is None
    assert facts.symptom("worker") is None


def test_a_change_to_an_alerting_service_nothing_measures_is_a_weak_candidate() -> None:
    """Without metrics, a release of what alerted is offered, low, and says why."""
    folder = Path(__file__).parents[3] / "samples" / "bundles" / "sample-checkout-deploy"
    bundle = load_bundle(folder)
    measured = analyze(context_request(bundle), metrics=bundle.metrics(), index=None)
    blind = analyze(context_request(bundle), metrics=None, index=None)
    (only,) = blind["hypotheses"]
    assert (only["category"], only["target"]) == ("bad_deployment", "checkout")
    assert "unconfirmed: no metrics" in only["title"]
    signal = only["factors"]["signal_strength"]
    assert signal["value"] == 0.0
    assert signal["reason"] == "no measured signal supports it (no metrics source configured)"
    assert "no metrics to tell" in only["factors"]["temporal_correlation"]["reason"]
    assert only["confidence"] < 0.5 < measured["hypotheses"][0]["confidence"]


def test_a_dependency_failure_older_than_the_onset_window_loses_its_timing() -> None:
    """db failed 50 minutes ago, long before the incident's window: its lead over
    the callers is stale evidence; the same failure 10 minutes ago is not."""

    def timing(onset: float) -> float:
        incident = (
            Incident(chain())
            .alert("HighErrorRate", service="web")
            .move(degraded("db", onset, 0.6), degraded("api", onset - 1), degraded("web", 2))
        )
        found = {c.key: c for c in detect_all(incident.snapshot())}
        cand = found[("dependency_failure", "db")]
        return max(e.strength for e in cand.evidence if e.kind.value == "temporal")

    assert timing(50) < 0.5 * timing(10)


def _starts_a_workflow() -> dict[str, tuple[list[str], list[str]]]:
    """web -> api, and api starts the workflow wf (waited for or not, per test)."""
    return {"web": (["api"], ["h1"]), "api": (["wf"], ["h2"]), "wf": ([], ["h3"])}


def test_trouble_of_a_workflow_not_waited_for_is_not_inherited() -> None:
    """wf failed first, then api, then web. Were api waiting on wf, wf would be the
    failed dependency; api starts it and does not wait, so api's trouble is its own."""

    def found(asynchronous: dict[str, tuple[str, ...]]) -> set[tuple[str, str]]:
        incident = Incident(_starts_a_workflow(), asynchronous=asynchronous)
        incident.alert("HighErrorRate", service="web")
        incident.move(degraded("wf", 16), degraded("api", 14), degraded("web", 12))
        return names(detect_all(incident.snapshot()))

    assert ("dependency_failure", "wf") in found({})
    waited_not = found({"api": ("wf",)})
    assert ("dependency_failure", "wf") not in waited_not
    assert ("dependency_failure", "api") in waited_not


def test_a_release_of_a_workflow_not_waited_for_does_not_break_its_starter() -> None:
    def found(asynchronous: dict[str, tuple[str, ...]]) -> set[tuple[str, str]]:
        incident = Incident(_starts_a_workflow(), asynchronous=asynchronous)
        incident.alert("HighErrorRate", service="web")
        incident.change("deployment", "wf", 15, version="v2")
        incident.move(degraded("api", 10), degraded("web", 9))
        return names(detect_all(incident.snapshot()))

    assert ("bad_deployment", "wf") in found({})
    assert ("bad_deployment", "wf") not in found({"api": ("wf",)})


def test_a_surge_upstream_of_the_alert_or_with_no_known_alert_is_still_proposed() -> None:
    """Load flows down: a surge entering web reaches db two calls below, where the alert
    is; with an alert naming nothing the topology knows, nothing limits it either."""
    surge = [reading(s, "request_rate", 600.0, onset=10) for s in ("web", "api", "db")]
    on_db = Incident(chain()).alert("HighLatency", service="db").move(*surge)
    assert ("traffic_surge", "web") in names(detect_all(on_db.snapshot()))
    unknown = Incident(chain()).alert("HighLatency", service="Checkout Service").move(*surge)
    assert ("traffic_surge", "web") in names(detect_all(unknown.snapshot()))
