"""The kill switches: stop all automated remediation, globally or for one tenant, at runtime.

An operator flips a switch with the CLI (``autonomy kill-switch``) or the admin
API; ``state_for`` reads both on every decision, so ``decide`` at proposal time
and ``may_execute`` right before running (the re-check after an announce window
or an approval) refuse while either is on, with who set it, when and why.

Where they live (the tenants container, beside the remediation policy):

- the tenant's switch: document ``_kill-switch`` in the tenant's partition;
- the global switch: document ``_kill-switch`` in the reserved partition
  ``_platform``. Not ``_system``: that partition is the tenant directory,
  whose every entry ``TenantRegistry.list`` takes for a tenant. Tenant names
  cannot start with ``_``, so neither id nor partition can meet a tenant's.

``SRE_COPILOT_AUTONOMY_KILL_SWITCH=true`` is the deploy-time hard override:
the global switch is on whatever the store says (turning it off takes a
deployment, not an API call).

Reading fails closed: a store error propagates (the activity retries; unknown
is never off) and a document that does not parse counts as on.

Audit: a tenant's switch is a record in that tenant's chain. The global one is
a record in every registered tenant's chain, so each tenant's trail alone shows
who stopped (and restarted) its automation; the chains are per tenant by
design (``shared.audit``), and a platform chain nobody of a tenant reads would
leave the tenant's trail with an unexplained gap.

Each tenant a flip stops or restarts is told in its channel (``announce``),
since responders waiting for an announced action to run need to know why it
will not; best effort, after the switch is set and audited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, ValidationError

from shared.audit import record as audit_record
from shared.errors import BadInput
from shared.models.base import Model, UtcDatetime, iso
from shared.models.tenant import Tenant
from shared.notify.mrkdwn import escape as escape_mrkdwn
from shared.ports.chat import ChatMessage, ChatPort
from shared.ports.store import Container, DocumentStore
from shared.tenants.registry import TenantRegistry

log = logging.getLogger(__name__)

DOC_ID = "_kill-switch"
PLATFORM = "_platform"
"""Reserved partition for platform-wide documents (no tenant can be named so)."""
CONTAINER = Container.TENANTS
SETTING = "SRE_COPILOT_AUTONOMY_KILL_SWITCH"
MAX_BY = 200
MAX_REASON = 500
AUDIT_ACTION = "autonomy.kill_switch"


class Switch(Model):
    """One switch as last set: on or off, by whom, when, why."""

    on: bool
    by: str = Field(min_length=1)
    at: UtcDatetime
    reason: str = Field(min_length=1)

    def note(self) -> str:
        """``set by U-OPS at 2026-03-04 12:03 UTC: automation outage``."""
        return f"set by {self.by} at {self.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC: {self.reason}"

    def row(self) -> dict[str, Any]:
        return {"on": self.on, "by": self.by, "at": iso(self.at), "reason": self.reason}


class Switches(Model):
    """Both switches as read for one tenant, and the deployment's override."""

    tenant_id: str
    global_switch: Switch | None = None
    tenant_switch: Switch | None = None
    forced: bool = False
    """``SRE_COPILOT_AUTONOMY_KILL_SWITCH`` is on."""
    unreadable: tuple[str, ...] = ()
    """Scopes whose document did not parse: counted as on."""

    @property
    def global_on(self) -> bool:
        return (
            self.forced
            or "global" in self.unreadable
            or (self.global_switch is not None and self.global_switch.on)
        )

    @property
    def tenant_on(self) -> bool:
        return "tenant" in self.unreadable or (
            self.tenant_switch is not None and self.tenant_switch.on
        )

    @property
    def global_note(self) -> str:
        notes = []
        if self.forced:
            notes.append(f"forced by the deployment setting {SETTING}")
        if "global" in self.unreadable:
            notes.append("its stored document is unreadable, so it counts as on")
        elif self.global_switch is not None and self.global_switch.on:
            notes.append(self.global_switch.note())
        return "; ".join(notes)

    @property
    def tenant_note(self) -> str:
        if "tenant" in self.unreadable:
            return "its stored document is unreadable, so it counts as on"
        if self.tenant_switch is not None and self.tenant_switch.on:
            return self.tenant_switch.note()
        return ""

    def lines(self) -> list[str]:
        """Two lines for a terminal: the global switch, then the tenant's."""

        def line(name: str, on: bool, note: str, switch: Switch | None) -> str:
            if on:
                return f"{name} kill switch ON ({note}): no action runs"
            if switch is not None:
                return f"{name} kill switch off (turned off {switch.note().removeprefix('set ')})"
            return f"{name} kill switch off"

        return [
            line("global", self.global_on, self.global_note, self.global_switch),
            line(f"{self.tenant_id}'s", self.tenant_on, self.tenant_note, self.tenant_switch),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "global": {
                "on": self.global_on,
                "forced_by_setting": self.forced,
                "switch": self.global_switch.row() if self.global_switch else None,
            },
            "tenant": {
                "on": self.tenant_on,
                "switch": self.tenant_switch.row() if self.tenant_switch else None,
            },
        }


