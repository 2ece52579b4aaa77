"""host.json keeps what the portal and the alerts read (bicep/README.md, "Telemetry")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HOST = Path(__file__).resolve().parents[2] / "host.json"


def host() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(HOST.read_text())
    return loaded


def test_request_telemetry_is_kept_and_never_sampled_away() -> None:
    logging = host()["logging"]
    # Host.Results is the category of request telemetry: below Information it is dropped.
    assert logging["logLevel"]["Host.Results"] == "Information"
    excluded = logging["applicationInsights"]["samplingSettings"]["excludedTypes"].split(";")
    assert {"Request", "Exception"} <= set(excluded)


def test_durable_tracking_events_reach_application_insights() -> None:
    """The failed-orchestration alert reads them from `traces`."""
    assert host()["logging"]["logLevel"]["Host.Triggers.DurableTask"] == "Information"


def test_the_durable_extension_joins_orchestrations_to_their_callers() -> None:
    tracing = host()["extensions"]["durableTask"]["tracing"]
    assert tracing == {
        "distributedTracingEnabled": True,
        "distributedTracingProtocol": "W3CTraceContext",
    }
