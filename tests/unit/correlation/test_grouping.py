"""The correlation decision: host, dependency path, time, tenants, reasons, order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from shared.correlation.grouping import Grouper, Relation
from shared.models.alert import Alert, AlertSource, AlertStatus
from shared.models.tenant import Service, Topology

T0 = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)

TOPOLOGY = Topology(
    services=(
        Service(name="web", depends_on=("checkout", "dns"), instances=("node-1",)),
        Service(name="checkout", depends_on=("orders-db", "dns"), instances=("node-2",)),
        Service(name="orders-db", depends_on=("dns",), instances=("node-3",)),
        Service(name="search", depends_on=("dns",), instances=("node-1",)),
        Service(name="mail", depends_on=("dns",), instances=("node-4",)),
        Service(name="auth", depends_on=("dns",), instances=("node-4",)),
        Service(name="dns", instances=("node-5",)),
    )
)


def alert(
    fp: str,
    name: str,
    at: float,
    *,
    service: str | None = None,
    host: str | None = None,
    tenant: str = "acme",
) -> Alert:
    starts = T0 + timedelta(seconds=at)
    labels = {"alertname": name, **({"service": service} if service else {})}
    return Alert(
        id=f"{fp}@{int(starts.timestamp())}",
        tenant_id=tenant,
        source=AlertSource.ALERTMANAGER,
        fingerprint=fp,
        status=AlertStatus.FIRING,
        name=name,
        labels=labels,
        service=service,
        instance=host,
        starts_at=starts,
    )


def grouped(alerts: list[Alert], tenant: str = "acme") -> list[set[str]]:
    grouper = Grouper({"acme": TOPOLOGY, "globex": TOPOLOGY})
    for a in alerts:
        grouper.assign(a)
    return [set(g.alerts) for g in grouper.groups(tenant)]


def test_a_dead_host_gathers_its_own_alerts_and_its_services_symptoms() -> None:
    groups = grouped(
        [
            alert("n1", "KubeNodeNotReady", 0, host="node-1"),
            alert("n2", "TargetDown", 20, host="node-1"),
            alert("p1", "KubePodNotReady", 40, service="web"),
            alert("p2", "HighLatency", 60, service="search"),
            alert("other", "TargetDown", 30, host="node-4"),
        ]
    )
    assert {"n1", "n2", "p1", "p2"} in groups
    assert {"other"} in groups


def test_a_host_that_is_not_down_does_not_gather_its_services() -> None:
    groups = grouped(
        [
            alert("nic", "NodeNetworkReceiveErrs", 0, host="node-1"),
            alert("web", "HighErrorRate", 30, service="web"),
        ]
    )
    assert groups == [{"nic"}, {"web"}]


def test_a_failing_dependency_gathers_its_callers_along_the_path() -> None:
    groups = grouped(
        [
            alert("db", "HighErrorRate", 0, service="orders-db"),
            alert("co", "HighErrorRate", 70, service="checkout"),
            alert("web", "HighErrorRate", 150, service="web"),
            alert("web-pod", "KubePodNotReady", 200, service="web"),
        ]
    )
    assert groups == [{"db", "co", "web", "web-pod"}]


def test_a_workflow_started_without_waiting_does_not_gather_its_starter() -> None:
    """checkout starts the workflow "fulfil" and does not wait for it: fulfil failing
    cannot show in checkout's requests, so checkout's alert opens its own group."""

    def groups(asynchronous: tuple[str, ...]) -> list[set[str]]:
        topology = Topology(
            services=(
                Service(name="checkout", depends_on=("fulfil",), async_calls=asynchronous),
                Service(name="fulfil"),
            )
        )
        grouper = Grouper({"acme": topology})
        grouper.assign(alert("wf", "HighErrorRate", 0, service="fulfil"))
        grouper.assign(alert("co", "HighErrorRate", 70, service="checkout"))
        return [set(g.alerts) for g in grouper.groups("acme")]

    assert groups(()) == [{"wf", "co"}]
    assert groups(("fulfil",)) == [{"wf"}, {"co"}]


def test_a_path_not_yet_lit_does_not_join() -> None:
    # web calls checkout, which calls orders-db: web is two hops away and nothing
    # between has failed, so web's alert has no path to the database's group.
    groups = grouped(
        [
            alert("db", "HighErrorRate", 0, service="orders-db"),
            alert("web", "HighErrorRate", 30, service="web"),
        ]
    )
    assert groups == [{"db"}, {"web"}]


def test_an_alert_from_eight_hours_earlier_does_not_join_a_fresh_incident() -> None:
    cert = alert("cert", "HighLatency", -8 * 3600, service="orders-db")
    fresh = [
        alert("co", "HighErrorRate", 0, service="checkout"),
        alert("web", "HighErrorRate", 60, service="web"),
    ]
    # Delivered first (it keeps being re-sent) or last: either way it stays apart.
    assert grouped([cert, *fresh]) == [{"cert"}, {"co", "web"}]
    assert grouped([*fresh, cert]) == [{"co", "web"}, {"cert"}]


def test_chronic_alerts_neither_join_nor_gather() -> None:
    groups = grouped(
        [
            alert("db", "HighErrorRate", 0, service="orders-db"),
            alert("cert", "CertificateExpiringSoon", 20, service="checkout"),
            alert("hpa", "KubeHpaMaxedOut", 30, service="orders-db"),
        ]
    )
    assert groups == [{"db"}, {"cert"}, {"hpa"}]


def test_never_across_tenants() -> None:
    grouper = Grouper({"acme": TOPOLOGY, "globex": TOPOLOGY})
    grouper.assign(alert("db", "HighErrorRate", 0, service="orders-db"))
    join = grouper.assign(alert("co", "HighErrorRate", 60, service="checkout", tenant="globex"))
    assert join.relation is Relation.OPENED
    assert [g.alerts for g in grouper.groups("acme")] == [("db",)]
    assert [g.alerts for g in grouper.groups("globex")] == [("co",)]


def test_every_join_records_why() -> None:
    grouper = Grouper({"acme": TOPOLOGY})
    grouper.assign(alert("db", "HighErrorRate", 0, service="orders-db"))
    join = grouper.assign(alert("co", "HighErrorRate", 70, service="checkout"))
    assert join.relation is Relation.CALLS
    assert (join.related, join.via, join.seconds) == ("db", "orders-db", 70.0)
    assert "calls orders-db" in join.reason
    (group,) = grouper.groups("acme")
    assert [j.relation for j in group.joins] == [Relation.OPENED, Relation.CALLS]
    again = grouper.assign(alert("co", "HighErrorRate", 70, service="checkout"))
    assert again.relation is Relation.SAME_ALERT and again.group_id == group.id


def test_a_shared_dependency_is_its_own_cause_and_reaches_its_callers_at_once() -> None:
    groups = grouped(
        [
            alert("node", "KubeNodeNotReady", 0, host="node-5"),
            alert("dns", "CoreDNSErrorsHigh", 60, service="dns"),
            alert("mail", "HighErrorRate", 70, service="mail"),
            alert("auth", "HighErrorRate", 80, service="auth"),
            alert("late", "HighErrorRate", 600, service="search"),
        ]
    )
    assert {"node"} in groups
    assert {"dns", "mail", "auth"} in groups
    assert {"late"} in groups


def test_a_cause_arriving_after_its_first_effects_merges_them() -> None:
    grouper = Grouper({"acme": TOPOLOGY})
    grouper.assign(alert("web", "HighErrorRate", 0, service="web"))
    grouper.assign(alert("mail", "HighErrorRate", 2, service="mail"))
    join = grouper.assign(alert("dns", "CoreDNSErrorsHigh", 5, service="dns"))
    # DNS is shared (everything calls it): a cause of its own, gathering both groups.
    assert join.relation is Relation.OPENED and len(join.merged) == 2
    assert [set(g.alerts) for g in grouper.groups("acme")] == [{"web", "mail", "dns"}]


def test_a_late_cause_gathers_the_group_its_first_effect_opened() -> None:
    grouper = Grouper({"acme": TOPOLOGY})
    grouper.assign(alert("co", "HighErrorRate", 50, service="checkout"))
    grouper.assign(alert("web", "HighErrorRate", 80, service="web"))
    # orders-db began first, its alert came in last (Alertmanager's group_interval).
    join = grouper.assign(alert("db", "HighErrorRate", -100, service="orders-db"))
    assert join.relation is Relation.OPENED and len(join.merged) == 1
    assert [set(g.alerts) for g in grouper.groups("acme")] == [{"co", "web", "db"}]


def test_the_same_alerts_twice_give_the_same_groups() -> None:
    alerts = [
        alert("n1", "KubeNodeNotReady", 0, host="node-1"),
        alert("db", "HighErrorRate", 5, service="orders-db"),
        alert("p1", "KubePodNotReady", 40, service="web"),
        alert("co", "HighErrorRate", 70, service="checkout"),
    ]
    first = Grouper({"acme": TOPOLOGY})
    second = Grouper({"acme": TOPOLOGY})
    for a in alerts:
        first.assign(a)
        second.assign(a)
    assert first.groups("acme") == second.groups("acme")


def test_a_dead_host_takes_one_replica_a_failing_dependency_the_rest() -> None:
    # web runs on node-1 and calls checkout: both fail at once, two incidents.
    groups = grouped(
        [
            alert("node", "KubeNodeNotReady", 0, host="node-1"),
            alert("co", "HighErrorRate", 5, service="checkout"),
            alert("pod-1", "KubePodNotReady", 60, service="web"),  # before web's errors
            alert("web", "HighErrorRate", 90, service="web"),
            alert("pod-2", "KubePodNotReady", 120, service="web"),  # node-1's replica is taken
        ]
    )
    assert groups == [{"node", "pod-1"}, {"co", "web", "pod-2"}]


def test_a_pod_goes_to_its_dead_host_when_that_is_the_nearer_onset() -> None:
    groups = grouped(
        [
            alert("co", "HighErrorRate", 0, service="checkout"),
            alert("web", "HighErrorRate", 60, service="web"),
            alert("node", "KubeNodeNotReady", 200, host="node-1"),
            alert("pod", "KubePodNotReady", 210, service="web"),
        ]
    )
    assert groups == [{"co", "web"}, {"node", "pod"}]


def test_replicas_short_join_the_dead_host_late_and_gather_nothing() -> None:
    groups = grouped(
        [
            alert("node", "KubeNodeNotReady", 0, host="node-1"),
            alert("pod", "KubePodNotReady", 60, service="web"),
            alert("short", "KubeDeploymentReplicasMismatch", 420, service="search"),
            alert("late", "HighErrorRate", 450, service="search"),
        ]
    )
    assert groups == [{"node", "pod", "short"}, {"late"}]


def test_a_crash_loop_belongs_only_where_its_service_is_the_cause() -> None:
    groups = grouped(
        [
            alert("loop", "KubePodCrashLooping", -30, service="mail"),  # gathers nothing
            alert("dns", "CoreDNSErrorsHigh", 0, service="dns"),
            alert("mail", "HighErrorRate", 20, service="mail"),
            alert("dns-loop", "KubePodCrashLooping", 120, service="dns"),
            alert("mail-loop", "KubePodCrashLooping", 130, service="mail"),
        ]
    )
    assert groups == [{"loop"}, {"dns", "mail", "dns-loop"}, {"mail-loop"}]


def test_a_volume_filling_joins_its_host_filling_not_its_services_errors() -> None:
    groups = grouped(
        [
            alert("web", "HighErrorRate", 0, service="web"),
            alert("fs", "NodeFilesystemSpaceFillingUp", 30, host="node-1"),
            alert("pvc", "KubePersistentVolumeFillingUp", 90, service="web"),
        ]
    )
    assert groups == [{"web"}, {"fs", "pvc"}]


def test_a_fresher_cause_takes_a_service_that_had_gone_quiet() -> None:
    # checkout fails with dns; three minutes after its last alert there, orders-db
    # begins failing: checkout's next alert is orders-db's doing.
    groups = grouped(
        [
            alert("dns", "CoreDNSErrorsHigh", 0, service="dns"),
            alert("co", "HighErrorRate", 20, service="checkout"),
            alert("db", "HighErrorRate", 200, service="orders-db"),
            alert("co-lat", "HighLatency", 250, service="checkout"),
        ]
    )
    assert groups == [{"dns", "co"}, {"db", "co-lat"}]


def in_turn(alerts: list[Alert], grouper: Grouper | None = None) -> list[set[str]]:
    """Assign in the order given (arrival), not by onset."""
    grouper = grouper or Grouper({"acme": TOPOLOGY})
    for a in alerts:
        grouper.assign(a)
    return [set(g.alerts) for g in grouper.groups("acme")]


POD_BEFORE_ITS_ERRORS = [
    alert("node", "KubeNodeNotReady", 0, host="node-1"),
    alert("co", "HighErrorRate", 5, service="checkout"),
    alert("pod", "KubePodNotReady", 120, service="web"),  # came in first...
    alert("web", "HighErrorRate", 60, service="web"),  # ... though web's errors began first
]


def test_a_cause_arriving_late_takes_the_alert_it_explains_better() -> None:
    onset_order = grouped(sorted(POD_BEFORE_ITS_ERRORS, key=lambda a: a.starts_at))
    assert onset_order == [{"node"}, {"co", "web", "pod"}]
    grouper = Grouper({"acme": TOPOLOGY})
    joins = [grouper.assign(a) for a in POD_BEFORE_ITS_ERRORS]
    assert joins[2].group_id == joins[0].group_id  # the pod went to its dead host first
    assert [set(g.alerts) for g in grouper.groups("acme")] == onset_order
    (moved,) = joins[3].drew
    assert (moved.fingerprint, moved.moved_from, moved.group_id) == (
        "pod",
        joins[0].group_id,
        joins[1].group_id,
    )
    assert moved.relation is Relation.SAME_SERVICE and "moved from" in moved.reason
    (group,) = [g for g in grouper.groups("acme") if "pod" in g.alerts]
    assert [j for j in group.joins if j.fingerprint == "pod"] == [moved]


def test_a_fresher_cause_arriving_late_takes_the_continuation_it_explains() -> None:
    arrived = [
        alert("dns", "CoreDNSErrorsHigh", 0, service="dns"),
        alert("co", "HighErrorRate", 20, service="checkout"),
        alert("co-lat", "HighLatency", 250, service="checkout"),  # before orders-db's
        alert("db", "HighErrorRate", 200, service="orders-db"),
    ]
    assert in_turn(arrived) == [{"dns", "co"}, {"db", "co-lat"}]


def test_what_a_late_cause_does_not_explain_better_stays() -> None:
    # The pod began long after web's errors: the dead host is the nearer onset.
    arrived = [
        alert("node", "KubeNodeNotReady", 200, host="node-1"),
        alert("co", "HighErrorRate", 0, service="checkout"),
        alert("pod", "KubePodNotReady", 210, service="web"),
        alert("web", "HighErrorRate", 60, service="web"),
    ]
    assert in_turn(arrived) == [{"node", "pod"}, {"co", "web"}]


def test_alerts_of_a_group_people_may_have_seen_stay() -> None:
    grouper = Grouper({"acme": TOPOLOGY}, settled=lambda _tenant, _group: True)
    groups = in_turn(POD_BEFORE_ITS_ERRORS, grouper)
    assert groups == [{"node", "pod"}, {"co", "web"}]


def test_a_late_cause_moves_what_an_earlier_process_placed() -> None:
    # Live ingestion restores the groups from the store on every delivery.
    first = Grouper({"acme": TOPOLOGY})
    for a in POD_BEFORE_ITS_ERRORS[:3]:
        first.assign(a)
    second = Grouper({"acme": TOPOLOGY})
    second.restore("acme", json.loads(json.dumps(first.export("acme"))))
    join = second.assign(POD_BEFORE_ITS_ERRORS[3])
    assert [j.fingerprint for j in join.drew] == ["pod"]
    assert {j.fingerprint: j.group_id for j in join.drew} == {"pod": join.group_id}


def test_a_late_alert_of_a_service_failing_already_merges_only_what_its_failure_explains() -> None:
    # checkout failing since 0; web's errors at 300 are beyond its reach: its own
    # incident. checkout's latency (200) arriving after web's errors changes nothing:
    # checkout's failure began at 0, as onset order would have judged it.
    arrived = [
        alert("co", "HighErrorRate", 0, service="checkout"),
        alert("web", "HighErrorRate", 300, service="web"),
        alert("co-lat", "HighLatency", 200, service="checkout"),
    ]
    onset_order = grouped(sorted(arrived, key=lambda a: a.starts_at))
    assert onset_order == [{"co", "co-lat"}, {"web"}]
    assert in_turn(arrived) == onset_order


def test_the_stored_state_restores_to_itself_and_keeps_alerts_only_while_they_may_move() -> None:
    first = Grouper({"acme": TOPOLOGY})
    for a in POD_BEFORE_ITS_ERRORS[:3]:
        first.assign(a)
    state = json.loads(json.dumps(first.export("acme")))
    second = Grouper({"acme": TOPOLOGY})
    second.restore("acme", state)
    assert second.export("acme") == state
    assert any(g["placed"] for g in state["groups"])
    # Nine minutes on (beyond twice the reach), nothing that old may move any more.
    first.assign(alert("late", "HighErrorRate", 660, service="search"))
    later = first.export("acme")
    assert not any(g["placed"] for g in later["groups"] if g["last"] < 660)


def test_a_service_s_errors_arriving_after_its_pod_take_the_pod_s_group_where_they_belong() -> None:
    # mail's pod not ready came first and opened a group (too late for DNS's reach);
    # mail's errors, which began before it, belong with DNS's outage and take the
    # pod's group along, as onset order would have placed both.
    arrived = [
        alert("dns", "CoreDNSErrorsHigh", 0, service="dns"),
        alert("mail-pod", "KubePodNotReady", 170, service="mail"),
        alert("mail", "HighErrorRate", 120, service="mail"),
    ]
    onset_order = grouped(sorted(arrived, key=lambda a: a.starts_at))
    assert onset_order == [{"dns", "mail", "mail-pod"}]
    grouper = Grouper({"acme": TOPOLOGY})
    joins = [grouper.assign(a) for a in arrived]
    assert joins[1].relation is Relation.OPENED
    assert joins[2].relation is Relation.CALLS and joins[2].merged == (joins[1].group_id,)
    assert [set(g.alerts) for g in grouper.groups("acme")] == onset_order


def test_an_effect_arriving_late_gathers_its_service_s_group_that_began_after_it() -> None:
    # mail's pod not ready (too late for DNS's reach) came first and opened a group;
    # mail's errors then joined DNS's outage, and the pod's group goes with them.
    arrived = [
        alert("dns", "CoreDNSErrorsHigh", 0, service="dns"),
        alert("mail-pod", "KubePodNotReady", 200, service="mail"),
        alert("mail", "HighErrorRate", 120, service="mail"),
    ]
    onset_order = grouped(sorted(arrived, key=lambda a: a.starts_at))
    assert onset_order == [{"dns", "mail", "mail-pod"}]
    grouper = Grouper({"acme": TOPOLOGY})
    joins = [grouper.assign(a) for a in arrived]
    assert joins[2].relation is Relation.CALLS and joins[2].merged == (joins[1].group_id,)
    assert [set(g.alerts) for g in grouper.groups("acme")] == onset_order
    # A group of another service, or one begun before the alert, stays.
    assert in_turn([*arrived[:2], alert("web", "HighErrorRate", 120, service="web")]) == [
        {"dns", "web"},
        {"mail-pod"},
    ]
