"""A real Alertmanager delivers its webhooks to the local host.

Alertmanager (Debian package) runs on loopback with a short repeat interval,
so it re-sends every group; each group must still become exactly one incident.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.models.incident import Incident
from shared.ports.store import Container
from tests.fixtures.prometheus import alertmanager

from .conftest import Live

pytestmark = [pytest.mark.prometheus, pytest.mark.e2e]

CONFIG = """
route:
  receiver: copilot
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 3s
receivers:
  - name: copilot
    webhook_configs:
      - url: {url}/api/tenants/acme/webhooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: am-token
"""


def post_alerts(base: str, alerts: list[dict[str, object]]) -> None:
    req = urllib.request.Request(
        f"{base}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as response:
        assert response.status == 200


def test_alertmanager_groups_become_one_incident_each_despite_resends(
    live: Live, tmp_path: Path
) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    alerts = [
        {
            "labels": {
                "alertname": "HighErrorRate",
                "service": "checkout",
                "pod": f"checkout-{i}",
                "severity": "critical",
            },
            "annotations": {"summary": f"checkout-{i} errors"},
            "startsAt": now,
        }
        for i in range(3)
    ] + [
        {
            "labels": {"alertname": "HighLatency", "service": "search", "severity": "warning"},
            "annotations": {"summary": "search p99 3s"},
            "startsAt": now,
        }
    ]
    with alertmanager(CONFIG.format(url=live.url), tmp_path / "am") as am:
        post_alerts(am, alerts)
        deadline = time.monotonic() + 30
        raw_count = 0
        while time.monotonic() < deadline:
            raw_count = len(live.runtime.store.query(Container.RAW_EVENTS, "acme"))
            if raw_count >= 4:  # two first deliveries and at least two re-sends
                break
            time.sleep(0.3)
        assert raw_count >= 4, f"Alertmanager delivered only {raw_count} times"
    incidents = [
        Incident.from_doc(d) for d in live.runtime.store.query(Container.INCIDENTS, "acme")
    ]
    by_service = {inc.services: inc for inc in incidents}
    assert set(by_service) == {("checkout",), ("search",)}, incidents
    assert by_service[("checkout",)].alert_count == 3
    assert by_service[("search",)].alert_count == 1
    outcomes = [d["outcome"] for d in live.runtime.store.query(Container.RAW_EVENTS, "acme")]
    assert "duplicate" in outcomes or outcomes.count("accepted") > 2
    assert live.host.wait_for_idle(timeout=20)
    saved = sorted(p.name for p in live.runtime.settings.messages_dir.glob("*.json"))
    assert saved == sorted(f"acme__{inc.id}.json" for inc in incidents)
