"""The ingestion use case: one call per webhook delivery.

authenticate -> store the raw body -> parse and normalise -> dedup -> correlate.
The raw body is stored before anything can fail on its content, so nothing a
sender handed us is lost; the delivery's dedup record is written in a
"processing" state and completed last, so a sender's retry after a transient
failure (answered 503) is processed again instead of being taken for a
duplicate.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.clock import Clock
from shared.errors import (
    BadInput,
    Conflict,
    PayloadTooLarge,
    PreconditionFailed,
    SreCopilotError,
    StoreUnavailable,
)
from shared.incidents.work import announced
from shared.ingestion import auth
from shared.ingestion.correlation import Correlator, IncidentTouch
from shared.ingestion.normalisers import Normalised, normalise_alertmanager, normalise_pagerduty
from shared.ingestion.payloads import ChangeWire, validate
from shared.json_input import parse_json
from shared.models.base import doc_id, iso
from shared.models.change import ChangeEvent, ChangeKind
from shared.models.events import RawEvent, RawEventOutcome
from shared.models.incident import Incident
from shared.models.tenant import Tenant
from shared.ports.store import Container, DocumentStore, update_with_retry
from shared.settings import Settings
from shared.tenants.registry import TenantRegistry

STALE_PROCESSING = timedelta(seconds=60)
"""A dedup record left "processing" this long belongs to a delivery that died."""

MAX_CHANGES_PER_REQUEST = 500


class ReceiptStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the sender is told, and what the edge does next."""

    status: ReceiptStatus
    raw_event_id: str
    incidents: tuple[IncidentTouch, ...] = ()
    reason: str | None = None
    change_ids: tuple[str, ...] = field(default=())

    @property
    def to_signal(self) -> tuple[IncidentTouch, ...]:
        """The incidents whose orchestration the edge starts or wakes.

        None for a duplicate or ignored delivery; an incident of info alerts
        only is stored and listed, but has no orchestration to tell.
        """
        if self.status is not ReceiptStatus.ACCEPTED:
            return ()
        return tuple(t for t in self.incidents if t.signal)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status.value, "event": self.raw_event_id}
        if self.incidents:
            body["incident_id"] = self.incidents[0].incident_id
            body["incidents"] = [t.incident_id for t in self.incidents]
        if self.change_ids:
            body["changes"] = list(self.change_ids)
        if self.reason:
            body["reason"] = self.reason
        return body


Authenticator = Callable[[Tenant, Mapping[str, str], bytes], None]
NormaliseFn = Callable[..., Normalised]


