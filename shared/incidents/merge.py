"""Merging an incident nobody has seen into the one a late cause showed it belongs to.

A cause that arrives after its effects opened incidents of their own shows
those incidents to be one (``shared.ingestion.grouping``). What happens to
the one absorbed (``absorbed``) depends on whether people may have seen it:

- **not seen** (no message claimed, no responder action): its alerts move to
  the surviving incident, with their count, services and hosts; it is resolved
  with ``merged_into`` set and a note, the survivor gets a note and is woken
  to analyse again, and the absorbed incident's orchestration ends at its
  first post without posting;
- **seen**: nothing moves; both incidents get a "likely same cause" note
  (the caller links them);
- **closed** (either one resolved or gone): nothing happens.

The race between the first post and a merge is settled on the absorbed
incident's own document, under its ETag: the orchestration sets
``announced_at`` before it posts (``claim_post``), a merge sets
``merged_into`` only while ``announced_at`` is unset, and each write refuses
when it finds the other's. So exactly one of "merged, never posted" and
"posted, linked, not moved" happens.

Everything after that one write can run again (a retried delivery, a
delivery that finds the incident merged): alerts are copied before they are
deleted, and the survivor's counts are folded in once, under the note that
records it.

One alert may move alone (``move_alert``): it was decided before a cause that
began before it arrived, and that cause explains it better. The same rule
holds: it leaves an incident only while nobody has seen that one, settled on
the incident's document under its ETag, and each side counts it once, under
a note naming the alert.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.errors import Conflict, PreconditionFailed
from shared.incidents import alerts as members
from shared.incidents.work import announced, wake_needed
from shared.models.alert import Alert, AlertStatus
from shared.models.base import iso
from shared.models.incident import Incident, IncidentAlert, IncidentStatus, member_id
from shared.ports.store import Container, DocumentStore, Filter, update_with_retry

_HOPS = 20
"""Merges chained (A into B, B into C) that ``follow`` walks at most."""


class Outcome(StrEnum):
    MERGED = "merged"
    SEEN = "seen"
    """People may have seen the absorbed incident: link, do not move."""
    CLOSED = "closed"
    """One of the two is resolved or gone: nothing to do."""


@dataclass(frozen=True, slots=True)
class Merge:
    """What ``absorb`` did."""

    outcome: Outcome
    survivor: str
    absorbed: str
    reason: str = ""
    """Why it was not merged (``SEEN``, ``CLOSED``)."""
    moved: tuple[IncidentAlert, ...] = ()
    """The memberships moved by this call (the fingerprint index follows them)."""
    status: IncidentStatus | None = None
    """The survivor's status afterwards (``MERGED``)."""
    signal: bool = False
    """Wake the survivor's orchestration: its alerts changed and no wake is pending."""


def claim_post(store: DocumentStore, tenant_id: str, incident_id: str, at: datetime) -> str | None:
    """Claim the incident's first post; the incident it was merged into instead, if so.

    Called by the orchestration right before it posts: once this returns None,
    no merge moves the incident's alerts.
    """
    found: dict[str, str] = {}

    def claim(doc: dict[str, Any]) -> dict[str, Any] | None:
        incident = Incident.from_doc(doc)
        if incident.merged_into is not None:
            found["merged_into"] = incident.merged_into
            return None
        if incident.announced_at is not None:
            return None
        return incident.model_copy(update={"announced_at": at}).to_doc()

    update_with_retry(store, Container.INCIDENTS, tenant_id, incident_id, claim)
    return found.get("merged_into")


def follow(
    store: DocumentStore, tenant_id: str, incident_id: str
) -> tuple[str, dict[str, Any] | None]:
    """The incident ``incident_id`` ends up in, through any merges, and its document."""
    doc = store.get(Container.INCIDENTS, tenant_id, incident_id)
    for _ in range(_HOPS):
        if doc is None or not doc.get("merged_into"):
            break
        incident_id = str(doc["merged_into"])
        doc = store.get(Container.INCIDENTS, tenant_id, incident_id)
    return incident_id, doc


def seen_by_people(store: DocumentStore, tenant_id: str, doc: dict[str, Any]) -> str | None:
    """Why people may have seen the incident, or None: it can still be merged away."""
    incident = Incident.from_doc(doc)
    if incident.announced_at is not None:
        return "its message was posted"
    if incident.status is IncidentStatus.ACKNOWLEDGED:
        return "it was acknowledged"
    if any(n.get("source") == "pagerduty" for n in incident.notes):
        return "a responder wrote on it in PagerDuty"
    # Before ``announced_at`` existed, a post left only its message record
    # (``shared.notify.delivery``, keyed so) behind.
    if store.get(Container.MESSAGES, tenant_id, f"incident:{incident.id}") is not None:
        return "its message was posted"
    clicked = store.query(
        Container.WORK, tenant_id, [Filter("incident_id", "=", incident.id)], limit=1
    )
    if clicked:
        return "a responder acted on it"
    return None


