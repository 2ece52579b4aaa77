"""``bench rca``: service-level top-k of the live pipeline on labelled RCA datasets.

Each case goes through the same steps as a live incident and ``replay``
(context assembly over the metrics port, the detectors, the confidence
engine; no LLM). The ranking is read at service level: hypotheses best first,
a host target standing for the services on it, each service counted once.
The scoring engine is asked for more than the 3 hypotheses a message shows so
that top-5 can be measured; the order of the first 3 is the live order.

Beside it, the trivial baseline the issue names, on the same cases: every
series' robust z-score at the alert time against its own earlier samples,
services ranked by their largest one.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shared.bench import moved, nezha, petshop
from shared.bench.cases import RcaCase
from shared.enrichment.assemble import assemble_context
from shared.errors import BadInput
from shared.hypotheses.generate import generate_candidates
from shared.progress import OnItem
from shared.scoring.engine import score_candidates
from shared.scoring.reliability import calibration_summary

Dataset = Literal["petshop", "nezha"]
KS = (1, 3, 5)
DEEP = 12
"""Hypotheses asked of the engine: enough for five distinct services."""

BASELINE_GAP_S = 600.0
"""The trivial baseline's reference ends this long before the alert."""

PUBLISHED: dict[str, dict[str, dict[str, float | None]]] = {
    # BENCHMARKS.md B.3, the notebook's MAD>=5 anomaly-traversal baseline (latency|availability).
    "low_traffic/latency": {"traversal (notebook)": {"top1": 0.571, "top3": 0.571}},
    "low_traffic/availability": {"traversal (notebook)": {"top1": 0.833, "top3": 1.0}},
    "high_traffic/latency": {"traversal (notebook)": {"top1": 0.571, "top3": 0.786}},
    "high_traffic/availability": {"traversal (notebook)": {"top1": 0.667, "top3": 1.0}},
    "temporal/latency": {"traversal (notebook)": {"top1": 1.0, "top3": 1.0}},
    "temporal/availability": {"traversal (notebook)": {"top1": 0.75, "top3": 1.0}},
    # BENCHMARKS.md B.2, Nezha FSE'23 Table 3 (AS@k, service level).
    "online-boutique": {
        "MicroRCA": {"top1": 0.1607, "top3": 0.625, "top5": 0.9275},
        "MicroRank": {"top1": 0.4107, "top3": 0.4821, "top5": 0.625},
        "PDiagnose": {"top1": 0.4107, "top3": 0.7321, "top5": 0.8214},
        "Nezha w/o logs": {"top1": 0.6428, "top3": 0.6428, "top5": 0.6428},
        "Nezha": {"top1": 0.9286, "top3": 0.9643, "top5": 0.9643},
    },
    "train-ticket": {
        "MicroRCA": {"top1": 0.20, "top3": 0.3111, "top5": 0.4444},
        "MicroRank": {"top1": 0.1556, "top3": 0.2444, "top5": 0.3556},
        "PDiagnose": {"top1": 0.0889, "top3": 0.1333, "top5": 0.2222},
        "Nezha w/o logs": {"top1": 0.4222, "top3": 0.4444, "top5": 0.4444},
        "Nezha": {"top1": 0.8667, "top3": 0.9778, "top5": 0.9778},
    },
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """One case: where the truth ranked for the pipeline and for the baseline."""

    case_id: str
    system: str
    fault: str
    truth: str
    ranking: tuple[str, ...]
    baseline: tuple[str, ...]
    categories: tuple[str, ...]
    ms: float
    shown: tuple[tuple[float, bool], ...] = ()
    """The first 3 hypotheses as (confidence, right): right when its target is,
    or (a host) carries, the true service."""

    def rank(self, which: Literal["ranking", "baseline"]) -> int | None:
        names = [n.lower() for n in getattr(self, which)]
        truth = self.truth.lower()
        return names.index(truth) + 1 if truth in names else None


def readers() -> dict[str, Callable[..., Iterable[RcaCase]]]:
    return {"petshop": petshop.read_cases, "nezha": nezha.read_cases}


def as_dataset(name: str) -> Dataset:
    """The dataset named on the command line; BadInput for anything else."""
    if name == "petshop":
        return "petshop"
    if name == "nezha":
        return "nezha"
    raise BadInput(f"dataset {name!r}: expected petshop or nezha")


def data_present(dataset: Dataset, folder: Path) -> bool:
    if dataset == "petshop":
        return petshop.find_root(folder) is not None
    return bool(nezha.find_days(folder))


def service_ranking(hypotheses: Iterable[Mapping[str, Any]], case: RcaCase) -> list[str]:
    """Distinct services in hypothesis order; a host stands for the services on it."""
    on_host: dict[str, list[str]] = {}
    for service, hosts in case.instances.items():
        for host in hosts:
            on_host.setdefault(host, []).append(service)
    out: list[str] = []
    for h in hypotheses:
        target = str(h["target"])
        for name in on_host.get(target, [target]):
            if name not in out:
                out.append(name)
    return out


def baseline_ranking(case: RcaCase) -> list[str]:
    """Services by their largest robust z-score at the alert time (the trivial baseline)."""
    now = case.alert_time.timestamp()
    best: dict[str, float] = {}
    for s in case.series:
        seen = s.times <= now
        if not seen.any():
            continue
        ref = s.values[(s.times >= now - 6 * 3600) & (s.times <= now - BASELINE_GAP_S)]
        if ref.size < 2:
            continue
        current = float(s.values[seen][-1])
        median = float(np.median(ref))
        spread = max(1.4826 * float(np.median(np.abs(ref - median))), 0.01 * abs(median), 1e-9)
        z = abs(current - median) / spread
        service = str(s.labels["service"])
        if math.isfinite(z) and z > best.get(service, -1.0):
            best[service] = z
    return [name for name, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))]


