"""A small tenant with a known week: two services, two filesystems, alerts, incidents, verdicts.

The report is made at Monday 2026-03-09 09:00 in Europe/Paris, so its week is
Monday 2 to Sunday 8 March and the one before is 23 February to 1 March.
What the figures should be is set here, in round numbers:

- checkout: 100 req/s last week, 130 this week (+30%); errors 0.2% both
  weeks; p99 0.2 s then 0.3 s (+50%);
- payments (and a hostile name, for escaping): 50 req/s both weeks; errors
  0.1% then 1% (10x); p99 0.1 s;
- /data on db-1 fills (about 10 h left at the report's moment); /var on
  web-1 holds at half full;
- alerts: 6 ``HighLatency`` (5 min each), 2 ``DiskFilling``, 1 hostile
  name still firing; incidents: 3 this week (1 open), 1 last week; verdicts:
  3 accepted and 1 rejected this week, 1 of 2 last week.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from shared.models.alert import AlertStatus, Severity
from shared.models.incident import Incident, IncidentAlert, IncidentStatus
from shared.models.tenant import Service, Tenant, Topology
from shared.notify.interactions import Feedback
from shared.ports.store import Container, DocumentStore

PARIS = ZoneInfo("Europe/Paris")
AT = datetime(2026, 3, 9, 9, 0, tzinfo=PARIS).astimezone(UTC)
WEEK_START = datetime(2026, 3, 2, tzinfo=PARIS).astimezone(UTC)
LAST_WEEK_START = datetime(2026, 2, 23, tzinfo=PARIS).astimezone(UTC)
HOSTILE = "<script>alert('x')</script>$x^2$"
HOSTILE_SERVICE = "pay<b>ments</b>$x_1$"
SIZE = 1e12


def _series(name: str, labels: dict[str, str], points: list[tuple[float, float]]) -> list[str]:
    rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return [f"{name}{{{rendered}}} {value:.6g} {int(t)}" for t, value in points]


def _grid(start: datetime, end: datetime, step: timedelta) -> list[float]:
    t, out = start.timestamp(), []
    while t <= end.timestamp():
        out.append(t)
        t += step.total_seconds()
    return out


def metrics_text(*, services: tuple[str, str] = ("checkout", HOSTILE_SERVICE)) -> str:
    """OpenMetrics with timestamps for the two weeks before ``AT`` (and the disks' last day)."""
    checkout, payments = services
    times = _grid(LAST_WEEK_START - timedelta(hours=1), AT, timedelta(minutes=10))
    split = WEEK_START.timestamp()

    def daily(t: float) -> float:
        return 1.0 + 0.2 * math.sin(2 * math.pi * (t % 86400) / 86400)

    lines = ["# TYPE service:request_rate:rate5m gauge"]
    for svc, before, after in ((checkout, 100.0, 130.0), (payments, 50.0, 50.0)):
        pts = [(t, (after if t >= split else before) * daily(t)) for t in times]
        lines += _series("service:request_rate:rate5m", {"service": svc}, pts)
    lines.append("# TYPE service:error_ratio:rate5m gauge")
    for svc, before, after in ((checkout, 0.002, 0.002), (payments, 0.001, 0.01)):
        pts = [(t, after if t >= split else before) for t in times]
        lines += _series("service:error_ratio:rate5m", {"service": svc}, pts)
    lines.append("# TYPE service:latency_p99_seconds:5m gauge")
    for svc, before, after in ((checkout, 0.2, 0.3), (payments, 0.1, 0.1)):
        pts = [(t, after if t >= split else before) for t in times]
        lines += _series("service:latency_p99_seconds:5m", {"service": svc}, pts)
    disks = _grid(AT - timedelta(days=8), AT, timedelta(minutes=1))
    lines.append("# TYPE node_filesystem_avail_bytes gauge")
    data = {"instance": "db-1", "mountpoint": "/data", "fstype": "ext4"}
    var = {"instance": "web-1", "mountpoint": "/var", "fstype": "ext4"}
    rate = 0.05 * SIZE / 10  # per hour: 5% of the disk left, gone in 10 h
    lines += _series(
        "node_filesystem_avail_bytes",
        data,
        [(t, 0.05 * SIZE + rate * (AT.timestamp() - t) / 3600) for t in disks[-24 * 60 :]]
        + [((AT - timedelta(days=7)).timestamp(), 0.5 * SIZE)],
    )
    lines += _series("node_filesystem_avail_bytes", var, [(t, 0.5 * SIZE) for t in disks])
    lines.append("# TYPE node_filesystem_size_bytes gauge")
    for labels in (data, var):
        lines += _series("node_filesystem_size_bytes", labels, [(t, SIZE) for t in disks[-60:]])
    lines.append("# EOF")
    # samples of a series must be in time order: the lone early /data sample goes first
    return "\n".join(_sorted_blocks(lines)) + "\n"


def _sorted_blocks(lines: list[str]) -> list[str]:
    def key(line: str) -> tuple[str, int]:
        series, _value, stamp = line.rsplit(" ", 2)
        return series, int(stamp)

    out: list[str] = []
    block: list[str] = []
    for line in lines:
        if line.startswith("#"):
            out += sorted(block, key=key)
            block = []
            out.append(line)
        else:
            block.append(line)
    return out + sorted(block, key=key)


def tenant(
    metrics_file: Path | None, *, timezone: str = "Europe/Paris", name: str = "Acme <Ops>"
) -> Tenant:
    return Tenant(
        id="acme",
        tenant_id="acme",
        name=name,
        metrics_file=str(metrics_file) if metrics_file else None,
        timezone=timezone,
        topology=Topology(
            services=(
                Service(name="checkout", tier=1, depends_on=(HOSTILE_SERVICE,)),
                Service(name=HOSTILE_SERVICE, tier=2),
            )
        ),
    )


def _incident(n: int, first: datetime, *, resolved_after: timedelta | None) -> Incident:
    resolved = first + resolved_after if resolved_after else None
    return Incident(
        id=f"INC-2603{n:02d}-AAAAA{n}",
        tenant_id="acme",
        title=f"incident {n}" if n != 3 else HOSTILE,
        status=IncidentStatus.RESOLVED if resolved else IncidentStatus.OPEN,
        services=("checkout",),
        first_seen=first,
        last_seen=first,
        created_at=first,
        updated_at=first,
        acknowledged_at=first + timedelta(minutes=4),
        resolved_at=resolved,
    )


def _alert(
    n: int, incident: str, name: str, start: datetime, minutes: float | None
) -> IncidentAlert:
    return IncidentAlert(
        id=f"member:{incident}:a{n}",
        tenant_id="acme",
        incident_id=incident,
        alert_id=f"a{n}",
        fingerprint=f"fp{n}",
        name=name,
        status=AlertStatus.RESOLVED if minutes is not None else AlertStatus.FIRING,
        severity=Severity.WARNING,
        service="checkout",
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes) if minutes is not None else None,
        source="alertmanager",
    )