def _switch(doc: dict[str, Any] | None) -> Switch | None:
    """The switch a document holds; ``ValueError`` when it holds none that parses."""
    if doc is None:
        return None
    try:
        return Switch.model_validate({k: doc.get(k) for k in ("on", "by", "at", "reason")})
    except ValidationError:
        raise ValueError("unreadable kill switch document") from None


def read(store: DocumentStore, tenant_id: str, *, forced: bool) -> Switches:
    """Both switches for ``tenant_id``; store errors propagate (never read as off)."""
    found: dict[str, Switch | None] = {}
    unreadable: list[str] = []
    for scope, partition in (("global", PLATFORM), ("tenant", tenant_id)):
        try:
            found[scope] = _switch(store.get(CONTAINER, partition, DOC_ID))
        except ValueError:
            found[scope] = None
            unreadable.append(scope)
    return Switches(
        tenant_id=tenant_id,
        global_switch=found["global"],
        tenant_switch=found["tenant"],
        forced=forced,
        unreadable=tuple(unreadable),
    )


def global_state(store: DocumentStore, *, forced: bool) -> dict[str, Any]:
    """The global switch alone, as ``Switches.to_json`` shows it (store errors propagate)."""
    try:
        switch = _switch(store.get(CONTAINER, PLATFORM, DOC_ID))
    except ValueError:
        return {"on": True, "forced_by_setting": forced, "switch": None, "unreadable": True}
    on = forced or (switch is not None and switch.on)
    return {"on": on, "forced_by_setting": forced, "switch": switch.row() if switch else None}


def checked(on: object, by: object, reason: object) -> tuple[bool, str, str]:
    """The inputs of a flip, or ``BadInput`` naming the first bad one."""
    if not isinstance(on, bool):
        raise BadInput("field 'on': true or false")
    return on, _text("by", by, MAX_BY), _text("reason", reason, MAX_REASON)


def _text(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"field '{name}': required text")
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise BadInput(f"field '{name}': one line of at most {limit} characters")
    return value.strip()


class Flipped(Model):
    """What a flip did: the switch now, what it was, and whose chains recorded it."""

    scope: str
    """``global`` or the tenant's id."""
    switch: Switch
    was_on: bool
    audited: tuple[str, ...]

    def message(self) -> str:
        name = "global" if self.scope == "global" else f"{self.scope}'s"
        state = "ON" if self.switch.on else "off"
        same = " (it was already)" if self.was_on == self.switch.on else ""
        where = ", ".join(self.audited) or "no tenant registered"
        return (
            f"{name} kill switch {state}{same}: {self.switch.by}: {self.switch.reason} "
            f"(audited for {where})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            **self.switch.row(),
            "was_on": self.was_on,
            "audited": list(self.audited),
        }