def run_case(case: RcaCase) -> Outcome:
    request = case.request()
    metrics = case.metrics()
    t0 = time.perf_counter()
    context = assemble_context(request, metrics=metrics)
    candidates = generate_candidates(context)
    hypotheses = score_candidates(context, candidates, top=DEEP)
    ms = (time.perf_counter() - t0) * 1000.0
    return Outcome(
        case_id=case.case_id,
        system=case.system,
        fault=case.fault,
        truth=case.truth,
        ranking=tuple(service_ranking(hypotheses, case)),
        baseline=tuple(baseline_ranking(case)),
        categories=tuple(str(h["category"]) for h in hypotheses[:3]),
        ms=ms,
        shown=tuple(
            (
                float(h["confidence"]),
                case.truth.lower() in (n.lower() for n in service_ranking([h], case)),
            )
            for h in hypotheses[:3]
        ),
    )


def _topk(outcomes: list[Outcome], which: Literal["ranking", "baseline"]) -> dict[str, float]:
    ranks = [o.rank(which) for o in outcomes]
    return {
        f"top{k}": round(sum(r is not None and r <= k for r in ranks) / len(ranks), 4) for k in KS
    }


def _group_key(dataset: Dataset, outcome: Outcome) -> str:
    if dataset == "petshop":
        system = "temporal" if outcome.system.startswith("temporal") else outcome.system
        return f"{system}/{outcome.fault}"
    return outcome.system


def summarise(dataset: Dataset, outcomes: list[Outcome]) -> dict[str, Any]:
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.system, []).append(o)
        key = _group_key(dataset, o)
        if key != o.system:
            groups.setdefault(key, []).append(o)
    rows = []
    for key in sorted(groups):
        members = groups[key]
        rows.append(
            {
                "group": key,
                "cases": len(members),
                "pipeline": _topk(members, "ranking"),
                "baseline": _topk(members, "baseline"),
                "published": PUBLISHED.get(key, {}),
            }
        )
    timings = [o.ms for o in outcomes]
    return {
        "dataset": dataset,
        "cases": len(outcomes),
        "pipeline": _topk(outcomes, "ranking") if outcomes else {},
        "baseline": _topk(outcomes, "baseline") if outcomes else {},
        "groups": rows,
        "calibration": calibration_summary(o.shown for o in outcomes),
        "timings": {
            "median_ms": round(statistics.median(timings), 1) if timings else None,
            "max_ms": round(max(timings), 1) if timings else None,
        },
        "cases_detail": [
            {
                "case": o.case_id,
                "truth": o.truth,
                "fault": o.fault,
                "rank": o.rank("ranking"),
                "baseline_rank": o.rank("baseline"),
                "top3": list(o.ranking[:3]),
                "categories": list(o.categories),
                "ms": round(o.ms, 1),
            }
            for o in outcomes
        ],
    }