def _verdict(n: int, at: datetime, verdict: str, category: str) -> Feedback:
    return Feedback(
        id=f"fb-{n}",
        tenant_id="acme",
        incident_id="INC-260301-AAAAA1",
        user_id=f"U{n}",
        user_name=f"user {n}",
        team_id="T1",
        category=category,
        target="checkout",
        verdict=verdict,  # type: ignore[arg-type]
        at=at,
    )


def fill_store(store: DocumentStore, tenant_doc: Tenant) -> None:
    store.upsert(Container.TENANTS, tenant_doc.id, tenant_doc.to_doc())
    day = timedelta(days=1)
    incidents = [
        _incident(1, WEEK_START + day, resolved_after=timedelta(minutes=30)),
        _incident(2, WEEK_START + 3 * day, resolved_after=timedelta(minutes=90)),
        _incident(3, WEEK_START + 5 * day, resolved_after=None),
        _incident(4, LAST_WEEK_START + 2 * day, resolved_after=timedelta(minutes=60)),
    ]
    for inc in incidents:
        store.create(Container.INCIDENTS, "acme", inc.to_doc())
    first = incidents[0].id
    alerts = [
        _alert(i, first, "HighLatency", WEEK_START + day + timedelta(hours=i), 5.0)
        for i in range(6)
    ]
    alerts += [
        _alert(10 + i, incidents[1].id, "DiskFilling", WEEK_START + 3 * day, 20.0) for i in range(2)
    ]
    alerts.append(_alert(20, incidents[2].id, HOSTILE, WEEK_START + 5 * day, None))
    alerts.append(_alert(30, incidents[3].id, "OldNews", LAST_WEEK_START + 2 * day, 5.0))
    for alert in alerts:
        store.create(Container.INCIDENT_ALERTS, "acme", alert.to_doc())
    verdicts = [
        _verdict(1, WEEK_START + day, "likely", "deployment"),
        _verdict(2, WEEK_START + day, "likely", "deployment"),
        _verdict(3, WEEK_START + 2 * day, "likely", HOSTILE),
        _verdict(4, WEEK_START + 2 * day, "not_it", "capacity"),
        _verdict(5, LAST_WEEK_START + day, "likely", "deployment"),
        _verdict(6, LAST_WEEK_START + day, "not_it", "deployment"),
    ]
    for v in verdicts:
        store.create(Container.FEEDBACK, "acme", v.to_doc())
