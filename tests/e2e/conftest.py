"""A live local host over real HTTP, on the embedded store, for end-to-end tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from devhost import DevHost, ManualClock, load_function_app
from functions.incident import ALERT_SETTLE
from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.models.tenant import Service, Tenant, Topology
from shared.settings import Settings

REPO = Path(__file__).parents[2]


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    text: str


@dataclass
class Live:
    host: DevHost
    runtime: bootstrap.Runtime
    tenant: Tenant
    clock: ManualClock

    def settle(self) -> bool:
        """Let coalesced alert changes be analysed (durable timers), then drain."""
        assert self.host.wait_for_idle(timeout=20)
        self.clock.advance(ALERT_SETTLE + timedelta(seconds=1))
        return self.host.wait_for_idle(timeout=20)

    @property
    def url(self) -> str:
        return self.host.base_url

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Reply:
        return self.request("POST", path, body, headers)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        req = urllib.request.Request(
            f"{self.url}{path}", data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                text = response.read().decode()
                status = response.status
        except urllib.error.HTTPError as exc:
            text = exc.read().decode()
            status = exc.code
        try:
            parsed = json.loads(text) if text else {}
        except json.JSONDecodeError:
            parsed = {}
        return Reply(status, parsed, text)


def make_tenant(name: str = "acme") -> Tenant:
    return Tenant(
        id=name,
        tenant_id=name,
        name=name.title(),
        alertmanager_token=SecretStr("am-token"),
        pagerduty_secrets=(SecretStr("pd-old"), SecretStr("pd-secret")),
        change_token=SecretStr("chg-token"),
        topology=Topology(
            services=(
                Service(name="checkout", depends_on=("payments-db",), instances=("node-1",)),
                Service(name="payments-db", instances=("node-3",)),
            )
        ),
    )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    settings = Settings(home=tmp_path / "home", echo_messages=False)
    store = SqliteStore(settings.sqlite_path)
    runtime = bootstrap.configure(bootstrap.build(settings, store=store))
    tenant = make_tenant()
    runtime.tenants.add(tenant)
    clock = ManualClock(datetime.now(UTC))
    host = DevHost(
        load_function_app(REPO / "function_app.py"), store, clock=clock, run_timers=False
    )
    host.start()
    try:
        yield Live(host=host, runtime=runtime, tenant=tenant, clock=clock)
    finally:
        host.stop()
        bootstrap.reset()
        store.close()