def bench(
    dataset: Dataset,
    folder: Path,
    *,
    limit: int | None = None,
    on_case: OnItem | None = None,
) -> dict[str, Any]:
    """Run every case of ``dataset`` under ``folder``; ``limit`` cases per scenario/day."""
    cases = list(readers()[dataset](folder, limit=limit))
    outcomes: list[Outcome] = []
    for done, case in enumerate(cases, start=1):
        outcomes.append(run_case(case))
        if on_case is not None:
            on_case(case.case_id, done, len(cases))
    return summarise(dataset, outcomes)


def bench_moved(
    dataset: Dataset,
    folder: Path,
    *,
    limit: int | None = None,
    to: Iterable[str] = (),
    on_case: OnItem | None = None,
) -> dict[str, Any]:
    """Every case with its fault moved onto each other service it could have come from
    (``to``: only these), ranked by the same pipeline (see ``shared.bench.moved``)."""
    wanted = set(to)
    ranks: dict[str, list[int | None]] = {}
    cases = list(readers()[dataset](folder, limit=limit))
    for done, case in enumerate(cases, start=1):
        for target in moved.targets(case):
            shifted = None if wanted and target not in wanted else moved.move_fault(case, target)
            if shifted is not None:
                ranks.setdefault(target, []).append(run_case(shifted).rank("ranking"))
        if on_case is not None:
            on_case(case.case_id, done, len(cases))
    unknown = sorted(wanted - set(ranks))
    if unknown:
        raise BadInput(
            f"--to {', '.join(unknown)}: no case's fault could be moved there (a service "
            "reached from the alerting one by calls it waits for, with series of its own)"
        )
    return {"dataset": dataset, "moved": True, **moved.summarise(ranks)}


def render_moved(result: Mapping[str, Any], write: Callable[[str], None]) -> None:
    """The moved-fault figures as a plain table, one row per target service."""
    write(f"{result['dataset']}: faults moved onto another service, top-1/3 per target")
    write(f"{'target':<58} {'cases':>5}  top1  top3")
    rows = [*result["targets"].items(), ("all", result["all"])]
    for name, f in rows:
        if f["cases"]:
            write(f"{name[:58]:<58} {f['cases']:>5}  {f['top1']:.2f}  {f['top3']:.2f}")
    if result["median_target_top1"] is not None:
        write(f"median top-1 over targets: {result['median_target_top1']:.2f}")


def _fmt(figures: Mapping[str, float | None]) -> str:
    return " ".join(
        f"{figures[k]:.2f}" if figures.get(k) is not None else "  - "
        for k in ("top1", "top3", "top5")
    )


def render(result: Mapping[str, Any], write: Callable[[str], None]) -> None:
    """The figures as a plain table: ours, the baseline, and what was published."""
    write(f"{result['dataset']}: {result['cases']} case(s), top-1/3/5 at service level")
    write(f"{'group':<26} {'cases':>5}  {'pipeline':<14}  {'baseline':<14}  published")
    for row in result["groups"]:
        published = "; ".join(f"{name} {_fmt(f)}" for name, f in row["published"].items())
        write(
            f"{row['group']:<26} {row['cases']:>5}  {_fmt(row['pipeline']):<14}  "
            f"{_fmt(row['baseline']):<14}  {published}"
        )
    if result["cases"]:
        write(
            f"{'all':<26} {result['cases']:>5}  {_fmt(result['pipeline']):<14}  "
            f"{_fmt(result['baseline']):<14}"
        )
    cal = result.get("calibration") or {}
    for k in ("top3", "top1"):
        if cal.get(f"ece_{k}") is not None:
            write(
                f"calibration {k}: ECE {cal[f'ece_{k}']:.3f} (mean confidence "
                f"{cal[f'mean_confidence_{k}']:.2f}, right {cal[f'accuracy_{k}']:.2f})"
            )
    t = result["timings"]
    write(f"analysis time: median {t['median_ms']} ms, max {t['max_ms']} ms")
