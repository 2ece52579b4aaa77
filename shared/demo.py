"""``make demo``: the product on one machine with nothing configured.

Starts the local host on the embedded store (a fresh demo home each run, so
the same scenarios produce messages again), adds a demo tenant, sends three
public scenario bundles from the kit beside the repository (or the samples
shipped in ``samples/bundles`` when the kit is absent) as real senders would,
and shows each incident's message in the terminal.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console

from shared import bootstrap
from shared.errors import BadInput
from shared.models.tenant import Service, Tenant, Topology
from shared.sender import read_scenario, send_bundle
from shared.settings import load_settings

DEMO_TENANT = "demo"


def find_bundles(repo_root: Path, count: int) -> list[Path]:
    kit = repo_root.parent / "shared" / "scenarios" / "public" / "incidents"
    if kit.is_dir():
        found = sorted(p for p in kit.iterdir() if (p / "scenario.json").is_file())
        if found:
            return found[:count]
    return sorted(p for p in (repo_root / "samples" / "bundles").iterdir() if p.is_dir())[:count]


def merged_topology(bundles: list[Path]) -> Topology:
    services: dict[str, Service] = {}
    for bundle in bundles:
        topology = Topology.model_validate(read_scenario(bundle).get("topology", {}))
        for service in topology.services:
            services.setdefault(service.name, service)
    return Topology(services=tuple(services.values()))


def run_demo(
    app_path: Path, repo_root: Path, *, once: bool, port: int, count: int, console: Console
) -> None:
    from shared.devhost import DevHost, load_function_app

    base = load_settings()
    home = base.home / "demo"
    shutil.rmtree(home, ignore_errors=True)
    settings = base.model_copy(update={"home": home, "store": "sqlite"})
    rt = bootstrap.configure(bootstrap.build(settings))
    bundles = find_bundles(repo_root, count)
    if not bundles:
        raise BadInput("no scenario bundles found (neither ../shared nor samples/bundles)")
    tenant = Tenant(
        id=DEMO_TENANT,
        tenant_id=DEMO_TENANT,
        name="Demo",
        alertmanager_token=SecretStr("demo-alertmanager-token"),
        pagerduty_secrets=(SecretStr("demo-pagerduty-secret"),),
        change_token=SecretStr("demo-change-token"),
        topology=merged_topology(bundles),
    )
    rt.tenants.add(tenant, replace=True)
    host = DevHost(load_function_app(app_path), rt.store, port=port, task_hub=settings.task_hub)
    host.start()
    try:
        console.print(f"[bold]SRE Copilot[/bold] local host on {host.base_url}/api (home {home})")
        for bundle in bundles:
            console.rule(f"scenario {bundle.name}")
            for delivery in send_bundle(read_scenario(bundle), tenant, host.base_url):
                console.print(
                    f"  {delivery.status} {delivery.kind.split('/api/')[-1]}", style="dim"
                )
            host.wait_for_idle(timeout=60)
        console.rule()
        console.print(f"messages saved under {settings.messages_dir}")
        if once:
            return
        console.print(
            f"still serving: point Alertmanager at {host.base_url}/api/tenants/{DEMO_TENANT}"
            "/webhooks/alertmanager (Bearer demo-alertmanager-token). Ctrl-C to stop."
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        host.stop()
