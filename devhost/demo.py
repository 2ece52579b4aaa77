"""``make demo``: the product on one machine with nothing configured.

Starts the local host on the embedded store (a fresh demo home each run, so
the same scenarios produce messages again), adds a tenant per bundle, sends three
public scenario bundles from the kit beside the repository (or the samples
shipped in ``samples/bundles`` when the kit is absent) as real senders would,
and shows each incident's message in the terminal; with ``SLACK_BOT_TOKEN`` and
``SLACK_CHANNEL`` set, it posts them to that Slack channel as well.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console

from shared import bootstrap
from shared.errors import BadInput
from shared.feedback.learning import import_history
from shared.models.tenant import Tenant, Topology
from shared.replay.bundle import find_runbooks_dir
from shared.sender import read_scenario, send_bundle
from shared.settings import load_settings

DEMO_PREFIX = "demo"


def find_bundles(repo_root: Path, count: int) -> list[Path]:
    kit = repo_root.parent / "shared" / "scenarios" / "public" / "incidents"
    if kit.is_dir():
        found = sorted(p for p in kit.iterdir() if (p / "scenario.json").is_file())
        if found:
            return found[:count]
    return sorted(p for p in (repo_root / "samples" / "bundles").iterdir() if p.is_dir())[:count]


def demo_tenant(bundle: Path, slack_channel: str = "") -> Tenant:
    """A tenant per bundle: its topology, its metrics file standing in for Prometheus."""
    scenario = read_scenario(bundle)
    name = re.sub(r"[^a-z0-9-]+", "-", f"{DEMO_PREFIX}-{bundle.name}".lower()).strip("-")[:63]
    metrics = bundle / "metrics.om"
    return Tenant(
        id=name,
        tenant_id=name,
        name=f"Demo {bundle.name}",
        alertmanager_token=SecretStr("demo-alertmanager-token"),
        pagerduty_secrets=(SecretStr("demo-pagerduty-secret"),),
        change_token=SecretStr("demo-change-token"),
        topology=Topology.model_validate(scenario.get("topology", {})),
        metrics_file=str(metrics) if metrics.is_file() else None,
        slack_channel_id=slack_channel or None,
    )


def run_demo(
    app_path: Path, repo_root: Path, *, once: bool, port: int, count: int, console: Console
) -> None:
    from devhost.catalog import load_function_app
    from devhost.server import DevHost

    bundles = find_bundles(repo_root, count)
    if not bundles:
        raise BadInput("no scenario bundles found (neither ../shared nor samples/bundles)")
    base = load_settings()
    home = base.home / "demo"
    shutil.rmtree(home, ignore_errors=True)
    runbooks = find_runbooks_dir(bundles[0]) or repo_root / "samples" / "runbooks"
    settings = base.model_copy(update={"home": home, "store": "sqlite", "runbooks_dir": runbooks})
    rt = bootstrap.configure(bootstrap.build(settings))
    tenants = []
    for bundle in bundles:
        tenant = rt.tenants.add(demo_tenant(bundle, settings.slack_channel), replace=True)
        history_file = bundle / "history.json"
        if history_file.is_file():
            import_history(
                rt.store, tenant.id, json.loads(history_file.read_text(encoding="utf-8"))
            )
        tenants.append(tenant)
    host = DevHost(load_function_app(app_path), rt.store, port=port, task_hub=settings.task_hub)
    host.start()
    try:
        console.print(f"[bold]SRE Copilot[/bold] local host on {host.base_url}/api (home {home})")
        for bundle, tenant in zip(bundles, tenants, strict=True):
            console.rule(f"scenario {bundle.name} → tenant {tenant.id}")
            for delivery in send_bundle(read_scenario(bundle), tenant, host.base_url):
                path = delivery.kind.split("/api/")[-1]
                console.print(f"  {delivery.status} {path}", style="dim")
            host.wait_for_idle(timeout=60)
        console.rule()
        console.print(f"messages saved under {settings.messages_dir}")
        if once:
            return
        first = tenants[0].id
        console.print(
            f"still serving: point Alertmanager at {host.base_url}/api/tenants/{first}"
            "/webhooks/alertmanager (Bearer demo-alertmanager-token). Ctrl-C to stop."
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        host.stop()
