"""``sre-copilot``: run the local host, manage tenants, send bundles, read incidents.

Every command reads the same settings as the function app. Bad input ends
with a message naming the problem and exit code 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import secrets
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console
from rich.table import Table

from shared import bootstrap
from shared.errors import BadInput, NotFound, SreCopilotError
from shared.formatting import percent
from shared.incidents import stored_analysis
from shared.incidents.alerts import with_alerts
from shared.incidents.analysis import snapshot_of
from shared.models.analysis import NO_METRICS_SOURCE
from shared.models.incident import Incident
from shared.models.tenant import Tenant, Topology
from shared.notify.incident_message import evidence_gaps
from shared.ports.store import Container, Filter
from shared.sender import read_scenario, send_bundle
from shared.settings import Settings, load_settings
from shared.triage.impact import order_key

if TYPE_CHECKING:
    from shared.autonomy.kill_switch import Switches

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
tenants_app = typer.Typer(no_args_is_help=True, help="Add and list tenants.")
incidents_app = typer.Typer(no_args_is_help=True, help="Read incidents.")
app.add_typer(tenants_app, name="tenants")
app.add_typer(incidents_app, name="incidents")

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

REPO_ROOT = Path(__file__).resolve().parents[1]
FUNCTION_APP = REPO_ROOT / "function_app.py"


def friendly[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """Turn product errors into a one-line message and exit code 2.

    Whatever runtime the command opened is closed when it ends, so its store
    connections never outlive it (Python 3.13 warns about unclosed SQLite ones).
    """

    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SreCopilotError as exc:
            err.print(f"[red]error:[/red] {exc.reason}", soft_wrap=True)
            raise typer.Exit(2) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            err.print(
                f"[red]error:[/red] setting or field '{where}': {first['msg']}", soft_wrap=True
            )
            raise typer.Exit(2) from None
        finally:
            bootstrap.reset()

    return run


def _runtime(settings: Settings | None = None) -> bootstrap.Runtime:
    return bootstrap.configure(bootstrap.build(settings or load_settings()))


def _load_topology(path: Path) -> Topology:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: bad JSON at line {exc.lineno}: {exc.msg}") from None
    if isinstance(data, dict) and "topology" in data:
        data = data["topology"]  # a scenario.json works too
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadInput(
            f"{path}: field '{'.'.join(map(str, first['loc']))}': {first['msg']}"
        ) from None


@app.command()
@friendly
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7071,
) -> None:
    """Run the local Functions host with function_app.py until Ctrl-C."""
    from devhost import serve_forever

    rt = _runtime()
    console.print(
        f"SRE Copilot local host on http://{host}:{port}/api (store: {rt.settings.store})"
    )
    with _listening(host, port):
        serve_forever(
            FUNCTION_APP,
            rt.store,
            host,
            port,
            ready=lambda h: console.print(f"Durable management API key (code=): {h.system_key}"),
        )


_LISTEN_ERRORS = {
    errno.EADDRINUSE: "is in use",
    errno.EACCES: "needs privileges this user lacks",
    errno.EADDRNOTAVAIL: "is not an address of this machine",
}


@contextlib.contextmanager
def _listening(host: str, port: int) -> Iterator[None]:
    """A port that cannot be listened on is one line and exit code 2, not a traceback."""
    try:
        yield
    except OSError as exc:
        problem = _LISTEN_ERRORS.get(exc.errno or 0)
        if problem is None:
            raise
        err.print(
            f"[red]error:[/red] cannot listen on {host}:{port}: it {problem}; "
            "choose another port with --port",
            soft_wrap=True,
        )
        raise typer.Exit(2) from None


@tenants_app.command("add")
@friendly
def tenants_add(
    name: Annotated[str, typer.Argument(help="Tenant name: lower-case letters, digits, '-'.")],
    alertmanager_token: Annotated[
        str | None, typer.Option(help="Bearer token Alertmanager sends.")
    ] = None,
    pagerduty_secret: Annotated[
        list[str] | None, typer.Option(help="PagerDuty signing secret (repeat for rotation).")
    ] = None,
    change_token: Annotated[
        str | None, typer.Option(help="Bearer token for the change feed.")
    ] = None,
    slack_team: Annotated[str | None, typer.Option(help="Slack team (workspace) id.")] = None,
    slack_channel: Annotated[
        str | None, typer.Option(help="Slack channel id for incidents.")
    ] = None,
    slack_token: Annotated[
        str | None, typer.Option(help="Slack bot token (single workspace).")
    ] = None,
    prometheus_url: Annotated[str | None, typer.Option(help="Prometheus base URL.")] = None,
    metrics_file: Annotated[
        Path | None, typer.Option(help="OpenMetrics file to read instead of Prometheus.")
    ] = None,
    topology: Annotated[
        Path | None, typer.Option(help="JSON file with {'services': [...]}.")
    ] = None,
    responder: Annotated[
        list[str] | None, typer.Option(help="Slack user id allowed to act.")
    ] = None,
    timezone: Annotated[
        str, typer.Option(help="IANA time zone of the tenant's week (weekly report).")
    ] = "UTC",
    forecast_horizon_hours: Annotated[
        float | None,
        typer.Option(help="Post capacity risks this many hours ahead (0-168; default 12)."),
    ] = None,
    replace: Annotated[bool, typer.Option(help="Overwrite an existing tenant.")] = False,
) -> None:
    """Add a tenant; credentials not given are generated and printed once."""
    if metrics_file is not None and not metrics_file.is_file():
        raise BadInput(f"{metrics_file}: file not found")
    rt = _runtime()
    am = alertmanager_token or secrets.token_urlsafe(24)
    pd = pagerduty_secret or [secrets.token_urlsafe(24)]
    ct = change_token or secrets.token_urlsafe(24)
    tenant = Tenant(
        id=name,
        tenant_id=name,
        name=name,
        alertmanager_token=SecretStr(am),
        pagerduty_secrets=tuple(SecretStr(s) for s in pd),
        change_token=SecretStr(ct),
        slack_team_id=slack_team,
        slack_channel_id=slack_channel,
        slack_bot_token=SecretStr(slack_token) if slack_token else None,
        prometheus_url=prometheus_url,
        metrics_file=str(metrics_file.resolve()) if metrics_file else None,
        responders=tuple(responder or ()),
        topology=_load_topology(topology) if topology else Topology(),
        timezone=timezone,
        forecast_horizon_hours=forecast_horizon_hours,
    )
    rt.tenants.add(tenant, replace=replace, now=rt.clock.now())  # tokens stored as hashes
    console.print(f"tenant [bold]{name}[/bold] added")
    base = f"/api/tenants/{name}"
    if alertmanager_token is None:
        console.print(f"  Alertmanager: POST {base}/webhooks/alertmanager  Bearer {am}")
    if pagerduty_secret is None:
        console.print(f"  PagerDuty:    POST {base}/webhooks/pagerduty  secret {pd[0]}")
    if change_token is None:
        console.print(f"  Changes:      POST {base}/changes  Bearer {ct}")


@tenants_app.command("list")
@friendly
def tenants_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tenants (credentials are never shown)."""
    tenants = _runtime().tenants.list()
    if as_json:
        rows = [
            {
                "id": t.id,
                "slack_team": t.slack_team_id,
                "slack_channel": t.slack_channel_id,
                "services": len(t.topology.services),
            }
            for t in tenants
        ]
        console.print_json(json.dumps(rows))
        return
    table = Table("tenant", "slack team", "channel", "services", "prometheus")
    for t in tenants:
        table.add_row(
            t.id,
            t.slack_team_id or "-",
            t.slack_channel_id or "-",
            str(len(t.topology.services)),
            t.prometheus_url or "-",
        )
    console.print(table)


