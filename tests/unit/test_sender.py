"""``send`` with tokens the store keeps only as hashes."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from shared.errors import BadInput
from shared.models.tenant import Tenant
from shared.sender import send_bundle

SCENARIO = {
    "changes": [{"kind": "deployment", "service": "checkout"}],
    "webhooks": [{"source": "alertmanager", "body": {}}],
}


def test_a_stored_tenant_needs_its_tokens_passed() -> None:
    stored = Tenant(id="acme", tenant_id="acme", name="Acme", change_token=SecretStr("c")).sealed()
    with pytest.raises(
        BadInput, match="keeps only a hash of its change token: pass it with --change-token"
    ):
        send_bundle(SCENARIO, stored, "http://127.0.0.1:9")
    with pytest.raises(
        BadInput, match="has no Alertmanager token: pass one with --alertmanager-token"
    ):
        send_bundle({"webhooks": SCENARIO["webhooks"]}, stored, "http://127.0.0.1:9")
    with pytest.raises(BadInput, match="cannot reach"):  # the token was found; the host is not
        send_bundle(SCENARIO, stored, "http://127.0.0.1:9", change_token="c")
