"""Readable views of a replay and a backtest (the CLI and the benchmark share them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def _pct(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, float) else "n/a"


def calibration_line(summary: Mapping[str, Any], k: str) -> str:
    """ECE of the top-3 or top-1 hypotheses, beside mean confidence and share right."""
    ece = summary[f"ece_{k}"]
    if ece is None:
        return f"ECE {k} n/a"
    conf, right = summary[f"mean_confidence_{k}"], summary[f"accuracy_{k}"]
    return f"ECE {k} {ece:.3f} (mean confidence {conf:.2f}, right {right:.2f})"


def render_replay(result: Mapping[str, Any], console: Console) -> None:
    console.print(f"[bold]{result['scenario']}[/bold]  incident {result['incident_id']}")
    for h in result["hypotheses"]:
        low, high = h["confidence_range"]
        console.print(
            f"\n[bold]#{h['rank']} {h['category']} on {h['target']}[/bold]  "
            f"confidence {h['confidence']:.2f} (range {low:.2f} to {high:.2f})"
        )
        console.print(f"   {h['title']}")
        factors = " · ".join(f"{k.replace('_', ' ')} {v:.2f}" for k, v in h["factors"].items())
        console.print(f"   [dim]{factors}[/dim]")
        for e in h["evidence"][:5]:
            console.print(f"   {e['kind']:<9} {e['summary']}")
    runbooks = ", ".join(f"{r['id']} ({r['score']:.2f})" for r in result["runbooks"]) or "-"
    similar = ", ".join(f"{s['id']} ({s['score']:.2f})" for s in result["similar_incidents"]) or "-"
    console.print(f"\nrunbooks: {runbooks}")
    console.print(f"similar incidents: {similar}")


def render_backtest(result: Mapping[str, Any], console: Console, *, folder: str) -> None:
    console.print(f"scenario set       {folder}")
    console.print(f"bundles            {result['bundles']} ({result['judged']} with ground truth)")
    for label, key in (
        ("AC@1", "ac_at_1"),
        ("AC@3", "ac_at_3"),
        ("category AC@1", "category_ac_at_1"),
        ("category AC@3", "category_ac_at_3"),
        ("runbook hit@3", "runbook_hit_at_3"),
    ):
        console.print(f"{label:<18} {_pct(result[key])}")
    for label, key in (("calibration", "calibration"), ("  target only", "calibration_target")):
        for k in ("top3", "top1"):
            console.print(f"{label if k == 'top3' else '':<18} {calibration_line(result[key], k)}")
    timings = result["timings"]
    console.print(
        f"median replay      {timings['median_replay_ms']} ms (max {timings['max_replay_ms']} ms)"
    )
    console.print(f"whole set          {timings['total_s']} s")
    table = Table("category", "cases", "@1", "@3", "runbook@3")
    for category, row in result["per_category"].items():
        table.add_row(
            category,
            str(row["cases"]),
            str(row["at_1"]),
            str(row["at_3"]),
            str(row["runbook_at_3"]),
        )
    console.print(table)
    for case in result["cases"]:
        if not case.get("judged") or case.get("rank") == 1:
            continue
        got = ", ".join(f"{h['category']}:{h['target']}" for h in case.get("hypotheses", []))
        truth = case.get("expected") or {}
        console.print(
            f"not first: {case['bundle']}: expected {truth.get('category')}:{truth.get('target')},"
            f" got [{got}] {case.get('error', '')}"
        )
    for error in result["errors"]:
        console.print(f"[red]error[/red]  {error['bundle']}: {error['error']}")
