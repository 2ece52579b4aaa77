"""Sending a scenario bundle to a running host exactly as real senders would.

Alertmanager deliveries carry the tenant's bearer token; PagerDuty deliveries
are signed with the tenant's first secret (``X-PagerDuty-Signature: v1=``);
changes go to the change feed first, since they happened before the alerts.

The store keeps bearer tokens as hashes, so a tenant read back from it cannot
lend its tokens: the caller passes them (``send --alertmanager-token``), or
passes the tenant it made itself (the demo), which still holds them in memory.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from shared.errors import BadInput
from shared.ingestion.auth import pagerduty_signature
from shared.models.tenant import Tenant


@dataclass(frozen=True, slots=True)
class Delivery:
    kind: str
    status: int
    body: dict[str, Any]


def read_scenario(bundle: Path) -> dict[str, Any]:
    path = bundle / "scenario.json" if bundle.is_dir() else bundle
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path}: file not found (a bundle folder holds scenario.json)") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: bad JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected a JSON object")
    for field in ("webhooks", "changes"):
        if not isinstance(data.get(field, []), list):
            raise BadInput(f"{path}: field '{field}' must be a list")
    return data


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Delivery:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Delivery(
                kind=url, status=response.status, body=json.loads(response.read() or b"{}")
            )
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            parsed = {"reason": raw.decode(errors="replace")[:500]}
        return Delivery(kind=url, status=exc.code, body=parsed)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BadInput(f"cannot reach {url}: {reason} (is `sre-copilot serve` running?)") from None


def _token(
    given: str | None, tenant: Tenant, plain: SecretStr | None, hashed: bool, *, what: str
) -> str:
    """The token to send: the one given, else the tenant's plain one; BadInput says why not."""
    if given:
        return given
    if plain is not None and plain.get_secret_value():
        return plain.get_secret_value()
    option = f"{what.lower()}-token"
    if hashed:
        raise BadInput(
            f"tenant {tenant.id} keeps only a hash of its {what} token: pass it with --{option}"
        )
    raise BadInput(f"tenant {tenant.id} has no {what} token: pass one with --{option}")


def send_bundle(
    scenario: dict[str, Any],
    tenant: Tenant,
    base_url: str,
    *,
    timeout: float = 10.0,
    alertmanager_token: str | None = None,
    change_token: str | None = None,
) -> list[Delivery]:
    """Post the bundle's changes, then its webhooks in order; one Delivery each.

    ``alertmanager_token`` / ``change_token``: the bearer tokens to send, needed
    when ``tenant`` was read from the store (which keeps only their hashes).
    """
    root = f"{base_url.rstrip('/')}/api/tenants/{tenant.id}"
    results: list[Delivery] = []
    changes = scenario.get("changes", [])
    if changes:
        token = _token(
            change_token,
            tenant,
            tenant.change_token,
            tenant.change_token_hash is not None,
            what="change",
        )
        body = json.dumps({"changes": changes}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        results.append(_post(f"{root}/changes", body, headers, timeout))
    for index, hook in enumerate(scenario.get("webhooks", [])):
        source = hook.get("source")
        body = json.dumps(hook.get("body")).encode()
        headers = {"Content-Type": "application/json"}
        if source == "alertmanager":
            token = _token(
                alertmanager_token,
                tenant,
                tenant.alertmanager_token,
                tenant.alertmanager_token_hash is not None,
                what="Alertmanager",
            )
            headers["Authorization"] = f"Bearer {token}"
            headers["User-Agent"] = "Alertmanager/0.25.0"
        elif source == "pagerduty":
            if not tenant.pagerduty_secrets:
                raise BadInput(f"tenant {tenant.id} has no PagerDuty secret")
            secret = tenant.pagerduty_secrets[0].get_secret_value()
            headers["X-PagerDuty-Signature"] = pagerduty_signature(secret, body)
            headers["User-Agent"] = "PagerDuty-Webhook/V3.0"
        else:
            raise BadInput(f"webhooks[{index}].source: unknown source '{source}'")
        results.append(_post(f"{root}/webhooks/{source}", body, headers, timeout))
    return results
