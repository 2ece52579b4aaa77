"""The tenant admin use cases: list, create, read, update, rotate, set policy, disable,
the kill switches.

Each takes parsed input and the caller's audit name (``actor``) and returns a
JSON-able value. Secrets leave only once: ``create`` and ``rotate`` return the
credentials they generated; every other answer (``view``) says of each secret
only whether it is set and when it was rotated. Each write appends a record
to the tenant's hash-chained audit trail (``shared.audit.append``).

Bearer tokens are generated here and stored as ``TokenHash``es; the PagerDuty
signing secret is an HMAC key the product must hold, so it is stored as it is,
and a rotation keeps the previous one valid for an overlap (default 24 h) so
that deliveries signed while the subscription changes still verify.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr, ValidationError

from shared.audit import record as audit_record
from shared.autonomy import kill_switch
from shared.autonomy.policies import load_policy, set_policy, to_json
from shared.clock import Clock
from shared.errors import BadInput
from shared.json_input import parse_json
from shared.models.base import iso
from shared.models.tenant import Tenant, TokenHash
from shared.ports.store import DocumentStore
from shared.tenants.registry import TenantRegistry

EDITABLE = (
    "name",
    "slack_team_id",
    "slack_channel_id",
    "slack_bot_token",
    "prometheus_url",
    "signal_overrides",
    "responders",
    "approvers",
    "topology",
    "timezone",
    "forecast_horizon_hours",
)
"""What create and update may set; credentials change only through rotate."""
SECRET_FIELDS = frozenset({"slack_bot_token"})
CREDENTIALS = ("alertmanager_token", "change_token", "pagerduty_secret")
DEFAULT_OVERLAP_HOURS = 24.0
MAX_OVERLAP_HOURS = 168.0
MAX_POLICY_BYTES = 256 * 1024


def new_secret() -> str:
    """A credential: 32 random bytes, URL-safe text."""
    return secrets.token_urlsafe(32)


class TenantAdmin:
    """The use cases over the registry, the store and the clock."""

    def __init__(
        self,
        store: DocumentStore,
        tenants: TenantRegistry,
        clock: Clock,
        *,
        kill_switch_setting: bool = False,
        announce: kill_switch.Tell | None = None,
    ) -> None:
        self._store = store
        self._tenants = tenants
        self._clock = clock
        self._forced = kill_switch_setting  # SRE_COPILOT_AUTONOMY_KILL_SWITCH, shown as such
        self._announce = announce

    def list(self) -> dict[str, Any]:
        return {"tenants": [summary(t) for t in self._tenants.list()]}

    def read(self, tenant_id: str) -> dict[str, Any]:
        return self.view(self._tenants.get(tenant_id))

    def create(self, body: bytes, *, actor: str) -> dict[str, Any]:
        """A new tenant from a JSON body; its credentials are in the answer, and only there."""
        fields = _object(body)
        tenant_id = fields.pop("id", None)
        if not isinstance(tenant_id, str) or not tenant_id:
            raise BadInput(
                "field 'id': required, the tenant's name (lower-case letters, digits, '-')"
            )
        given_pd = fields.pop("pagerduty_secret", None)
        if given_pd is not None and (not isinstance(given_pd, str) or len(given_pd) < 16):
            raise BadInput("field 'pagerduty_secret': a string of at least 16 characters")
        _only(fields, EDITABLE)
        now = self._clock.now()
        am, ct, pd = new_secret(), new_secret(), given_pd or new_secret()
        tenant = _validated(
            {
                "id": tenant_id,
                "tenantId": tenant_id,
                "name": tenant_id,
                **_checked(fields),
                "alertmanager_token": am,
                "change_token": ct,
                "pagerduty_secrets": [pd],
                "pagerduty_rotated_at": iso(now),
            }
        ).sealed(at=now)  # the tokens as their hashes, as the registry stores them
        self._tenants.add(tenant)
        self._audit(
            tenant.id,
            actor,
            "tenant.create",
            {"fields": sorted(fields), "credentials": list(CREDENTIALS)},
        )
        credentials = {"alertmanager_token": am, "change_token": ct}
        if given_pd is None:
            credentials["pagerduty_secret"] = pd
        return {"tenant": self.view(tenant), "credentials": credentials}

    def update(self, tenant_id: str, body: bytes, *, actor: str) -> dict[str, Any]:
        """Set the fields the JSON body names (``null`` clears an optional one)."""
        fields = _object(body)
        _only(fields, EDITABLE)
        if not fields:
            raise BadInput(f"body names no field to change (fields: {', '.join(EDITABLE)})")
        changes = _checked(fields)

        def change(current: Tenant) -> Tenant:
            return _validated({**current.to_doc(), **changes})

        tenant = self._tenants.update(tenant_id, change)
        detail = {
            "fields": {k: ("(set)" if k in SECRET_FIELDS and v else v) for k, v in changes.items()}
        }
        self._audit(tenant_id, actor, "tenant.update", detail)
        return self.view(tenant)

    def rotate(self, tenant_id: str, body: bytes, *, actor: str) -> dict[str, Any]:
        """New credentials, returned once.

        Body (all optional): ``credentials`` (which of ``alertmanager_token``,
        ``change_token``, ``pagerduty_secret``; default all), ``pagerduty_secret``
        (the one PagerDuty gave the subscription, instead of a generated one),
        ``overlap_hours`` (how long the previous PagerDuty secret still verifies,
        0-168, default 24). Bearer tokens change at once: the old one is refused.
        """
        fields = _object(body) if body.strip() else {}
        _only(fields, ("credentials", "pagerduty_secret", "overlap_hours"))
        which = fields.get("credentials", list(CREDENTIALS))
        if not isinstance(which, list) or not which or any(c not in CREDENTIALS for c in which):
            raise BadInput(f"field 'credentials': a non-empty list of {', '.join(CREDENTIALS)}")
        given_pd = fields.get("pagerduty_secret")
        if given_pd is not None and (not isinstance(given_pd, str) or len(given_pd) < 16):
            raise BadInput("field 'pagerduty_secret': a string of at least 16 characters")
        if given_pd is not None and "pagerduty_secret" not in which:
            raise BadInput("field 'pagerduty_secret': given, but 'credentials' does not rotate it")
        overlap = fields.get("overlap_hours", DEFAULT_OVERLAP_HOURS)
        if (
            isinstance(overlap, bool)
            or not isinstance(overlap, int | float)
            or not 0 <= overlap <= MAX_OVERLAP_HOURS
        ):
            raise BadInput(f"field 'overlap_hours': a number from 0 to {MAX_OVERLAP_HOURS:g}")
        now = self._clock.now()
        fresh = {c: new_secret() for c in which}
        if given_pd is not None:
            fresh["pagerduty_secret"] = given_pd
        until = now + timedelta(hours=overlap) if overlap else None

        def change(current: Tenant) -> Tenant:
            update: dict[str, Any] = {}
            for token in ("alertmanager_token", "change_token"):
                if token in fresh:  # sealed into its hash by the registry (at ``now``)
                    update[token] = SecretStr(fresh[token])
            if "pagerduty_secret" in fresh:
                new = SecretStr(fresh["pagerduty_secret"])
                previous = current.pagerduty_secrets_at(now)[:1]
                update["pagerduty_secrets"] = (new, *previous) if until else (new,)
                update["pagerduty_previous_until"] = until if previous else None
                update["pagerduty_rotated_at"] = now
            return current.model_copy(update=update)

        tenant = self._tenants.update(tenant_id, change, now=now)
        detail: dict[str, Any] = {"credentials": sorted(fresh)}
        if "pagerduty_secret" in fresh:
            detail["pagerduty_previous_until"] = iso(until) if until else None
        self._audit(tenant_id, actor, "tenant.rotate", detail)
        if given_pd is not None:
            del fresh["pagerduty_secret"]  # the caller has it: PagerDuty showed it to them
        return {"tenant": self.view(tenant), "credentials": fresh}

    def set_policy(self, tenant_id: str, body: bytes, *, actor: str) -> dict[str, Any]:
        """Make the YAML body the tenant's remediation policy (audited as ``policy.set``)."""
        self._tenants.get(tenant_id)
        if len(body) > MAX_POLICY_BYTES:
            raise BadInput(f"policy of {len(body)} bytes is over {MAX_POLICY_BYTES}")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput("policy body is not UTF-8 text") from None
        if not text.strip():
            raise BadInput("policy body is empty (expected the policy YAML)")
        stored = set_policy(
            self._store, tenant_id, text, now=self._clock.now(), actor=actor, source="policy"
        )
        answer = to_json(tenant_id, stored)
        answer["actions"] = stored.summary()
        return answer

    def disable(self, tenant_id: str, body: bytes, *, actor: str) -> dict[str, Any]:
        """Turn the tenant off: its webhooks and change feed answer 403 from now on."""
        fields = _object(body) if body.strip() else {}
        _only(fields, ("reason",))
        reason = fields.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
            raise BadInput("field 'reason': text of at most 500 characters")
        now = self._clock.now()
        was: dict[str, bool] = {}

        def change(current: Tenant) -> Tenant:
            was["disabled"] = current.disabled
            if current.disabled:
                return current
            return current.model_copy(update={"disabled_at": now, "disabled_reason": reason})

        tenant = self._tenants.update(tenant_id, change)
        if not was["disabled"]:
            self._audit(tenant_id, actor, "tenant.disable", {"reason": reason})
        return self.view(tenant)

    def set_kill_switch(self, tenant_id: str | None, body: bytes, *, actor: str) -> dict[str, Any]:
        """Flip the tenant's kill switch (None: the global one); audited in each chain it stops.

        Body ``{"on": bool, "by": text, "reason": text}``; ``by`` (the person
        on whose word) defaults to the caller, who is the audit record's actor.
        """
        fields = _object(body)
        _only(fields, ("on", "by", "reason"))
        done, told = kill_switch.switch(
            self._store,
            self._tenants,
            tenant_id,
            on=fields.get("on"),
            by=fields.get("by", actor),
            reason=fields.get("reason"),
            now=self._clock.now(),
            actor=actor,
            via="admin API",
            tell=self._announce,
        )
        return done.to_json() | {"told": list(told)}

    def kill_switches(self, tenant_id: str | None) -> dict[str, Any]:
        """The switches as the engine reads them: the global one, and the tenant's if named."""
        if tenant_id is None:
            return {"global": kill_switch.global_state(self._store, forced=self._forced)}
        self._tenants.get(tenant_id)
        return kill_switch.read(self._store, tenant_id, forced=self._forced).to_json()

    def view(self, tenant: Tenant) -> dict[str, Any]:
        """The tenant as the API shows it: every setting, and of each secret only its state."""
        policy = load_policy(self._store, tenant.id)
        return {
            "id": tenant.id,
            "name": tenant.name,
            "disabled": tenant.disabled,
            "disabled_at": iso(tenant.disabled_at) if tenant.disabled_at else None,
            "disabled_reason": tenant.disabled_reason,
            "slack_team_id": tenant.slack_team_id,
            "slack_channel_id": tenant.slack_channel_id,
            "prometheus_url": tenant.prometheus_url,
            "metrics_file": tenant.metrics_file,
            "signal_overrides": dict(tenant.signal_overrides),
            "responders": list(tenant.responders),
            "approvers": list(tenant.approvers),
            "timezone": tenant.timezone,
            "forecast_horizon_hours": tenant.forecast_horizon_hours,
            "topology": tenant.topology.model_dump(mode="json"),
            "credentials": credential_state(tenant, self._clock.now()),
            "policy": None
            if policy is None
            else {
                "version": policy.version,
                "updated_at": iso(policy.updated_at),
                "updated_by": policy.updated_by,
            },
        }

    def _audit(self, tenant_id: str, actor: str, action: str, detail: dict[str, Any]) -> None:
        audit_record(
            self._store,
            tenant_id,
            at=self._clock.now(),
            actor=actor,
            action=action,
            subject=f"tenant:{tenant_id}",
            detail={"via": "admin API", **detail},
        )