def absorb(
    store: DocumentStore,
    tenant_id: str,
    survivor_id: str,
    absorbed_id: str,
    *,
    cause: Alert,
    at: datetime,
) -> Merge:
    """Merge ``absorbed_id`` into ``survivor_id`` unless people may have seen it.

    Idempotent: an incident merged already has the rest of its merge finished
    (what a crashed attempt left), and nothing is moved or counted twice.
    """
    survivor_id, survivor = follow(store, tenant_id, survivor_id)
    absorbed = store.get(Container.INCIDENTS, tenant_id, absorbed_id)
    if survivor is None or absorbed is None or survivor_id == absorbed_id:
        return Merge(Outcome.CLOSED, survivor_id, absorbed_id, reason="gone")
    if absorbed.get("merged_into"):
        return finish(store, tenant_id, Incident.from_doc(absorbed), at=at)
    for doc in (survivor, absorbed):
        if doc.get("status") == IncidentStatus.RESOLVED.value:
            return Merge(Outcome.CLOSED, survivor_id, absorbed_id, reason=f"{doc['id']} resolved")
    reason = seen_by_people(store, tenant_id, absorbed)
    if reason is not None:
        return Merge(Outcome.SEEN, survivor_id, absorbed_id, reason=reason)
    why = f"{where(cause)} (alert {cause.fingerprint}) explains the alerts that opened both"
    refused: dict[str, str] = {}

    def mark(doc: dict[str, Any]) -> dict[str, Any] | None:
        incident = Incident.from_doc(doc)
        if incident.merged_into is not None:
            return None  # a concurrent delivery merged it first
        if incident.status is IncidentStatus.RESOLVED:
            refused["closed"] = f"{incident.id} resolved"
            return None
        if incident.announced_at is not None or incident.status is not IncidentStatus.OPEN:
            refused["seen"] = "its message was posted"  # the post won the race
            return None
        note = _note(
            f"merged:{survivor_id}",
            f"Merged into {survivor_id} before anyone was told of it: {why}; its "
            f"{incident.alert_count} alert(s) moved there",
            at,
        )
        return incident.model_copy(
            update={
                "merged_into": survivor_id,
                "status": IncidentStatus.RESOLVED,
                "resolved_at": at,
                "updated_at": at,
                "wake_requested_at": None,
                "notes": (*incident.notes, note),
            }
        ).to_doc()

    stored = update_with_retry(store, Container.INCIDENTS, tenant_id, absorbed_id, mark)
    if stored is None or "closed" in refused:
        return Merge(Outcome.CLOSED, survivor_id, absorbed_id, reason=refused.get("closed", ""))
    if "seen" in refused:
        return Merge(Outcome.SEEN, survivor_id, absorbed_id, reason=refused["seen"])
    return finish(store, tenant_id, Incident.from_doc(stored), at=at, why=why)


def finish(
    store: DocumentStore, tenant_id: str, absorbed: Incident, *, at: datetime, why: str = ""
) -> Merge:
    """Move a merged incident's alerts to where it ended up and fold in its counts.

    Safe to run any number of times: what was moved is not there to move
    again, and the survivor's counts take the incident in once.
    """
    assert absorbed.merged_into is not None
    survivor_id, _ = follow(store, tenant_id, absorbed.merged_into)
    moved = members.move(store, tenant_id, absorbed.id, survivor_id)
    survivor_id, status, signal = _fold(store, tenant_id, survivor_id, absorbed, moved, at, why)
    # The survivor may have been merged on in the meantime: alerts moved into it
    # after its own move follow it.
    current = store.get(Container.INCIDENTS, tenant_id, survivor_id)
    if current is not None and current.get("merged_into"):
        onward = finish(store, tenant_id, Incident.from_doc(current), at=at)
        return Merge(
            Outcome.MERGED,
            onward.survivor,
            absorbed.id,
            moved=(*moved, *onward.moved),
            status=onward.status,
            signal=onward.signal,
        )
    return Merge(
        Outcome.MERGED, survivor_id, absorbed.id, moved=moved, status=status, signal=signal
    )


