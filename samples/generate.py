"""Generate the small sample bundles shipped with the repository.

They let `make demo` and the tests run from a clone alone (the full scenario
sets live in the kit beside the repository). Deterministic: a fixed seed.
Run: python samples/generate.py
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent / "bundles"
STEP = 60
HOURS = 6


def _series(start: datetime, fn, *, noise: float, rng: random.Random) -> list[tuple[int, float]]:
    out = []
    for i in range(HOURS * 3600 // STEP + 1):
        t = start + timedelta(seconds=i * STEP)
        value = fn(t) * (1 + rng.gauss(0, noise))
        out.append((int(t.timestamp()), max(value, 0.0)))
    return out


def _write_om(
    path: Path, metrics: dict[str, list[tuple[dict[str, str], list[tuple[int, float]]]]]
) -> None:
    lines = []
    for name, series in metrics.items():
        lines.append(f"# TYPE {name} gauge")
        for labels, samples in series:
            label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.extend(f"{name}{{{label_text}}} {v:.6g} {t}" for t, v in samples)
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _am(
    alert_time: datetime, name: str, labels: dict[str, str], summary: str, fp: str, severity: str
):
    all_labels = {"alertname": name, **labels, "severity": severity}
    alert = {
        "status": "firing",
        "labels": all_labels,
        "annotations": {"summary": summary},
        "startsAt": (alert_time - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": fp,
    }
    return {
        "source": "alertmanager",
        "received_at": alert_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "body": {
            "version": "4",
            "status": "firing",
            "receiver": "sre",
            "groupKey": f'{{}}:{{alertname="{name}"}}',
            "groupLabels": {"alertname": name},
            "commonLabels": all_labels,
            "commonAnnotations": {"summary": summary},
            "externalURL": "http://alertmanager.example",
            "truncatedAlerts": 0,
            "alerts": [alert],
        },
    }


TOPOLOGY = {
    "services": [
        {
            "name": "web",
            "team": "storefront",
            "tier": 1,
            "depends_on": ["checkout"],
            "instances": ["node-1"],
        },
        {
            "name": "checkout",
            "team": "payments",
            "tier": 1,
            "depends_on": ["payments-db"],
            "instances": ["node-1", "node-2"],
        },
        {
            "name": "payments-db",
            "team": "platform",
            "tier": 1,
            "depends_on": [],
            "instances": ["node-3"],
        },
    ]
}


def sample_deploy(rng: random.Random) -> None:
    alert_time = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)
    start = alert_time - timedelta(hours=HOURS)
    deploy_at = alert_time - timedelta(minutes=13)
    broke = deploy_at + timedelta(minutes=2)

    def ratio(base: float, high: float):
        return lambda t: high if t >= broke else base

    metrics = {
        "service:request_rate:rate5m": [
            (
                {"service": s},
                _series(
                    start, lambda t: 120 + 20 * math.sin(t.timestamp() / 3600), noise=0.03, rng=rng
                ),
            )
            for s in ("web", "checkout", "payments-db")
        ],
        "service:error_ratio:rate5m": [
            ({"service": "web"}, _series(start, ratio(0.002, 0.06), noise=0.1, rng=rng)),
            ({"service": "checkout"}, _series(start, ratio(0.003, 0.12), noise=0.1, rng=rng)),
            ({"service": "payments-db"}, _series(start, lambda t: 0.001, noise=0.1, rng=rng)),
        ],
        "service:latency_p99_seconds:5m": [
            ({"service": s}, _series(start, lambda t: 0.25, noise=0.05, rng=rng))
            for s in ("web", "checkout", "payments-db")
        ],
        "service:cpu_utilization:ratio": [
            ({"service": s}, _series(start, lambda t: 0.4, noise=0.05, rng=rng))
            for s in ("web", "checkout", "payments-db")
        ],
        "up": [
            ({"instance": h, "job": "node"}, _series(start, lambda t: 1.0, noise=0.0, rng=rng))
            for h in ("node-1", "node-2", "node-3")
        ],
    }
    scenario = {
        "schema": "scenario@1",
        "id": "sample-checkout-deploy",
        "tenant": "demo",
        "alert_time": alert_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "webhooks": [
            _am(
                alert_time,
                "HighErrorRate",
                {"service": "checkout", "team": "payments"},
                "checkout error ratio is 12%",
                "5a1e0000000000c1",
                "critical",
            ),
            _am(
                alert_time + timedelta(minutes=1),
                "HighErrorRate",
                {"service": "web", "team": "storefront"},
                "web error ratio is 6%",
                "5a1e0000000000c2",
                "warning",
            ),
        ],
        "changes": [
            {
                "kind": "deployment",
                "service": "checkout",
                "at": deploy_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "version": "v2.3.1",
                "previous_version": "v2.3.0",
                "description": "Bump payment client, new retry policy",
                "author": "dana",
            },
        ],
        "topology": TOPOLOGY,
    }
    history = [
        {
            "id": "INC-1042",
            "title": "checkout 5xx after deploy",
            "service": "checkout",
            "category": "bad_deployment",
            "target": "checkout",
            "started_at": "2026-02-11T09:12:00Z",
            "resolved_at": "2026-02-11T09:40:00Z",
            "summary": "Release v2.1.0 broke card tokenisation",
            "resolution": "rolled back",
            "runbook": "rb-rollback-deployment",
        },
    ]
    _write_bundle(
        "sample-checkout-deploy",
        scenario,
        metrics,
        history,
        {"category": "bad_deployment", "target": "checkout", "runbook": "rb-rollback-deployment"},
    )


def sample_disk(rng: random.Random) -> None:
    alert_time = datetime(2026, 3, 5, 3, 30, tzinfo=UTC)
    start = alert_time - timedelta(hours=HOURS)
    size = 500e9

    def avail(t: datetime) -> float:
        hours = (t - start).total_seconds() / 3600
        return max(size * 0.30 - hours * size * 0.049, size * 0.004)

    metrics = {
        "node_filesystem_avail_bytes": [
            (
                {"instance": "node-3", "mountpoint": "/data"},
                _series(start, avail, noise=0.002, rng=rng),
            ),
            (
                {"instance": "node-1", "mountpoint": "/"},
                _series(start, lambda t: size * 0.6, noise=0.001, rng=rng),
            ),
        ],
        "node_filesystem_size_bytes": [
            (
                {"instance": "node-3", "mountpoint": "/data"},
                _series(start, lambda t: size, noise=0.0, rng=rng),
            ),
            (
                {"instance": "node-1", "mountpoint": "/"},
                _series(start, lambda t: size, noise=0.0, rng=rng),
            ),
        ],
        "service:error_ratio:rate5m": [
            (
                {"service": "payments-db"},
                _series(
                    start,
                    lambda t: 0.2 if t > alert_time - timedelta(minutes=8) else 0.001,
                    noise=0.1,
                    rng=rng,
                ),
            ),
            ({"service": "checkout"}, _series(start, lambda t: 0.002, noise=0.1, rng=rng)),
        ],
        "up": [
            ({"instance": h, "job": "node"}, _series(start, lambda t: 1.0, noise=0.0, rng=rng))
            for h in ("node-1", "node-2", "node-3")
        ],
    }
    scenario = {
        "schema": "scenario@1",
        "id": "sample-disk-full",
        "tenant": "demo",
        "alert_time": alert_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "webhooks": [
            _am(
                alert_time,
                "NodeFilesystemAlmostOutOfSpace",
                {"instance": "node-3", "mountpoint": "/data", "job": "node"},
                "node-3 /data has 0.4% space left",
                "5a1e0000000000d1",
                "critical",
            ),
        ],
        "changes": [
            {
                "kind": "deployment",
                "service": "web",
                "at": (alert_time - timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "version": "v9.1.0",
                "previous_version": "v9.0.9",
                "description": "Copy changes",
                "author": "lee",
            },
        ],
        "topology": TOPOLOGY,
    }
    _write_bundle(
        "sample-disk-full",
        scenario,
        metrics,
        [],
        {"category": "disk_exhaustion", "target": "node-3", "runbook": "rb-disk-cleanup"},
    )


def _write_bundle(name, scenario, metrics, history, expected) -> None:
    folder = HERE / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.json").write_text(json.dumps(scenario, indent=2) + "\n", encoding="utf-8")
    (folder / "history.json").write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")
    (folder / "expected.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    _write_om(folder / "metrics.om", metrics)


if __name__ == "__main__":
    rng = random.Random(7)
    sample_deploy(rng)
    sample_disk(rng)