def summary(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "disabled": tenant.disabled,
        "slack_team_id": tenant.slack_team_id,
        "slack_channel_id": tenant.slack_channel_id,
        "services": len(tenant.topology.services),
    }


def credential_state(tenant: Tenant, now: datetime) -> dict[str, Any]:
    """Whether each credential is set, how it is stored and when it was rotated; no values."""

    def bearer(plain: SecretStr | None, hashed: TokenHash | None) -> dict[str, Any]:
        if hashed is not None:
            at = iso(hashed.set_at) if hashed.set_at else None
            return {"set": True, "stored": "hash", "rotated_at": at}
        if plain is not None and plain.get_secret_value():
            return {"set": True, "stored": "plain (hashed when next rotated)", "rotated_at": None}
        return {"set": False, "stored": None, "rotated_at": None}

    valid = tenant.pagerduty_secrets_at(now)
    until = tenant.pagerduty_previous_until
    return {
        "alertmanager_token": bearer(tenant.alertmanager_token, tenant.alertmanager_token_hash),
        "change_token": bearer(tenant.change_token, tenant.change_token_hash),
        "pagerduty_secret": {
            "set": bool(tenant.pagerduty_secrets),
            "valid_secrets": len(valid),
            "rotated_at": iso(tenant.pagerduty_rotated_at) if tenant.pagerduty_rotated_at else None,
            "previous_valid_until": iso(until) if until and len(valid) > 1 else None,
        },
        "slack_bot_token": {"set": tenant.slack_bot_token is not None},
    }


def _object(body: bytes) -> dict[str, Any]:
    value = parse_json(body)
    if not isinstance(value, dict):
        raise BadInput("body must be a JSON object")
    return value


def _only(fields: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise BadInput(
            f"field '{unknown[0][:80]}': not something this request can set "
            f"(allowed: {', '.join(allowed)})"
        )


def _checked(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Field checks the tenant model leaves to its writers (URLs)."""
    url = fields.get("prometheus_url")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2000
    ):
        raise BadInput("field 'prometheus_url': an http(s) URL")
    return dict(fields)


def _validated(doc: dict[str, Any]) -> Tenant:
    """The tenant ``doc`` describes, or ``BadInput`` naming the first bad field."""
    try:
        return Tenant.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadInput(f"field '{where}': {first['msg']}") from None