def _fold(
    store: DocumentStore,
    tenant_id: str,
    survivor_id: str,
    absorbed: Incident,
    moved: Sequence[IncidentAlert],
    at: datetime,
    why: str,
) -> tuple[str, IncidentStatus | None, bool]:
    """Add the absorbed incident's counts to the survivor once; (where, status, wake)."""
    key = f"absorbed:{absorbed.id}"
    text = (
        f"Took in {absorbed.id} ({absorbed.title}; {absorbed.alert_count} alert(s)) before "
        "anyone was told of it" + (f": {why}" if why else "")
    )
    firing = any(m.status is not AlertStatus.RESOLVED for m in moved)
    outcome: dict[str, Any] = {}
    for _ in range(_HOPS):
        outcome.clear()

        def add(doc: dict[str, Any]) -> dict[str, Any] | None:
            incident = Incident.from_doc(doc)
            outcome["status"] = incident.status
            if incident.merged_into is not None:
                outcome["onward"] = incident.merged_into
                return None
            if any(n.get("key") == key for n in incident.notes):
                return None  # taken in by an earlier attempt
            status, resolved_at = incident.status, incident.resolved_at
            if status is IncidentStatus.RESOLVED and firing:
                status, resolved_at = IncidentStatus.OPEN, None  # its alerts fire still
            severity = max(incident.severity, absorbed.severity, key=lambda s: s.rank)
            signal = announced(severity) and wake_needed(incident.wake_requested_at, at)
            outcome["status"], outcome["signal"] = status, signal
            latest = [t for t in (incident.latest_start, absorbed.latest_start) if t is not None]
            update: dict[str, Any] = {
                "alert_count": incident.alert_count + absorbed.alert_count,
                "services": tuple(dict.fromkeys([*incident.services, *absorbed.services])),
                "instances": tuple(dict.fromkeys([*incident.instances, *absorbed.instances])),
                "severity": severity,
                "status": status,
                "resolved_at": resolved_at,
                "first_seen": min(incident.first_seen, absorbed.first_seen),
                "latest_start": max(latest) if latest else None,
                "last_seen": max(incident.last_seen, absorbed.last_seen),
                "source_links": tuple(
                    dict.fromkeys([*incident.source_links, *absorbed.source_links])
                )[:20],
                "notes": (*incident.notes, _note(key, text, at)),
                "alert_revision": incident.alert_revision + 1,
                "updated_at": at,
            }
            if signal:
                update["wake_requested_at"] = at
            return incident.model_copy(update=update).to_doc()

        stored = update_with_retry(store, Container.INCIDENTS, tenant_id, survivor_id, add)
        if stored is None:
            return survivor_id, None, False
        if "onward" not in outcome:
            return survivor_id, outcome.get("status"), bool(outcome.get("signal", False))
        survivor_id = str(outcome["onward"])
    raise PreconditionFailed(f"{absorbed.id}: merges chained beyond {_HOPS} incidents")


@dataclass(frozen=True, slots=True)
class Moved:
    """What ``move_alert`` did."""

    outcome: Outcome
    into: str
    """The incident the alert is in afterwards."""
    moved: tuple[IncidentAlert, ...] = ()
    touched: tuple[tuple[str, IncidentStatus, bool], ...] = ()
    """(incident, status, wake) of each incident whose alerts changed."""


