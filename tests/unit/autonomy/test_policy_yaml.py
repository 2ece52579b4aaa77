"""Policy YAML: the contract shape parses, defaults are safe, problems name their path."""

from __future__ import annotations

import pytest

from shared.autonomy.policy import Hours, Mode, Tier, parse_policy
from shared.errors import BadInput

CONTRACT = """
actions:
  restart_pod:         {tier: low, mode: active}
  scale_replicas:      {tier: medium, mode: active, announce_seconds: 5}
  rollback_deployment: {tier: high, mode: active, approvers: [U-LEAD], approval_expiry_seconds: 600}
"""


def test_the_contract_shape_parses_with_its_values() -> None:
    policy = parse_policy(CONTRACT)
    assert set(policy.actions) == {"restart_pod", "scale_replicas", "rollback_deployment"}
    assert policy.actions["scale_replicas"].announce_seconds == 5
    assert policy.actions["rollback_deployment"].tier is Tier.HIGH
    assert policy.approvers_for("rollback_deployment") == ("U-LEAD",)
    assert policy.actions["rollback_deployment"].approval_expiry_seconds == 600


def test_defaults_are_shadow_mode_300_s_announce_and_bounded_limits() -> None:
    policy = parse_policy("actions:\n  clear_cache: {tier: medium}\n")
    entry = policy.actions["clear_cache"]
    assert entry.mode is Mode.SHADOW
    assert entry.announce_seconds == 300
    assert entry.preconditions.hours is Hours.ANY
    assert entry.limits.max_targets == 1 and entry.limits.max_concurrent == 1
    assert policy.kill_switch is False and policy.timezone == "UTC"


def test_a_full_policy_parses() -> None:
    policy = parse_policy(
        """
timezone: Europe/Paris
kill_switch: false
approvers: [U-LEAD, U-SRE]
business_hours: {days: [mon, tue, wed, thu, fri], start: "08:30", end: "18:00"}
freezes:
  - {start: 2025-12-20T00:00:00Z, end: 2026-01-05T00:00:00Z, reason: year end}
  - {start: 2025-11-28T00:00:00Z, end: 2025-11-29T00:00:00Z, services: [checkout]}
limits: {max_concurrent: 2}
actions:
  restart_pod:
    tier: low
    mode: active
    preconditions: {categories: [memory_leak], min_confidence: 0.6, service_tiers: [2, 3]}
    limits: {per_service_per_hour: 2, max_fleet_share: 0.25, min_healthy: 2}
  drain_node:
    tier: high
    preconditions: {hours: business}
    limits: {min_healthy_share: 0.75}
"""
    )
    assert policy.business_hours.start.hour == 8 and policy.business_hours.start.minute == 30
    assert policy.freezes[1].services == ("checkout",)
    assert policy.approvers_for("drain_node") == ("U-LEAD", "U-SRE")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "actions:\n  scale_replicas: {tier: mid}",
            "actions.scale_replicas.tier: must be low, medium or high",
        ),
        ("actions:\n  restart_pod: {mode: active}", "actions.restart_pod.tier: required"),
        (
            "actions:\n  restart_pod: {tier: low, mode: on}",
            "actions.restart_pod.mode: must be shadow or active",
        ),
        (
            "actions:\n  delete_namespace: {tier: low}",
            "actions.delete_namespace: unknown action (known: restart_pod,",
        ),
        (
            "actions:\n  restart_pod: {tier: low, limitz: {}}",
            "actions.restart_pod.limitz: unknown field",
        ),
        (
            "actions:\n  restart_pod: {tier: low, limits: {max_fleet_share: 2}}",
            "actions.restart_pod.limits.max_fleet_share: must be at most 1.0",
        ),
        (
            "actions:\n  restart_pod: {tier: low, limits: {per_service_per_hour: -1}}",
            "actions.restart_pod.limits.per_service_per_hour: must be at least 0",
        ),
        (
            "actions:\n  restart_pod: {tier: low, announce_seconds: soon}",
            "actions.restart_pod.announce_seconds: must be a whole number",
        ),
        (
            "actions:\n  restart_pod: {tier: low, preconditions: {hours: night}}",
            "actions.restart_pod.preconditions.hours: must be any, business or outside_business",
        ),
        (
            "actions:\n  rollback_deployment: {tier: high}",
            "actions.rollback_deployment.approvers: a high-risk action needs at least one approver",
        ),
        (
            "freezes:\n  - {start: 2025-01-02T00:00:00Z, end: 2025-01-01T00:00:00Z}",
            "freezes[0]: end must be after start",
        ),
        (
            "freezes:\n  - {start: 2025-01-02T00:00:00, end: 2025-01-03T00:00:00Z}",
            "freezes[0].start: needs a UTC offset",
        ),
        (
            "business_hours: {days: [monday]}",
            "business_hours.days[0]: must be mon, tue, wed, thu, fri, sat or sun",
        ),
        ("timezone: Mars/Olympus", "timezone: unknown IANA time zone 'Mars/Olympus'"),
        ("kill_switch: maybe", "kill_switch: must be true or false"),
        ("actions: [", "bad YAML at line"),
        ("- just a list", "must be a mapping with an 'actions' key"),
    ],
)
def test_problems_name_the_yaml_path(text: str, message: str) -> None:
    with pytest.raises(BadInput) as raised:
        parse_policy(text, source="acme.yaml")
    assert raised.value.reason.startswith(f"acme.yaml: {message}"), raised.value.reason
    assert "\n" not in raised.value.reason
