"""Where a tenant's remediation policy is kept, and how a change to it is audited.

One document per tenant in the tenants container, in the tenant's own
partition: the YAML as the tenant wrote it (comments and all, so ``policy
show`` gives it back), the validated policy as JSON, and a version (a hash
of the YAML). Every change appends an audit record naming the old and new
versions. The engine (``shared.autonomy.engine``) never reads the store; its
callers load the policy here and pass it in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import yaml

from shared.audit import record as audit_record
from shared.autonomy.policy import Mode, Policy, parse_policy, policy_from
from shared.models.base import Model, UtcDatetime, iso
from shared.ports.store import Container, DocumentStore

POLICY_DOC = "remediation-policy"
AUDIT_ACTION = "policy.set"


class StoredPolicy(Model):
    policy: Policy
    source: str
    """The YAML text as it was set."""
    version: str
    updated_at: UtcDatetime
    updated_by: str

    def summary(self) -> list[dict[str, Any]]:
        """One row per catalog action the policy lists."""
        return [
            {
                "action": name,
                "tier": entry.tier.value,
                "mode": entry.mode.value,
                "approvers": list(self.policy.approvers_for(name)),
            }
            for name, entry in self.policy.actions.items()
        ]


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_policy(store: DocumentStore, tenant_id: str) -> StoredPolicy | None:
    """The tenant's policy, or None when it has never set one (then nothing is allowed)."""
    doc = store.get(Container.TENANTS, tenant_id, POLICY_DOC)
    if doc is None:
        return None
    return StoredPolicy(
        policy=policy_from(doc["policy"], source=f"stored policy of {tenant_id}"),
        source=doc["source"],
        version=doc["version"],
        updated_at=doc["updated_at"],
        updated_by=doc["updated_by"],
    )


def set_policy(
    store: DocumentStore,
    tenant_id: str,
    text: str,
    *,
    now: datetime,
    actor: str,
    source: str = "policy",
    why: Mapping[str, Any] | None = None,
) -> StoredPolicy:
    """Validate ``text`` and make it the tenant's policy; ``BadInput`` names the problem.

    The change is audited with both versions (and ``why``, when a command
    such as ``autonomy promote`` made it); setting the same text again
    stores and audits nothing new.
    """
    policy = parse_policy(text, source=source)
    version = version_of(text)
    previous = load_policy(store, tenant_id)
    if previous is not None and previous.version == version:
        return previous
    stored = StoredPolicy(
        policy=policy, source=text, version=version, updated_at=now, updated_by=actor
    )
    store.upsert(
        Container.TENANTS,
        tenant_id,
        {
            "id": POLICY_DOC,
            "tenantId": tenant_id,
            "policy": policy.to_json(),
            "source": text,
            "version": version,
            "updated_at": iso(now),
            "updated_by": actor,
        },
    )
    audit_record(
        store,
        tenant_id,
        at=now,
        actor=actor,
        action=AUDIT_ACTION,
        subject=f"policy:{tenant_id}",
        detail={
            "version": version,
            "previous_version": previous.version if previous else None,
            "actions": stored.summary(),
            "kill_switch": policy.kill_switch,
            **({"why": dict(why)} if why else {}),
        },
    )
    return stored


def with_mode(text: str, action: str, mode: Mode, *, note: str) -> str:
    """The policy YAML ``text`` with ``action``'s mode set to ``mode``.

    The YAML is written again from its data (PyYAML keeps no comments), under
    a comment line ``note`` saying what changed it; the caller validates it
    through ``set_policy`` as any other policy.
    """
    data = yaml.safe_load(text)
    entry = data["actions"][action]
    data["actions"][action] = {**entry, "mode": mode.value}
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    return f"# {note}\n{body}"


def render(tenant_id: str, stored: StoredPolicy | None, echo: Callable[[str], None]) -> None:
    """``policy show`` in words: the version, a line per action, then the YAML as set."""
    if stored is None:
        echo(f"{tenant_id}: no remediation policy set: every action is refused")
        return
    policy = stored.policy
    echo(
        f"{tenant_id}: policy {stored.version}, set {iso(stored.updated_at)} by {stored.updated_by}"
    )
    if policy.kill_switch:
        echo("  kill switch ON: no action runs")
    for row in stored.summary():
        approvers = f"  approvers {', '.join(row['approvers'])}" if row["tier"] == "high" else ""
        echo(f"  {row['action']:<20} {row['tier']:<6} {row['mode']:<6}{approvers}")
    echo("")
    echo(stored.source.rstrip())


def to_json(tenant_id: str, stored: StoredPolicy | None) -> dict[str, Any]:
    if stored is None:
        return {"tenant": tenant_id, "version": None, "policy": None}
    return {
        "tenant": tenant_id,
        "version": stored.version,
        "updated_at": iso(stored.updated_at),
        "updated_by": stored.updated_by,
        "policy": stored.policy.to_json(),
        "source": stored.source,
    }