def move_alert(
    store: DocumentStore,
    tenant_id: str,
    fingerprint: str,
    from_id: str,
    to_id: str,
    *,
    reason: str,
    at: datetime,
) -> Moved:
    """Move the alert ``fingerprint`` from ``from_id`` to ``to_id`` unless people may
    have seen ``from_id``; ``reason`` says why on both.

    Idempotent: the source is marked first (its count taken down once, under
    ``moved-out:``), the membership copied then deleted, the destination counts
    it once (``moved-in:``); a retry finishes what a crash left.
    """
    from_id, source = follow(store, tenant_id, from_id)
    to_id, dest = follow(store, tenant_id, to_id)
    if source is None or dest is None or from_id == to_id:
        return Moved(Outcome.CLOSED, from_id)
    out_key = f"moved-out:{fingerprint}"
    docs = store.query(
        Container.INCIDENT_ALERTS,
        tenant_id,
        [Filter("incidentId", "=", from_id), Filter("fingerprint", "=", fingerprint)],
    )
    marked = any(n.get("key") == out_key for n in Incident.from_doc(source).notes)
    if marked and any(
        n.get("key") == f"moved-in:{fingerprint}" for n in Incident.from_doc(dest).notes
    ):
        # Done already (``_take_in`` is the last step): a retry finds nothing to do,
        # and an alert of that fingerprint in ``from_id`` now is a re-fire, not this move.
        return Moved(Outcome.MERGED, to_id)
    if not docs and not marked:
        return Moved(Outcome.CLOSED, from_id)  # not there (a resolution moved on, a re-fire)
    if dest.get("status") == IncidentStatus.RESOLVED.value:
        return Moved(Outcome.CLOSED, from_id)
    if not marked and seen_by_people(store, tenant_id, source) is not None:
        return Moved(Outcome.SEEN, from_id)
    refused: dict[str, Outcome] = {}
    out_status: dict[str, Any] = {}

    def mark(doc: dict[str, Any]) -> dict[str, Any] | None:
        incident = Incident.from_doc(doc)
        out_status["status"] = incident.status
        if any(n.get("key") == out_key for n in incident.notes):
            return None  # marked by an earlier attempt
        if incident.merged_into is not None or incident.status is IncidentStatus.RESOLVED:
            refused["why"] = Outcome.CLOSED
            return None
        if incident.announced_at is not None or incident.status is not IncidentStatus.OPEN:
            refused["why"] = Outcome.SEEN  # the post won the race
            return None
        note = _note(
            out_key, f"Alert {fingerprint} moved to {to_id} before anyone was told: {reason}", at
        )
        signal = wake_needed(incident.wake_requested_at, at)
        out_status["signal"] = signal
        update: dict[str, Any] = {
            "alert_count": max(incident.alert_count - 1, 0),
            "notes": (*incident.notes, note),
            "alert_revision": incident.alert_revision + 1,
            "updated_at": at,
        }
        if signal:
            update["wake_requested_at"] = at
        return incident.model_copy(update=update).to_doc()

    update_with_retry(store, Container.INCIDENTS, tenant_id, from_id, mark)
    if "why" in refused:
        return Moved(refused["why"], from_id)
    moved: list[IncidentAlert] = []
    for doc in docs:
        doc.pop("_etag", None)
        old = IncidentAlert.from_doc(doc)
        wanted = old.model_copy(update={"id": member_id(to_id, old.alert_id), "incident_id": to_id})
        with contextlib.suppress(Conflict):  # there already: an earlier attempt's
            store.create(Container.INCIDENT_ALERTS, tenant_id, wanted.to_doc())
        store.delete(Container.INCIDENT_ALERTS, tenant_id, old.id)
        moved.append(wanted)
    touched = [
        (from_id, out_status.get("status", IncidentStatus.OPEN), bool(out_status.get("signal")))
    ]
    touched.append(_take_in(store, tenant_id, to_id, fingerprint, moved, from_id, reason, at))
    return Moved(Outcome.MERGED, to_id, tuple(moved), tuple(touched))


def _take_in(
    store: DocumentStore,
    tenant_id: str,
    to_id: str,
    fingerprint: str,
    moved: Sequence[IncidentAlert],
    from_id: str,
    reason: str,
    at: datetime,
) -> tuple[str, IncidentStatus, bool]:
    """Count a moved alert into ``to_id`` once; (incident, status, wake)."""
    key = f"moved-in:{fingerprint}"
    outcome: dict[str, Any] = {}

    def add(doc: dict[str, Any]) -> dict[str, Any] | None:
        incident = Incident.from_doc(doc)
        outcome["status"] = incident.status
        if any(n.get("key") == key for n in incident.notes):
            return None
        severity = max([incident.severity, *(m.severity for m in moved)], key=lambda s: s.rank)
        signal = announced(severity) and wake_needed(incident.wake_requested_at, at)
        outcome["signal"] = signal
        starts = [m.starts_at for m in moved]
        update: dict[str, Any] = {
            "alert_count": incident.alert_count + 1,
            "services": tuple(
                dict.fromkeys([*incident.services, *(m.service for m in moved if m.service)])
            ),
            "instances": tuple(
                dict.fromkeys([*incident.instances, *(m.instance for m in moved if m.instance)])
            ),
            "severity": severity,
            "first_seen": min([incident.first_seen, *starts]),
            "notes": (
                *incident.notes,
                _note(key, f"Alert {fingerprint} moved here from {from_id}: {reason}", at),
            ),
            "alert_revision": incident.alert_revision + 1,
            "updated_at": at,
        }
        if signal:
            update["wake_requested_at"] = at
        return incident.model_copy(update=update).to_doc()

    update_with_retry(store, Container.INCIDENTS, tenant_id, to_id, add)
    return to_id, outcome.get("status", IncidentStatus.OPEN), bool(outcome.get("signal"))


def where(alert: Alert) -> str:
    """The alert as a reason names it: its name, and the service (or instance) it is on."""
    on = alert.service or alert.instance
    return f"{alert.name} on {on}" if on else alert.name


def _note(key: str, text: str, at: datetime) -> dict[str, str]:
    return {"at": iso(at), "source": "correlation", "key": key, "text": text}
