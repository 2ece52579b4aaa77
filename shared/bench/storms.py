"""``bench storms``: alert storms grouped into incidents, against the kit's ground truth.

For each ``<id>.json`` with an ``<id>.expected.json`` beside it: alerts,
incidents, noise reduction (1 - incidents / alerts), and the pairwise
precision and recall of "these two alerts belong to one incident" (SPEC
"Alert storms"), for correlation and for the baseline the issue names:
Alertmanager's own grouping (each delivery's ``groupKey``, that is its group
labels, one incident per distinct key). Throughput is alerts grouped per
second by ``correlate`` alone (the storm parsed beforehand), best of a few runs.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from shared.correlation.storm import Storm, correlate, read_storm
from shared.errors import BadInput

TIMING_RUNS = 5


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
    for method in ("correlation", "baseline"):
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
    """A table: per storm, then overall; correlation first, the baseline under it."""
    echo(
        f"{'storm':<12} {'method':<12} {'alerts':>6} {'incid.':>6} {'noise red.':>10} "
        f"{'precision':>9} {'recall':>7} {'alerts/s':>9}"
    )
    for row in result["storms"]:
        for method in ("correlation", "baseline"):
            m = row[method]
            rate = f"{row['alerts_per_second']:>9.0f}" if method == "correlation" else ""
            echo(
                f"{row['storm']:<12} {method:<12} {m['alerts']:>6} {m['incidents']:>6} "
                f"{m['noise_reduction']:>10.3f} {m['precision']:>9.3f} {m['recall']:>7.3f} {rate}"
            )
    overall = result["overall"]
    for method in ("correlation", "baseline"):
        m = overall[method]
        rate = f"{overall['alerts_per_second']:>9.0f}" if method == "correlation" else ""
        echo(
            f"{'overall':<12} {method:<12} {m['alerts']:>6} {m['incidents']:>6} "
            f"{m['noise_reduction']:>10.3f} {m['precision_mean']:>9.3f} {m['recall_mean']:>7.3f} "
            f"{rate}"
        )
    echo("targets: noise reduction >= 0.80, precision >= 0.97, recall >= 0.85, >= 10,000 alerts/s")