def flip(
    store: DocumentStore,
    tenant_ids: Sequence[str],
    *,
    scope: str | None,
    on: bool,
    by: str,
    reason: str,
    now: datetime,
    actor: str,
    via: str,
) -> Flipped:
    """Set a switch (``scope`` None: the global one), then audit it.

    ``tenant_ids``: every registered tenant for the global switch, or the one
    tenant (the caller checked it exists). The switch is written first: a stop
    takes effect before its paperwork, and an audit that fails afterwards
    raises with the switch already set (flipping again records it again).
    """
    on, by, reason = checked(on, by, reason)
    partition = PLATFORM if scope is None else scope
    try:
        before = _switch(store.get(CONTAINER, partition, DOC_ID))
    except ValueError:
        before = None
    switch = Switch(on=on, by=by, at=now, reason=reason)
    store.upsert(
        CONTAINER,
        partition,
        {"id": DOC_ID, "tenantId": partition, "kind": "kill_switch", **switch.row()},
    )
    name = "global" if scope is None else scope
    for tenant_id in tenant_ids:
        audit_record(
            store,
            tenant_id,
            at=now,
            actor=actor,
            action=f"{AUDIT_ACTION}.{'on' if on else 'off'}",
            subject=f"kill-switch:{name}",
            detail={"scope": name, "by": by, "reason": reason, "via": via},
        )
    return Flipped(
        scope=name,
        switch=switch,
        was_on=before is not None and before.on,
        audited=tuple(tenant_ids),
    )


Tell = Callable[[Sequence[Tenant], Flipped], tuple[str, ...]]
"""Tells the tenants a flip stopped (or restarted) in their channels; returns who was told."""


def switch(
    store: DocumentStore,
    registry: TenantRegistry,
    scope: str | None,
    *,
    on: object,
    by: object,
    reason: object,
    now: datetime,
    actor: str,
    via: str,
    tell: Tell | None,
) -> tuple[Flipped, tuple[str, ...]]:
    """Flip the tenant ``scope``'s switch (None: the global one) as the CLI and the admin
    API do: for the tenants it stops (an unknown tenant is ``NotFound``), then ``tell``
    the active ones. The flipped switch and the tenants told."""
    ids = [registry.get(scope).id] if scope is not None else [t.id for t in registry.list()]
    on, by, reason = checked(on, by, reason)
    done = flip(store, ids, scope=scope, on=on, by=by, reason=reason, now=now, actor=actor, via=via)
    stopped = [t for t in registry.active() if t.id in ids]
    return done, tell(stopped, done) if tell is not None else ()


def announce(
    chat_for: Callable[[Tenant], ChatPort], tenants: Sequence[Tenant], flipped: Flipped
) -> tuple[str, ...]:
    """Tell each tenant's channel that its automation stopped (or may run again).

    Best effort: the switch is set already; a channel that cannot be reached is
    logged and skipped. Returns the tenants told.
    """
    switch = flipped.switch
    scope = "for every tenant" if flipped.scope == "global" else "for this workspace"
    if switch.on:
        head = f"Automated remediation is stopped {scope}: nothing runs until the switch is off."
    else:
        head = f"Automated remediation may run again {scope} (kill switch off)."
    why = f"{switch.by}, {switch.at.strftime('%Y-%m-%d %H:%M')} UTC: {switch.reason}"
    told: list[str] = []
    for tenant in tenants:
        message = ChatMessage(
            tenant_id=tenant.id,
            incident_id=f"kill-switch-{flipped.scope}",
            text=f"{head} ({why})",
            blocks=(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"*{escape_mrkdwn(head)}*"},
                },
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": escape_mrkdwn(why)}],
                },
            ),
            kind="kill_switch",
        )
        try:
            chat_for(tenant).post(message, channel=tenant.slack_channel_id)
        except Exception:  # logged: the switch holds whether or not the post lands
            log.warning("kill switch not announced to %s", tenant.id, exc_info=True)
            continue
        told.append(tenant.id)
    return tuple(told)
