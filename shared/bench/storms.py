"""``bench storms``: alert storms grouped into incidents, against the kit's ground truth.

For each ``<id>.json`` with an ``<id>.expected.json`` beside it: alerts,
incidents, noise reduction (1 - incidents / alerts), and the pairwise
precision and recall of "these two alerts belong to one incident" (SPEC
"Alert storms"), for correlation and for the baseline the issue names:
Alertmanager's own grouping (each delivery's ``groupKey``, that is its group
labels, one incident per distinct key). Throughput is alerts grouped per
second by ``correlate`` alone (the storm parsed beforehand), best of a few runs.

Beside ``correlate`` (onset order), the live path: every delivery posted, in
the order it arrived and at its ``received_at``, through the webhook's own
``IngestService`` into an embedded store; its incidents are the groups
(``replay_live``). No orchestration runs there, so no incident is posted and a
late cause merges every incident it explains; ``announce_after`` posts each
incident that many seconds after it opened, as the orchestration would after
its analysis, which leaves those the late cause finds posted linked instead.
``arrival_groups`` makes the same decisions without the store, in any order of
the storm's deliveries: the check on arrival orders the kit did not record.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from shared.adapters.store import open_store
from shared.clock import FixedClock
from shared.correlation.grouping import Grouper
from shared.correlation.storm import Storm, correlate, in_order, parse_storm, read_storm
from shared.errors import BadInput
from shared.incidents.merge import claim_post
from shared.ingestion.auth import pagerduty_signature
from shared.ingestion.service import IngestService
from shared.models.alert import Alert
from shared.models.base import iso
from shared.models.tenant import Tenant
from shared.ports.store import Container, DocumentStore, Filter
from shared.settings import Settings
from shared.tenants.registry import TenantRegistry

TIMING_RUNS = 5
METHODS = ("correlation", "live", "baseline")
"""``correlate`` (onset order), the live webhook path (arrival order), Alertmanager's groups."""