class IngestService:
    """Receives webhook deliveries and change events for every tenant."""

    def __init__(
        self, store: DocumentStore, tenants: TenantRegistry, settings: Settings, clock: Clock
    ) -> None:
        self._store = store
        self._tenants = tenants
        self._settings = settings
        self._clock = clock
        self._correlator = Correlator(store)

    def alertmanager(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> Receipt:
        def check(tenant: Tenant, h: Mapping[str, str], _: bytes) -> None:
            auth.verify_bearer(
                h,
                tenant.alertmanager_token,
                hashed=tenant.alertmanager_token_hash,
                what="Alertmanager",
            )

        return self._receive(
            "alertmanager", tenant_id, headers, body, check, normalise_alertmanager
        )

    def pagerduty(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> Receipt:
        def check(tenant: Tenant, h: Mapping[str, str], raw: bytes) -> None:
            auth.verify_pagerduty(h, raw, tenant.pagerduty_secrets_at(self._clock.now()))

        return self._receive("pagerduty", tenant_id, headers, body, check, normalise_pagerduty)

    def changes(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> Receipt:
        """Store one change event, or a list of them (``{"changes": [...]}`` or ``[...]``)."""
        tenant = self._admit(tenant_id, body)
        auth.verify_bearer(
            headers, tenant.change_token, hashed=tenant.change_token_hash, what="change-feed"
        )
        raw = self._store_raw(tenant_id, "changes", headers, body)
        with self._closing(raw):
            try:
                items = _change_items(parse_json(body))
                now = self._clock.now()
                events = [
                    self._change_event(tenant_id, item, i, now) for i, item in enumerate(items)
                ]
            except (OverflowError, ValueError) as exc:  # a model's own check, past the wire's
                raise BadInput(f"invalid value: {exc}") from None
            for event in events:
                self._store.upsert(Container.CHANGES, tenant_id, event.to_doc())
            self._mark(raw, RawEventOutcome.ACCEPTED)
        return Receipt(
            status=ReceiptStatus.ACCEPTED,
            raw_event_id=raw.id,
            change_ids=tuple(e.id for e in events),
        )

    def _admit(self, tenant_id: str, body: bytes) -> Tenant:
        tenant = self._tenants.get_active(tenant_id)  # a disabled tenant's deliveries: 403
        if len(body) > self._settings.max_body_bytes:
            raise PayloadTooLarge(
                f"body of {len(body)} bytes is over the limit of {self._settings.max_body_bytes}"
            )
        return tenant

    def _receive(
        self,
        source: str,
        tenant_id: str,
        headers: Mapping[str, str],
        body: bytes,
        authenticate: Authenticator,
        normalise: NormaliseFn,
    ) -> Receipt:
        tenant = self._admit(tenant_id, body)
        authenticate(tenant, headers, body)
        raw = self._store_raw(tenant_id, source, headers, body)
        with self._closing(raw):
            return self._deliver(tenant, raw, body, normalise)

    def _deliver(
        self, tenant: Tenant, raw: RawEvent, body: bytes, normalise: NormaliseFn
    ) -> Receipt:
        tenant_id = tenant.id
        try:
            normalised = normalise(parse_json(body), tenant_id=tenant_id, raw_event_id=raw.id)
        except (OverflowError, ValueError) as exc:  # e.g. a time beyond the calendar in UTC
            raise BadInput(f"invalid value: {exc}") from None
        dedup_id = doc_id("delivery:", normalised.dedup_key)
        earlier = self._claim_delivery(tenant_id, dedup_id, raw.id)
        if earlier is not None:
            self._mark(raw, RawEventOutcome.DUPLICATE, reason=f"same as {earlier['rawEventId']}")
            touches = tuple(
                IncidentTouch(
                    incident_id=i, created=False, status=_status_of(self._store, tenant_id, i)
                )
                for i in earlier.get("incidentIds", [])
            )
            return Receipt(status=ReceiptStatus.DUPLICATE, raw_event_id=raw.id, incidents=touches)
        try:
            return self._process(tenant, raw, normalised, dedup_id)
        except (Conflict, PreconditionFailed) as exc:
            # Contention is transient: a 4xx would make the sender drop the alert.
            self._release_delivery(tenant_id, dedup_id)
            raise StoreUnavailable(f"contention on {exc.reason}; retry") from exc
        except Exception:
            # Let the sender's retry process it again rather than see a duplicate.
            self._release_delivery(tenant_id, dedup_id)
            raise

    def _process(
        self, tenant: Tenant, raw: RawEvent, normalised: Normalised, dedup_id: str
    ) -> Receipt:
        tenant_id = tenant.id
        now = self._clock.now()
        if normalised.ignored_reason:
            self._finish_delivery(tenant_id, dedup_id, raw.id, ())
            self._mark(raw, RawEventOutcome.IGNORED, reason=normalised.ignored_reason)
            return Receipt(
                status=ReceiptStatus.IGNORED, raw_event_id=raw.id, reason=normalised.ignored_reason
            )
        touches = list(self._correlator.apply(tenant_id, normalised.alerts, now, tenant.topology))
        for note in normalised.notes:
            noted = self._attach_note(tenant_id, note, now)
            if noted is not None:
                touches.append(noted)
        ids = tuple(t.incident_id for t in touches)
        self._finish_delivery(tenant_id, dedup_id, raw.id, ids)
        self._mark(raw, RawEventOutcome.ACCEPTED, incident_ids=ids)
        return Receipt(status=ReceiptStatus.ACCEPTED, raw_event_id=raw.id, incidents=tuple(touches))

    def _store_raw(
        self, tenant_id: str, source: str, headers: Mapping[str, str], body: bytes
    ) -> RawEvent:
        now = self._clock.now()
        raw = RawEvent(
            id=f"{now:%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}",
            tenant_id=tenant_id,
            source=source,
            received_at=now,
            body=body.decode("utf-8", errors="replace"),
            content_type=auth.header(headers, "Content-Type"),
        )
        self._store.create(Container.RAW_EVENTS, tenant_id, raw.to_doc())
        return raw

    @contextlib.contextmanager
    def _closing(self, raw: RawEvent) -> Iterator[None]:
        """Give the raw event its final state on every answer, errors included.

        Refused input is ``invalid``; anything answered 5xx (503 for contention
        or a delivery already in flight) is ``failed`` with the reason, so no
        raw event stays ``received`` once the sender has its answer.
        """
        try:
            yield
        except BadInput as exc:
            self._close(raw, RawEventOutcome.INVALID, exc.reason)
            raise
        except SreCopilotError as exc:
            self._close(raw, RawEventOutcome.FAILED, exc.reason)
            raise
        except Exception as exc:
            self._close(raw, RawEventOutcome.FAILED, f"internal error ({type(exc).__name__})")
            raise

    def _close(self, raw: RawEvent, outcome: RawEventOutcome, reason: str) -> None:
        # Best effort: when the store itself is down, the original error is the answer.
        with contextlib.suppress(SreCopilotError):
            self._mark(raw, outcome, reason=reason)

    def _mark(
        self,
        raw: RawEvent,
        outcome: RawEventOutcome,
        *,
        reason: str | None = None,
        incident_ids: tuple[str, ...] = (),
    ) -> None:
        updated = raw.model_copy(
            update={"outcome": outcome, "reason": reason, "incident_ids": incident_ids}
        )
        self._store.upsert(Container.RAW_EVENTS, raw.tenant_id, updated.to_doc())

    def _claim_delivery(self, tenant_id: str, dedup_id: str, raw_id: str) -> dict[str, Any] | None:
        """Claim the delivery; the earlier record when it is a true duplicate."""
        now = self._clock.now()
        record = {
            "id": dedup_id,
            "tenantId": tenant_id,
            "state": "processing",
            "rawEventId": raw_id,
            "claimedAt": iso(now),
            "ttl": self._settings.dedup_ttl_hours * 3600,
        }
        for _ in range(3):
            try:
                self._store.create(Container.DEDUP, tenant_id, record)
                return None
            except Conflict:
                earlier = self._store.get(Container.DEDUP, tenant_id, dedup_id)
                if earlier is None:
                    continue
                if earlier.get("state") != "processing":
                    return earlier
                if earlier.get("claimedAt", "") >= iso(now - STALE_PROCESSING):
                    # The first attempt may still fail: "duplicate" now could lose the alert.
                    raise StoreUnavailable("the same delivery is being processed; retry") from None
                try:  # take over a dead attempt's claim, unless someone else just did
                    self._store.replace(Container.DEDUP, tenant_id, record, etag=earlier["_etag"])
                    return None
                except PreconditionFailed:
                    continue
        raise StoreUnavailable("delivery record is contended; retry")

    def _finish_delivery(
        self, tenant_id: str, dedup_id: str, raw_id: str, incident_ids: tuple[str, ...]
    ) -> None:
        # Only the delivery that claimed the record writes it: no read-modify-write needed.
        record = {
            "id": dedup_id,
            "tenantId": tenant_id,
            "state": "done",
            "rawEventId": raw_id,
            "incidentIds": list(incident_ids),
            "claimedAt": iso(self._clock.now()),
            "ttl": self._settings.dedup_ttl_hours * 3600,
        }
        self._store.upsert(Container.DEDUP, tenant_id, record)

    def _release_delivery(self, tenant_id: str, dedup_id: str) -> None:
        # If this fails too, the record goes stale after STALE_PROCESSING and is reclaimed.
        with contextlib.suppress(SreCopilotError):
            self._store.delete(Container.DEDUP, tenant_id, dedup_id)

    def _attach_note(
        self, tenant_id: str, note: dict[str, Any], at: datetime
    ) -> IncidentTouch | None:
        fingerprint = f"pagerduty:{note['pagerduty_incident']}"
        incident_id = self._correlator.incident_of(tenant_id, fingerprint)
        if incident_id is None:
            return None

        def add(doc: dict[str, Any]) -> dict[str, Any]:
            incident = Incident.from_doc(doc)
            entry = {
                "at": str(note["at"]),
                "source": "pagerduty",
                "text": str(note["content"])[:2000],
            }
            if entry in incident.notes:
                return doc
            return incident.model_copy(
                update={"notes": (*incident.notes, entry), "updated_at": at}
            ).to_doc()

        stored = update_with_retry(self._store, Container.INCIDENTS, tenant_id, incident_id, add)
        if stored is None:
            return None
        incident = Incident.from_doc(stored)
        return IncidentTouch(
            incident_id=incident_id,
            created=False,
            status=incident.status,
            signal=announced(incident.severity),
        )

    def _change_event(self, tenant_id: str, item: Any, index: int, now: datetime) -> ChangeEvent:
        wire = validate(ChangeWire, item, what=f"change #{index}")
        at = wire.at or now
        if wire.kind != "deployment" and (wire.version or wire.previous_version):
            raise BadInput(f"invalid change #{index}: field 'version' is for deployments only")
        identity = (
            wire.id
            or hashlib.sha256(
                f"{wire.kind}|{wire.service}|{at.isoformat()}|{wire.version}|{wire.description}".encode()
            ).hexdigest()[:24]
        )
        return ChangeEvent(
            id=doc_id("chg-", identity),
            tenant_id=tenant_id,
            kind=ChangeKind(wire.kind),
            service=wire.service,
            at=at,
            version=wire.version,
            previous_version=wire.previous_version,
            description=wire.description,
            author=wire.author,
            url=wire.url,
        )


def _change_items(data: Any) -> list[Any]:
    if isinstance(data, dict) and "changes" in data:
        data = data["changes"]
    items = data if isinstance(data, list) else [data]
    if not items:
        raise BadInput("invalid change event: field 'changes': the list is empty")
    if len(items) > MAX_CHANGES_PER_REQUEST:
        raise BadInput(
            f"invalid change event: field 'changes': more than {MAX_CHANGES_PER_REQUEST}"
        )
    return items


def _status_of(store: DocumentStore, tenant_id: str, incident_id: str) -> Any:
    doc = store.get(Container.INCIDENTS, tenant_id, incident_id)
    return Incident.from_doc(doc).status if doc else "unknown"