@app.command()
@friendly
def send(
    bundle: Annotated[Path, typer.Argument(help="Scenario bundle folder (or its scenario.json).")],
    url: Annotated[str, typer.Option(help="Base URL of a running host.")] = "http://127.0.0.1:7071",
    tenant: Annotated[
        str | None, typer.Option(help="Tenant to send as (default: the bundle's).")
    ] = None,
    alertmanager_token: Annotated[
        str | None,
        typer.Option(help="The tenant's Alertmanager token (the store keeps only its hash)."),
    ] = None,
    change_token: Annotated[
        str | None,
        typer.Option(help="The tenant's change-feed token (the store keeps only its hash)."),
    ] = None,
) -> None:
    """Post a bundle's changes and webhooks to a running host, signed as real senders do."""
    scenario = read_scenario(bundle)
    rt = _runtime()
    target = rt.tenants.get(tenant or str(scenario.get("tenant", "")))
    failed = False
    deliveries = send_bundle(
        scenario, target, url, alertmanager_token=alertmanager_token, change_token=change_token
    )
    for delivery in deliveries:
        ok = 200 <= delivery.status < 300
        failed |= not ok
        colour = "green" if ok else "red"
        console.print(
            f"[{colour}]{delivery.status}[/{colour}] {delivery.kind}  {json.dumps(delivery.body)}"
        )
    if failed:
        raise typer.Exit(1)


def _incident_row(inc: Incident, impact: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": inc.id,
        "tenant": inc.tenant_id,
        "status": inc.status.value,
        "severity": inc.severity.value,
        "title": inc.title,
        "services": list(inc.services),
        "alerts": inc.alert_count,
        "first_seen": inc.first_seen.isoformat(),
        "last_seen": inc.last_seen.isoformat(),
        "impact": impact,
    }


