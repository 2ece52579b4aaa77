"""Normalisers on captured payloads: pure, one Alert shape whatever the source."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.errors import BadInput
from shared.ingestion.normalisers import (
    host_of,
    labels_fingerprint,
    normalise_alertmanager,
    normalise_pagerduty,
    severity_from,
)
from shared.models.alert import AlertSource, AlertStatus, Severity

PAYLOADS = Path(__file__).parents[2] / "fixtures" / "payloads"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def test_alertmanager_group_becomes_one_alert_per_item() -> None:
    result = normalise_alertmanager(load("alertmanager_firing.json"), tenant_id="acme")
    service_alert, host_alert = result.alerts
    assert service_alert.source is AlertSource.ALERTMANAGER
    assert service_alert.fingerprint == "c0ffee0000000001"
    assert service_alert.name == "HighErrorRate"
    assert service_alert.service == "checkout"
    assert service_alert.instance is None
    assert service_alert.severity is Severity.CRITICAL
    assert service_alert.status is AlertStatus.FIRING
    assert service_alert.summary == "checkout error ratio is 12%"
    assert service_alert.starts_at == datetime(2026, 3, 4, 14, 4, 0, 123000, tzinfo=UTC)
    assert service_alert.ends_at is None  # year 1 means "no end"
    # A host alert names its host without the exporter port, and "job" is not a service.
    assert host_alert.instance == "node-3"
    assert host_alert.service is None
    assert host_alert.summary == "node-3 /data has 3% left"
    assert host_alert.tenant_id == "acme"


def test_resolved_alert_keeps_identity_and_gets_end_time() -> None:
    firing = normalise_alertmanager(load("alertmanager_firing.json"), tenant_id="t").alerts[0]
    resolved = normalise_alertmanager(load("alertmanager_resolved.json"), tenant_id="t").alerts[0]
    assert resolved.id == firing.id
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.ends_at == datetime(2026, 3, 4, 14, 31, tzinfo=UTC)


def test_same_delivery_has_same_dedup_key_and_a_change_does_not() -> None:
    payload = load("alertmanager_firing.json")
    first = normalise_alertmanager(payload, tenant_id="t").dedup_key
    assert normalise_alertmanager(json.loads(json.dumps(payload)), tenant_id="t").dedup_key == first
    payload["alerts"][0]["status"] = "resolved"
    assert normalise_alertmanager(payload, tenant_id="t").dedup_key != first


def test_missing_fingerprint_is_derived_from_labels() -> None:
    payload = load("alertmanager_firing.json")
    del payload["alerts"][0]["fingerprint"]
    alert = normalise_alertmanager(payload, tenant_id="t").alerts[0]
    assert alert.fingerprint == labels_fingerprint(payload["alerts"][0]["labels"])
    reordered = dict(reversed(list(payload["alerts"][0]["labels"].items())))
    assert labels_fingerprint(reordered) == alert.fingerprint


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.pop("version"), "version"),
        (lambda p: p.__setitem__("version", "3"), "version"),
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts.0.startsAt"),
        (lambda p: p["alerts"][0].__setitem__("status", "weird"), "alerts.0.status"),
        (lambda p: p["alerts"][1]["labels"].__setitem__("severity", 3), "alerts.1.labels.severity"),
        (lambda p: p.__setitem__("alerts", "none"), "alerts"),
    ],
)
def test_alertmanager_schema_errors_name_the_field(mutate, field: str) -> None:
    payload = load("alertmanager_firing.json")
    mutate(payload)
    with pytest.raises(BadInput) as info:
        normalise_alertmanager(payload, tenant_id="t")
    assert f"field '{field}'" in info.value.reason


def test_pagerduty_incident_event() -> None:
    result = normalise_pagerduty(load("pagerduty_triggered.json"), tenant_id="acme")
    (alert,) = result.alerts
    assert result.dedup_key == "pd:01DEN5NMMS0Q2J2Y3C7H0ABCDE"
    assert alert.source is AlertSource.PAGERDUTY
    assert alert.fingerprint == "pagerduty:PINC777"
    assert alert.service == "checkout"
    assert alert.severity is Severity.CRITICAL  # P1
    assert alert.source_url == "https://acme.pagerduty.com/incidents/PINC777"


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("incident.acknowledged", AlertStatus.ACKNOWLEDGED),
        ("incident.resolved", AlertStatus.RESOLVED),
        ("incident.reopened", AlertStatus.FIRING),
        ("incident.escalated", AlertStatus.FIRING),
        ("incident.priority_updated", AlertStatus.FIRING),
    ],
)
def test_pagerduty_lifecycle_events(event_type: str, status: AlertStatus) -> None:
    payload = load("pagerduty_triggered.json")
    payload["event"]["event_type"] = event_type
    if status is AlertStatus.RESOLVED:
        payload["event"]["data"]["status"] = "resolved"
    (alert,) = normalise_pagerduty(payload, tenant_id="t").alerts
    assert alert.status is status
    assert (alert.ends_at is not None) == (status is AlertStatus.RESOLVED)


def test_pagerduty_note_and_unhandled_event() -> None:
    note = normalise_pagerduty(load("pagerduty_annotated.json"), tenant_id="t")
    assert note.alerts == ()
    assert note.notes[0]["pagerduty_incident"] == "PINC777"
    assert note.notes[0]["content"] == "Rolling back v2.3.1 now."
    other = normalise_pagerduty(load("pagerduty_service_updated.json"), tenant_id="t")
    assert other.alerts == ()
    assert other.ignored_reason == "event type service.updated"


def test_pagerduty_missing_event_id_names_field() -> None:
    payload = load("pagerduty_triggered.json")
    del payload["event"]["id"]
    with pytest.raises(BadInput, match=r"field 'event\.id'"):
        normalise_pagerduty(payload, tenant_id="t")


@pytest.mark.parametrize(
    ("raw", "host"),
    [("node-3:9100", "node-3"), ("node-3", "node-3"), ("[::1]:9100", "::1"), (None, None)],
)
def test_host_of(raw: str | None, host: str | None) -> None:
    assert host_of(raw) == host


def test_severity_words() -> None:
    assert severity_from("CRITICAL") is Severity.CRITICAL
    assert severity_from("p3") is Severity.WARNING
    assert severity_from("low") is Severity.INFO
    assert severity_from("bogus") is Severity.WARNING
    assert severity_from(None, Severity.INFO) is Severity.INFO