def pair_scores(
    predicted: Iterable[Sequence[str]], truth: Iterable[Sequence[str]]
) -> dict[str, float]:
    """Pairwise precision and recall of ``predicted`` groups over the truth's alerts.

    Alerts the truth does not list are left out; an alert the prediction does
    not list is a group of its own.
    """
    true_of = {fp: i for i, group in enumerate(truth) for fp in group}
    pred_of: dict[str, int] = {}
    for i, group in enumerate(predicted):
        for fp in group:
            pred_of.setdefault(fp, i)
    solo = len(pred_of) + 1
    joint: Counter[tuple[int, int]] = Counter()
    by_pred: Counter[int] = Counter()
    for n, (fp, t) in enumerate(true_of.items()):
        p = pred_of.get(fp, solo + n)
        joint[(p, t)] += 1
        by_pred[p] += 1
    by_true = Counter(true_of.values())

    def pairs(counts: Iterable[int]) -> int:
        return sum(c * (c - 1) // 2 for c in counts)

    hits, said, real = pairs(joint.values()), pairs(by_pred.values()), pairs(by_true.values())
    alerts = len(true_of)
    return {
        "alerts": alerts,
        "incidents": len(by_pred),
        "noise_reduction": 1 - len(by_pred) / alerts if alerts else 0.0,
        "precision": hits / said if said else 1.0,
        "recall": hits / real if real else 1.0,
    }


def baseline_groups(storm: Storm) -> list[list[str]]:
    """Alertmanager's grouping: one incident per group key, over all its deliveries."""
    by_key: dict[str, list[str]] = {}
    seen: set[str] = set()
    for key, fingerprints in zip(storm.group_keys, storm.groupings, strict=True):
        for fp in fingerprints:
            if fp not in seen:
                seen.add(fp)
                by_key.setdefault(key, []).append(fp)
    return list(by_key.values())


_TOKEN = "storm-replay"
"""The replay tenant's token and signing secret, in a throwaway store."""


def replay_live(
    path: Path,
    store: DocumentStore,
    *,
    order: Literal["arrival", "onset"] = "arrival",
    announce_after: float | None = None,
) -> list[list[str]]:
    """The storm's deliveries through ``IngestService``; each incident's fingerprints.

    ``arrival``: each delivery as it came, at its ``received_at`` (what a live
    webhook sees). ``onset``: each firing alert once, alone, earliest onset
    first (the order ``correlate`` takes them). ``announce_after``: seconds
    after an incident opens that its message counts as posted (``claim_post``);
    None: never (nothing is posted in a replay).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path}: cannot read it as JSON ({exc})") from None
    storm = parse_storm(data, name=str(path))
    registry = TenantRegistry(store, cache_seconds=3600)
    registry.add(
        Tenant(
            id=storm.tenant,
            tenant_id=storm.tenant,
            name=storm.tenant,
            alertmanager_token=SecretStr(_TOKEN),
            pagerduty_secrets=(SecretStr(_TOKEN),),
            topology=storm.topology,
        )
    )
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), store="sqlite")
        clock = FixedClock(datetime.fromisoformat(str(data["deliveries"][0]["received_at"])))
        service = IngestService(store, registry, settings, clock)
        for at, source, body in _deliveries(data, order):
            clock.set(at)
            if announce_after is not None:
                _announce(store, storm.tenant, at - timedelta(seconds=announce_after))
            raw = json.dumps(body).encode()
            if source == "pagerduty":
                service.pagerduty(
                    storm.tenant, {"X-PagerDuty-Signature": pagerduty_signature(_TOKEN, raw)}, raw
                )
            else:
                service.alertmanager(storm.tenant, {"Authorization": f"Bearer {_TOKEN}"}, raw)
    groups: dict[str, list[str]] = {}
    for doc in store.query(Container.INCIDENT_ALERTS, storm.tenant, order_by="starts_at"):
        groups.setdefault(str(doc["incidentId"]), []).append(str(doc["fingerprint"]))
    return list(groups.values())


def _announce(store: DocumentStore, tenant_id: str, opened_by: datetime) -> None:
    """Claim the first post of every open incident opened by ``opened_by``."""
    for doc in store.query(Container.INCIDENTS, tenant_id, [Filter("status", "!=", "resolved")]):
        if doc.get("announced_at") is None and str(doc["created_at"]) <= iso(opened_by):
            claim_post(store, tenant_id, str(doc["id"]), opened_by)


def _deliveries(
    data: dict[str, Any], order: Literal["arrival", "onset"]
) -> list[tuple[datetime, str, dict[str, Any]]]:
    """(when, source, body) of each delivery to post, in order."""
    arrived = [
        (datetime.fromisoformat(str(d["received_at"])), str(d["source"]), d["body"])
        for d in data["deliveries"]
    ]
    if order == "arrival":
        return arrived
    alone: dict[str, tuple[datetime, str, dict[str, Any]]] = {}
    for _, source, body in arrived:
        if source != "alertmanager":
            raise BadInput("onset-order replay takes Alertmanager deliveries only")
        for alert in body["alerts"]:
            if alert["status"] == "firing" and alert["fingerprint"] not in alone:
                starts = datetime.fromisoformat(str(alert["startsAt"]))
                alone[alert["fingerprint"]] = (starts, source, body | {"alerts": [alert]})
    return sorted(alone.values(), key=lambda d: (d[0], d[2]["alerts"][0]["fingerprint"]))


def arrival_groups(storm: Storm, order: Sequence[int] | None = None) -> list[list[str]]:
    """The live decision without the store: each delivery's new firing alerts, earliest
    onset first, one delivery after another in ``order`` (indexes; default as they
    came). What ``replay_live`` stores, at a fraction of its cost, so that other
    arrival orders of the same storm can be measured."""
    first: dict[str, Alert] = {}
    for alert in storm.alerts:
        if alert.is_firing:
            first.setdefault(alert.fingerprint, alert)
    grouper = Grouper({storm.tenant: storm.topology})
    for n in order if order is not None else range(len(storm.groupings)):
        for alert in in_order(first[fp] for fp in dict.fromkeys(storm.groupings[n])):
            grouper.assign(alert)
    return [list(g.alerts) for g in grouper.groups(storm.tenant)]


def live_groups(path: Path, *, order: Literal["arrival", "onset"] = "arrival") -> list[list[str]]:
    """``replay_live`` into a throwaway embedded store."""
    with tempfile.TemporaryDirectory() as home:
        store = open_store(Settings(home=Path(home), store="sqlite"))
        try:
            return replay_live(path, store, order=order)
        finally:
            store.close()


def _truth(path: Path) -> list[list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        groups = data["groups"]
        if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
            raise TypeError
        return [[str(fp) for fp in g] for g in groups]
    except (OSError, ValueError, KeyError, TypeError):
        raise BadInput(
            f"{path}: field 'groups': expected a list of lists of fingerprints"
        ) from None


def _throughput(storm: Storm) -> tuple[float, int]:
    best = float("inf")
    alerts = 0
    for _ in range(TIMING_RUNS):
        start = time.perf_counter()
        alerts = correlate(storm).alerts
        best = min(best, time.perf_counter() - start)
    return best, alerts


def bench(folder: Path) -> dict[str, Any]:
    """Each labelled storm of ``folder`` and all of them: correlation beside the baseline."""
    rows: list[dict[str, Any]] = []
    for truth_path in sorted(folder.glob("*.expected.json")):
        storm_path = truth_path.with_name(truth_path.name.removesuffix(".expected.json") + ".json")
        if not storm_path.is_file():
            continue
        storm = read_storm(storm_path)
        truth = _truth(truth_path)
        result = correlate(storm)
        seconds, alerts = _throughput(storm)
        rows.append(
            {
                "storm": storm.id,
                "correlation": pair_scores([g.alerts for g in result.groups], truth),
                "live": pair_scores(live_groups(storm_path), truth),
                "baseline": pair_scores(baseline_groups(storm), truth),
                "seconds": seconds,
                "alerts_per_second": alerts / seconds if seconds else 0.0,
            }
        )
    if not rows:
        raise BadInput(f"{folder}: no storm with an .expected.json beside it")
    return {"storms": rows, "overall": _overall(rows)}


def _overall(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pairs and alerts summed over storms (a micro average), throughput over all alerts."""
    out: dict[str, Any] = {}
    for method in METHODS:
        alerts = sum(r[method]["alerts"] for r in rows)
        incidents = sum(r[method]["incidents"] for r in rows)
        out[method] = {
            "alerts": alerts,
            "incidents": incidents,
            "noise_reduction": 1 - incidents / alerts if alerts else 0.0,
            "precision_mean": sum(r[method]["precision"] for r in rows) / len(rows),
            "recall_mean": sum(r[method]["recall"] for r in rows) / len(rows),
        }
    seconds = sum(r["seconds"] for r in rows)
    grouped = sum(r["correlation"]["alerts"] for r in rows)
    out["alerts_per_second"] = grouped / seconds if seconds else 0.0
    return out


def render(result: dict[str, Any], echo: Callable[[str], None]) -> None:
    """A table: per storm, then overall; correlation, the live path, then the baseline."""
    echo(
        f"{'storm':<12} {'method':<12} {'alerts':>6} {'incid.':>6} {'noise red.':>10} "
        f"{'precision':>9} {'recall':>7} {'alerts/s':>9}"
    )
    for row in result["storms"]:
        for method in METHODS:
            m = row[method]
            rate = f"{row['alerts_per_second']:>9.0f}" if method == "correlation" else ""
            echo(
                f"{row['storm']:<12} {method:<12} {m['alerts']:>6} {m['incidents']:>6} "
                f"{m['noise_reduction']:>10.3f} {m['precision']:>9.3f} {m['recall']:>7.3f} {rate}"
            )
    overall = result["overall"]
    for method in METHODS:
        m = overall[method]
        rate = f"{overall['alerts_per_second']:>9.0f}" if method == "correlation" else ""
        echo(
            f"{'overall':<12} {method:<12} {m['alerts']:>6} {m['incidents']:>6} "
            f"{m['noise_reduction']:>10.3f} {m['precision_mean']:>9.3f} {m['recall_mean']:>7.3f} "
            f"{rate}"
        )
    echo("targets: noise reduction >= 0.80, precision >= 0.97, recall >= 0.85, >= 10,000 alerts/s")