def _readable_incident(doc: dict[str, Any]) -> Incident | None:
    """The incident, or None with a warning for a document that no longer reads as one.

    One stored before ingestion refused out-of-range times (year 999, say)
    must not hide every other incident.
    """
    try:
        return Incident.from_doc(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        err.print(
            f"[yellow]warning:[/yellow] incident {doc.get('id')!r} is unreadable "
            f"(field '{where}': {first['msg']}); skipped",
            soft_wrap=True,
        )
        return None


@incidents_app.command("list")
@friendly
def incidents_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    status: Annotated[str | None, typer.Option(help="open, acknowledged or resolved.")] = None,
    by_impact: Annotated[
        bool, typer.Option("--by-impact", help="Highest impact first, as /sre status.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List incidents, newest first (or by impact), with what each costs users."""
    rt = _runtime()
    tenant_ids = [tenant] if tenant else [t.id for t in rt.tenants.list()]
    filters = [Filter("status", "=", status)] if status else []
    incidents: list[Incident] = []
    for tid in tenant_ids:
        rt.tenants.get(tid)
        docs = rt.store.query(
            Container.INCIDENTS, tid, filters, order_by="first_seen", descending=True
        )
        incidents.extend(i for d in docs if (i := _readable_incident(d)) is not None)
    impacts: dict[str, dict[str, Any] | None] = {}
    for inc in incidents:
        analysis = stored_analysis.load(rt.store, inc.tenant_id, inc.id)
        impacts[inc.id] = analysis.impact if analysis is not None else None
    if by_impact:
        incidents.sort(
            key=lambda i: order_key(
                (impacts[i.id] or {}).get("score"), i.first_seen.isoformat(), i.id
            )
        )
    if as_json:
        console.print_json(json.dumps([_incident_row(i, impacts[i.id]) for i in incidents]))
        return
    table = Table("id", "tenant", "status", "severity", "impact", "title", "alerts", "first seen")
    for inc in incidents:
        impact = impacts[inc.id]
        table.add_row(
            inc.id,
            inc.tenant_id,
            inc.status.value,
            inc.severity.value,
            f"{impact['level']} {impact['score']:g}" if impact else "-",
            inc.title,
            str(inc.alert_count),
            inc.first_seen.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


def _analysis_view(
    rt: bootstrap.Runtime, tenant_id: str, incident_id: str
) -> dict[str, Any] | None:
    """The stored analysis with what its context went without; None before one is stored."""
    analysis = stored_analysis.load(rt.store, tenant_id, incident_id)
    if analysis is None:
        return None
    try:
        snapshot: dict[str, Any] = snapshot_of(rt, tenant_id, incident_id)
    except NotFound:
        snapshot = {}
    view = analysis.to_json()
    view.pop("incident_id", None)
    view["sources"] = snapshot.get("sources", [])
    view["evidence_gaps"] = list(evidence_gaps(snapshot))
    return view


def _print_analysis(view: dict[str, Any] | None) -> None:
    if view is None:
        console.print("no analysis stored yet")
        return
    console.print(f"[bold]Likely root causes[/bold] (model {view['model_version'] or '?'})")
    if not view["hypotheses"]:
        gaps = "; ".join(view["evidence_gaps"]) or "-"
        console.print(f"  insufficient evidence; missing: {gaps}", soft_wrap=True)
    for h in view["hypotheses"]:
        low, high = h["confidence_range"]
        console.print(
            f"  #{h['rank']} {h['title']}\n     {h['category']} on {h['target']} · "
            f"confidence {percent(h['confidence'])} ({percent(low)} to {percent(high)})",
            soft_wrap=True,
        )
        for name, factor in h["factors"].items():
            console.print(f"     {name} {factor['value']:.2f}: {factor['reason']}", soft_wrap=True)
    for rb in view["runbooks"]:
        console.print(f"runbook {rb['id']} {rb.get('title', '')}", soft_wrap=True)
    for s in view["similar_incidents"]:
        console.print(f"similar {s['id']} {s.get('title', '')} ({s['score']:.2f})", soft_wrap=True)
    failed = [  # an unconfigured metrics source is said below, not as a failure
        f"{s['name']}: {s.get('reason') or 'no answer'}"
        for s in view["sources"]
        if not s["ok"] and s.get("reason") != NO_METRICS_SOURCE
    ]
    for what in [*view["missing"], *failed]:
        console.print(f"[yellow]missing:[/yellow] {what}", soft_wrap=True)
    for name in view["unconfigured"]:
        console.print(f"not configured: {name}")


@incidents_app.command("show")
@friendly
def incidents_show(
    incident_id: Annotated[str, typer.Argument(metavar="ID")],
    tenant: Annotated[str | None, typer.Option(help="Tenant of the incident.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one incident with its alerts and its stored analysis."""
    rt = _runtime()
    tenant_ids = [tenant] if tenant else [t.id for t in rt.tenants.list()]
    for tid in tenant_ids:
        doc = rt.store.get(Container.INCIDENTS, tid, incident_id)
        if doc is None:
            continue
        incident = with_alerts(rt.store, Incident.from_doc(doc))
        view = _analysis_view(rt, tid, incident_id)
        if as_json:
            shown = incident.to_doc() | {
                "alerts": [a.model_dump(mode="json") for a in incident.alerts],
                "analysis": view,
            }
            console.print_json(json.dumps(shown))
            return
        console.print(f"[bold]{incident.id}[/bold] {incident.title}")
        services = ", ".join(incident.services) or "-"
        hosts = ", ".join(incident.instances) or "-"
        console.print(
            f"tenant {incident.tenant_id} · {incident.status.value} · {incident.severity.value}"
            f" · services {services} · hosts {hosts}"
        )
        table = Table("alert", "status", "severity", "service/host", "summary", "starts")
        for ref in incident.alerts:
            table.add_row(
                ref.name,
                ref.status.value,
                ref.severity.value,
                ref.service or ref.instance or "-",
                ref.summary,
                ref.starts_at.strftime("%Y-%m-%d %H:%M"),
            )
        console.print(table)
        if incident.alert_count > len(incident.alerts):
            console.print(f"  … and {incident.alert_count - len(incident.alerts)} more alerts")
        for link in incident.source_links:
            console.print(f"  {link}")
        _print_analysis(view)
        return
    raise BadInput(f"no incident {incident_id}" + (f" for tenant {tenant}" if tenant else ""))


@app.command()
@friendly
def replay(
    bundle: Annotated[Path, typer.Argument(help="Scenario bundle folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the replay JSON.")] = False,
    runbooks: Annotated[
        Path | None, typer.Option(help="Runbook folder (default: nearest).")
    ] = None,
) -> None:
    """Replay one bundle through the analysis steps the orchestration runs."""
    from shared.replay.pipeline import replay_bundle
    from shared.replay.report import render_replay

    result = replay_bundle(bundle, runbooks)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        render_replay(result, console)


@app.command()
@friendly
def backtest(
    folder: Annotated[Path, typer.Argument(help="Folder of bundles (or with incidents/).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    runbooks: Annotated[
        Path | None, typer.Option(help="Runbook folder (default: nearest).")
    ] = None,
) -> None:
    """Replay every bundle of a folder; accuracy where expected.json exists, and timings."""
    from shared.progress import progress
    from shared.replay.backtest import backtest as run_backtest
    from shared.replay.report import render_backtest

    if not folder.is_dir():
        raise BadInput(f"{folder}: not a folder of scenario bundles")
    with progress(console, "backtest", enabled=not as_json) as advance:
        result = run_backtest(folder, runbooks, on_bundle=advance)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        render_backtest(result, console, folder=str(folder))


bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks on public labelled datasets.")
app.add_typer(bench_app, name="bench")


@bench_app.command("rca")
@friendly
def bench_rca(
    dataset: Annotated[str, typer.Argument(help="petshop or nezha.")],
    folder: Annotated[Path, typer.Argument(help="The dataset's folder, in its own layout.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    limit: Annotated[
        int | None, typer.Option(help="Cases per scenario (PetShop) or day (Nezha).")
    ] = None,
    move_fault: Annotated[
        bool,
        typer.Option(
            "--move-fault",
            help="Move each case's fault onto every other service on a call path from "
            "the alerting one (semi-synthetic) and say whether the ranking follows it.",
        ),
    ] = False,
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="With --move-fault: only onto this service (repeatable)."),
    ] = None,
) -> None:
    """Service-level top-1/3/5 on a labelled RCA dataset, beside the trivial baseline."""
    from shared.bench.rca import (
        as_dataset,
        bench,
        bench_moved,
        data_present,
        render,
        render_moved,
    )
    from shared.progress import progress

    name = as_dataset(dataset)
    if to and not move_fault:
        raise BadInput("--to only applies with --move-fault")
    if not folder.is_dir() or not data_present(name, folder):
        typer.echo(f"skipped: no {name} data under {folder}")
        return
    with progress(err, f"bench rca {name}", enabled=not as_json) as advance:
        if move_fault:
            result = bench_moved(name, folder, limit=limit, to=to or (), on_case=advance)
        else:
            result = bench(name, folder, limit=limit, on_case=advance)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        (render_moved if move_fault else render)(result, typer.echo)


@bench_app.command("storms")
@friendly
def bench_storms(
    folder: Annotated[Path, typer.Argument(help="Folder of storm files with .expected.json.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Alert storms grouped into incidents: noise reduction, pairwise precision/recall, alerts/s."""
    from shared.bench.storms import bench, render

    result = bench(folder)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        render(result, typer.echo)


@app.command()
@friendly
def correlate(
    storm: Annotated[Path, typer.Argument(help="A storm file (SPEC 'Alert storms').")],
    as_json: Annotated[bool, typer.Option("--json", help="Add why each alert joined.")] = False,
) -> None:
    """Group a storm's alerts into incidents, with the same decisions as live ingestion."""
    from shared.correlation.storm import correlate as run_correlation
    from shared.correlation.storm import read_storm

    result = run_correlation(read_storm(storm))
    typer.echo(json.dumps(result.to_json(reasons=as_json), indent=2 if as_json else None))


@app.command()
@friendly
def noise(
    tenant: Annotated[str, typer.Option(help="Tenant whose alerts to judge.")],
    rules: Annotated[
        Path | None,
        typer.Option(
            help="The tenant's Prometheus rule file (not modified); without it, the rules "
            "its Prometheus serves (proposals as lines, no diff)."
        ),
    ] = None,
    since: Annotated[int, typer.Option(min=1, help="Days of alerts to read.")] = 30,
    within: Annotated[
        int, typer.Option(min=1, help="Minutes within which a self-resolving alert is noise.")
    ] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print the advice as JSON.")] = False,
) -> None:
    """Noise advice: a longer for: (or a higher threshold) for alerts that page for nothing."""
    from datetime import timedelta

    from shared.feedback.noise import Rules, noise_advice, render
    from shared.feedback.prometheus_rules import read_rule_file
    from shared.ports.metrics import RuleListing

    rule_file: Rules | None = read_rule_file(rules) if rules is not None else None
    rt = _runtime()
    target = rt.tenants.get(tenant)
    try:
        metrics = rt.metrics_for(target)
    except BadInput as exc:  # a missing metrics file costs the thresholds, not the advice
        if rule_file is None:
            raise BadInput(f"noise: no rules to judge by without --rules: {exc.reason}") from None
        err.print(f"[yellow]warning:[/yellow] no measurements ({exc.reason})", soft_wrap=True)
        metrics = None
    if rule_file is None:
        if not isinstance(metrics, RuleListing):
            raise BadInput(
                f"noise: tenant {target.id} has no Prometheus that lists its alerting rules: "
                "pass --rules FILE"
            )
        listed = metrics.alerting_rules()
        if not listed.ok:
            raise BadInput(f"noise: the alerting rules of {listed.source}: {listed.error}")
        rule_file = listed
    advice = noise_advice(
        rt.store,
        target.id,
        rule_file,
        now=rt.clock.now(),
        since=timedelta(days=since),
        within=timedelta(minutes=within),
        metrics=metrics,
    )
    if as_json:
        typer.echo(json.dumps(advice.to_json(), indent=2))
    else:
        render(advice, typer.echo)


@bench_app.command("nab")
@friendly
def bench_nab(
    nab_dir: Annotated[Path, typer.Argument(help="NAB's folder (data/, labels/).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the per-file results CSVs.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    workers: Annotated[int, typer.Option(help="Processes running the detector.")] = 2,
) -> None:
    """Anomaly detection on NAB: standard, low-FP and low-FN scores beside the scoreboard."""
    from shared.bench.nab import bench, data_present, render
    from shared.progress import progress

    if not data_present(nab_dir):
        typer.echo(f"skipped: no NAB data under {nab_dir}")
        return
    with progress(console, "NAB", enabled=not as_json) as advance:
        result = bench(nab_dir, out, workers=workers, on_file=advance)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        render(result, typer.echo)


@app.command()
@friendly
def forecast(
    series: Annotated[Path, typer.Argument(help="A capacity series (SPEC 'Capacity series').")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the SPEC's JSON object.")] = False,
) -> None:
    """When a filesystem will be full: time to exhaustion with its P10-P90 range."""
    from shared.predict.series import read_series, spec_output
    from shared.predict.text import forecast_line

    loaded = read_series(series)
    result = loaded.forecast()
    if as_json:
        typer.echo(json.dumps(spec_output(loaded.id, result)))
    else:
        typer.echo(forecast_line(loaded, result))


predict_app = typer.Typer(no_args_is_help=True, help="Capacity forecasts, live.")
app.add_typer(predict_app, name="predict")


@predict_app.command("run")
@friendly
def predict_run(
    tenant: Annotated[str, typer.Option(help="Tenant whose filesystems and memory to forecast.")],
    at: Annotated[
        str | None,
        typer.Option(help="ISO time to sweep at (default now; no offset: UTC)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the sweep as JSON.")] = False,
) -> None:
    """One forecast sweep, with the timer's code: forecast, post what is new, print it."""
    from shared.clock import parse_at
    from shared.predict.live import run_sweep

    rt = _runtime()
    chosen = rt.tenants.get(tenant)
    run = run_sweep(rt, chosen, parse_at(at) if at is not None else rt.clock.now())
    if as_json:
        typer.echo(json.dumps(run.to_json(), indent=2))
        return
    for line in _sweep_lines(run.to_json()):
        typer.echo(line)


def _sweep_lines(run: dict[str, Any]) -> Iterator[str]:
    yield f"forecast sweep of {run['tenant']} at {run['at']}"
    for fs in run["filesystems"]:
        left = fs["hours_left"]
        yield f"  {fs['where']}: {fs['status']}" + (f", {left} h left" if left is not None else "")
    for mem in run.get("memory", ()):
        left = mem["hours_left"]
        pod = f" (worst pod {mem['pod']})" if mem["pod"] else ""
        yield f"  {mem['where']}{pod}: {mem['status']}" + (
            f", {left} h to its limit" if left is not None else ""
        )
    if not run["posted"]:
        yield "nothing to post"
    for posted in run["posted"]:
        where = f" -> {posted['channel']} {posted['ts']}" if posted["channel"] else ""
        chart = f", chart {posted['chart']}" if posted["chart"] else ""
        problem = f" ({posted['error']})" if posted["error"] else ""
        yield f"{posted['outcome']} {posted['action']}: {posted['text']}{where}{chart}{problem}"
    for error in run["errors"]:
        yield f"error: {error}"


@bench_app.command("forecast")
@friendly
def bench_forecast(
    folder: Annotated[Path, typer.Argument(help="Folder of capacity series with .expected.json.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Capacity forecasts: right-share beside predict_linear (1 h, 6 h), time per series."""
    from shared.bench.forecast import bench, render
    from shared.progress import progress

    with progress(console, "forecasts", enabled=not as_json) as advance:
        result = bench(folder, on_case=advance)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        render(result, typer.echo)


@app.command()
@friendly
def calibrate(
    tenant: Annotated[str, typer.Option(help="Tenant whose feedback to learn from.")],
    min_feedback: Annotated[int, typer.Option(help="Verdicts needed before fitting.")] = 20,
) -> None:
    """Fit factor weights to the tenant's feedback; adopt them only if they predict better."""
    from shared.scoring.calibration import calibrate as run_calibration

    rt = _runtime()
    rt.tenants.get(tenant)
    outcome = run_calibration(rt.store, tenant, now=rt.clock.now(), min_feedback=min_feedback)
    typer.echo(json.dumps(outcome.to_json(), indent=2))


audit_app = typer.Typer(no_args_is_help=True, help="The tenant's hash-chained audit trail.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
@friendly
def audit_verify(
    tenant: Annotated[str, typer.Option(help="Tenant whose audit chain to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check the chain: exit 0 when intact, 1 naming the first record edited, deleted or moved."""
    from shared.audit import verify

    rt = _runtime()
    rt.tenants.get(tenant)
    result = verify(rt.store, tenant)
    typer.echo(json.dumps(result.to_json(), indent=2) if as_json else result.summary())
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("export")
@friendly
def audit_export(
    tenant: Annotated[str, typer.Option(help="Tenant whose audit records to export.")],
    out: Annotated[
        Path | None, typer.Option(help="File to write (default: standard output).")
    ] = None,
) -> None:
    """Every audit record as JSON lines, oldest first."""
    from shared.audit import export

    rt = _runtime()
    rt.tenants.get(tenant)
    lines = (
        json.dumps(doc, ensure_ascii=False, sort_keys=True) + "\n"
        for doc in export(rt.store, tenant)
    )
    if out is None:
        for line in lines:
            typer.echo(line, nl=False)
        return
    try:
        with out.open("w", encoding="utf-8") as sink:
            sink.writelines(lines)
    except OSError as exc:
        raise BadInput(f"{out}: {exc.strerror}") from None


@app.command()
@friendly
def report(
    tenant: Annotated[str, typer.Option(help="Tenant to report on.")],
    week: Annotated[
        bool, typer.Option("--week", help="The weekly capacity and trend report.")
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            help="ISO time the report is made at (default now; no offset: tenant's zone)."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the HTML report here.")] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            help="The tenant's Prometheus rule file: noisy alerts get a proposed fix "
            "(without it, the rules its Prometheus serves)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """The week before --at in the tenant's time zone: trends, capacity, alerts, incidents."""
    from shared.progress import progress
    from shared.report.deliver import html_of, make_report
    from shared.report.text import render_text
    from shared.report.week import parse_at

    if not week:
        raise BadInput("report: say which report: --week (the weekly capacity and trend report)")
    rt = _runtime()
    chosen = rt.tenants.get(tenant)
    moment = parse_at(at, chosen.zone) if at is not None else rt.clock.now()
    advice = None
    if rules is not None:
        from shared.feedback.noise import noise_advice
        from shared.feedback.prometheus_rules import read_rule_file

        advice = noise_advice(rt.store, chosen.id, read_rule_file(rules), now=moment)
    with progress(console, "report", enabled=not as_json) as advance:
        result = make_report(rt, chosen, moment, on_step=advance, advice=advice)
        if out is not None:
            advance("charts", 5, 6)
            _write_text(out, html_of(result))
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        render_text(result, console, html_path=str(out) if out else None)


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{path}: cannot write ({exc.strerror})") from None


@app.command()
@friendly
def demo(
    once: Annotated[bool, typer.Option("--once", help="Exit after the messages.")] = False,
    port: Annotated[int, typer.Option(help="Port of the local host.")] = 7071,
    count: Annotated[int, typer.Option(help="How many scenario bundles to send.")] = 3,
) -> None:
    """Start the local host, send sample scenarios, show the messages, keep serving."""
    from devhost.demo import run_demo

    with _listening("127.0.0.1", port):
        run_demo(FUNCTION_APP, REPO_ROOT, once=once, port=port, count=count, console=console)


def main() -> None:
    app(prog_name="sre-copilot")


policy_app = typer.Typer(no_args_is_help=True, help="A tenant's remediation policy.")
app.add_typer(policy_app, name="policy")


@policy_app.command("set")
@friendly
def policy_set(
    file: Annotated[Path, typer.Argument(help="The policy YAML (README 'Remediation policy').")],
    tenant: Annotated[str, typer.Option(help="Tenant whose policy to set.")],
) -> None:
    """Validate a policy file and make it the tenant's policy; the change is audited."""
    from shared.autonomy.policies import set_policy
    from shared.autonomy.policy import parse_policy

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{file}: cannot read ({exc.strerror or exc})") from None
    parse_policy(text, source=str(file))
    rt = _runtime()
    rt.tenants.get(tenant)
    stored = set_policy(rt.store, tenant, text, now=rt.clock.now(), actor="cli", source=str(file))
    actions = ", ".join(f"{r['action']} ({r['tier']}, {r['mode']})" for r in stored.summary())
    typer.echo(f"policy {stored.version} set for {tenant}: {actions or 'no actions allowed'}")


@policy_app.command("show")
@friendly
def policy_show(
    tenant: Annotated[str, typer.Option(help="Tenant whose policy to show.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the policy as JSON.")] = False,
) -> None:
    """The tenant's policy: each action's tier and mode, then the YAML as set."""
    from shared.autonomy.policies import load_policy, render, to_json

    rt = _runtime()
    rt.tenants.get(tenant)
    stored = load_policy(rt.store, tenant)
    switches = _switches(rt, tenant)
    if as_json:
        shown = to_json(tenant, stored) | {"kill_switches": switches.to_json()}
        typer.echo(json.dumps(shown, indent=2))
        return
    for line in switches.lines():
        typer.echo(line)
    render(tenant, stored, typer.echo)


def _switches(rt: bootstrap.Runtime, tenant: str) -> Switches:
    """The tenant's kill switches as ``state_for`` reads them."""
    from shared.autonomy import kill_switch

    return kill_switch.read(rt.store, tenant, forced=rt.settings.autonomy_kill_switch)


actions_app = typer.Typer(no_args_is_help=True, help="A tenant's remediation actions.")
app.add_typer(actions_app, name="actions")


@actions_app.command("list")
@friendly
def actions_list(
    tenant: Annotated[str, typer.Option(help="Tenant whose actions to list.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Every proposed remediation action, oldest first: its state, who decided, when, why."""
    from shared.autonomy.actions import list_records

    rt = _runtime()
    rt.tenants.get(tenant)
    rows = [r.row() for r in list_records(rt.store, tenant)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"{tenant}: no remediation actions")
        return
    for row in rows:
        who = f" by {row['decided_by']} at {row['decided_at']}" if row["decided_by"] else ""
        typer.echo(
            f"{row['id']}  {row['incident_id']}  {row['action']} {row['target']} "
            f"({row['tier']}, {row['mode']})  {row['state']}{who}\n    {row['why']}"
        )


autonomy_app = typer.Typer(
    no_args_is_help=True, help="Shadow mode's record and promotion; the kill switches."
)
app.add_typer(autonomy_app, name="autonomy")


@autonomy_app.command("status")
@friendly
def autonomy_status(
    tenant: Annotated[str, typer.Option(help="Tenant whose actions to assess.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Per action: mode, tier, shadowed, judged and agreed incidents, ready or why not."""
    from shared.autonomy.trust import render, status

    rt = _runtime()
    rt.tenants.get(tenant)
    rows = status(rt.store, tenant)
    if as_json:
        typer.echo(json.dumps([r.row() for r in rows], indent=2))
        return
    for line in [*_switches(rt, tenant).lines(), *render(tenant, rows)]:
        typer.echo(line)


@autonomy_app.command("kill-switch")
@friendly
def autonomy_kill_switch(
    state: Annotated[str, typer.Argument(help="on (stop all automation) or off.")],
    by: Annotated[str, typer.Option("--by", help="Who flips it (recorded and audited).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown in every refusal).")],
    tenant: Annotated[str | None, typer.Option(help="The tenant whose switch to flip.")] = None,
    every: Annotated[
        bool, typer.Option("--all", help="The global switch: every tenant's automation.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Stop (on) or allow again (off) automated remediation; effective at the next check."""
    from shared.autonomy import kill_switch

    if state not in ("on", "off"):
        raise BadInput(f"state {state[:20]!r}: on or off")
    if (tenant is None) == (not every):
        raise BadInput("name exactly one of --tenant T (one tenant) or --all (the global switch)")
    rt = _runtime()
    done, told = kill_switch.switch(
        rt.store,
        rt.tenants,
        tenant,
        on=state == "on",
        by=by,
        reason=reason,
        now=rt.clock.now(),
        actor=f"cli:{by.strip()[:200]}",
        via="cli",
        tell=lambda stopped, flipped: kill_switch.announce(rt.chat_for, stopped, flipped),
    )
    if as_json:
        typer.echo(json.dumps(done.to_json() | {"told": list(told)}, indent=2))
    else:
        typer.echo(done.message())
        typer.echo(f"told in Slack: {', '.join(told) or 'no tenant'}")
    if every and state == "off" and rt.settings.autonomy_kill_switch:
        err.print(
            f"note: {kill_switch.SETTING} is on: the global switch stays on until it is unset",
            soft_wrap=True,
        )


@autonomy_app.command("promote")
@friendly
def autonomy_promote(
    action: Annotated[str, typer.Argument(help="The action to make active, e.g. restart_pod.")],
    tenant: Annotated[str, typer.Option(help="Tenant whose policy to change.")],
    by: Annotated[str, typer.Option("--by", help="Who promotes: one of the policy's approvers.")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote though not ready (audited as forced).")
    ] = False,
) -> None:
    """Set a shadowed action active once shadow mode earned it; exit 2 when refused."""
    from shared.autonomy.trust import promote

    rt = _runtime()
    rt.tenants.get(tenant)
    done = promote(rt.store, tenant, action, by=by, now=rt.clock.now(), force=force)
    if done.refused:
        raise BadInput(done.message)
    typer.echo(done.message)


@autonomy_app.command("propose")
@friendly
def autonomy_propose(
    tenant: Annotated[str, typer.Option(help="Tenant whose ready actions to propose.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the sweep as JSON.")] = False,
) -> None:
    """One promotion sweep, with the timer's code: post each ready action once, print it."""
    from shared.autonomy.promotion import sweep

    rt = _runtime()
    done = sweep(rt, rt.tenants.get(tenant), now=rt.clock.now())
    if as_json:
        typer.echo(json.dumps(done.to_json(), indent=2))
        return
    for line in done.lines():
        typer.echo(line)


@bench_app.command("policy")
@friendly
def bench_policy(
    cases: Annotated[int, typer.Option(min=1, help="Decisions to generate and judge.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """The policy engine's safety properties over generated cases; exit 1 on a violation."""
    from shared.bench.policy import bench, render

    result = bench(cases, seed=seed)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        render(result, typer.echo)
    if result["violations"]:
        raise typer.Exit(1)


anomalies_app = typer.Typer(no_args_is_help=True, help="The anomaly sweep (never pages).")
app.add_typer(anomalies_app, name="anomalies")


@anomalies_app.command("run")
@friendly
def anomalies_run(
    tenant: Annotated[str, typer.Option(help="Tenant whose signals to sweep.")],
    at: Annotated[
        str | None, typer.Option(help="ISO time to sweep at (default now; no offset: UTC).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the sweep as JSON.")] = False,
) -> None:
    """One anomaly sweep, with the timer's code: print what it attached and digested."""
    from shared.anomaly.live import render, run
    from shared.clock import parse_at

    rt = _runtime()
    chosen = rt.tenants.get(tenant)
    result = run(rt, chosen, parse_at(at) if at is not None else rt.clock.now())
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        render(result, typer.echo)


runbooks_app = typer.Typer(no_args_is_help=True, help="The runbook corpus.")
app.add_typer(runbooks_app, name="runbooks")

SEARCH_INDEX_DEFINITION = REPO_ROOT / "bicep" / "search-index.json"
"""The index the deployment documents (bicep/README.md, "Runbook index")."""


@runbooks_app.command("index")
@friendly
def runbooks_index(
    folder: Annotated[Path, typer.Argument(help="Runbook folder: Markdown with front matter.")],
    search: Annotated[
        str, typer.Option(help="azure: upload to Azure AI Search; local: only check the folder.")
    ] = "local",
    create_index: Annotated[
        bool,
        typer.Option(
            "--create-index",
            help="Create the index (bicep/search-index.json) when the service has none.",
        ),
    ] = False,
) -> None:
    """Check a runbook folder, or upload it as the shared corpus to Azure AI Search.

    Azure is reached as configured (SRE_COPILOT_AZURE_SEARCH_ENDPOINT, _INDEX)
    with the key when one is set, else as you (DefaultAzureCredential: az
    login), which needs Search Index Data Contributor, and Search Service
    Contributor for --create-index. Uploading again updates in place.
    """
    from shared.runbooks.loader import load_runbooks

    if search not in ("local", "azure"):
        raise BadInput(f"--search {search!r}: use local or azure")
    runbooks = load_runbooks(folder)
    if not runbooks:
        raise BadInput(f"{folder}: no runbooks (*.md) found")
    if search == "local":
        console.print(f"{len(runbooks)} runbooks in {folder}: {', '.join(r.id for r in runbooks)}")
        return
    settings = load_settings()
    identity = bootstrap.AzureIdentity()
    try:
        with bootstrap.azure_search(settings, identity) as index:
            if create_index and index.create_index_if_missing(
                _index_definition(settings.azure_search_index)
            ):
                console.print(f"created index {settings.azure_search_index}")
            count = index.upload_runbooks(runbooks)
    finally:
        identity.close()
    console.print(
        f"uploaded {count} runbooks to {settings.azure_search_index} at "
        f"{settings.azure_search_endpoint}"
    )


def _index_definition(name: str) -> Any:
    """bicep/search-index.json under the configured name; the adapter's schema without it."""
    from azure.search.documents.indexes.models import SearchIndex

    from shared.adapters.search.azure_search import index_schema

    if not SEARCH_INDEX_DEFINITION.is_file():  # an installed package has no bicep/
        return index_schema(name)
    definition = json.loads(SEARCH_INDEX_DEFINITION.read_text(encoding="utf-8"))
    return SearchIndex({**definition, "name": name})


@anomalies_app.command("digest")
@friendly
def anomalies_digest(
    tenant: Annotated[str, typer.Option(help="Tenant whose daily digest to print.")],
    day: Annotated[
        str | None,
        typer.Option(help="Local day YYYY-MM-DD (default yesterday in the tenant's zone)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the digest as JSON.")] = False,
) -> None:
    """A day's anomaly digest as the morning post shows it: by service, most urgent first."""
    from shared.anomaly.digest import day_before, digest_view, parse_day, text_lines

    rt = _runtime()
    chosen = rt.tenants.get(tenant)
    wanted = parse_day(day) if day is not None else day_before(rt.clock.now(), chosen.zone)
    view = digest_view(rt.store, chosen, wanted)
    if as_json:
        typer.echo(json.dumps(view.to_json(), indent=2))
        return
    for text in text_lines(view, chosen.zone):
        typer.echo(text)


if __name__ == "__main__":
    main()
