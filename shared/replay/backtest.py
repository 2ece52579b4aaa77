"""Backtest: replay every bundle of a folder and measure against the ground truth.

A hypothesis is a hit when category and target both equal the truth
(case-insensitive); AC@k counts hits within the first k. Category-only
accuracy shows whether misses are about *what* or about *where*. Runbook
hit@3 counts the expected runbook among the first three. Calibration: the
expected calibration error of the confidences shown (the first three of each
case, then the first alone), a hypothesis being right when it names the true
category on the true target, as it claims (``calibration``), and, beside it,
when only its target is the true one (``calibration_target``: a second
hypothesis on the right service with the wrong mechanism counts there).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.errors import BadInput
from shared.progress import OnItem
from shared.replay.bundle import EXPECTED, SCENARIO, Expected, load_bundle
from shared.replay.pipeline import replay_bundle
from shared.scoring.reliability import calibration_summary


def find_bundles(folder: Path) -> list[Path]:
    """Bundles in ``folder``: itself, its sub-folders, and those of ``incidents/``."""
    folder = Path(folder)
    if (folder / SCENARIO).is_file():
        return [folder]
    found: set[Path] = set()
    for parent in (folder, folder / "incidents"):
        if parent.is_dir():
            found |= {p for p in parent.iterdir() if p.is_dir() and (p / SCENARIO).is_file()}
    return sorted(found)


def _rank_of(output: Mapping[str, Any], expected: Expected, *, category_only: bool) -> int | None:
    for h in output["hypotheses"]:
        if h["category"].lower() != expected.category.value:
            continue
        if category_only or h["target"].lower() == expected.target.lower():
            return int(h["rank"])
    return None


def _share(hits: list[bool]) -> float | None:
    return round(sum(hits) / len(hits), 4) if hits else None


def _judged_confidences(
    judged: list[dict[str, Any]], *, strict: bool
) -> list[list[tuple[float, bool]]]:
    """Per judged case, its shown hypotheses as (confidence, right) in rank order."""
    out = []
    for c in judged:
        truth = c.get("expected")
        if truth is None:
            continue
        out.append(
            [
                (
                    float(h["confidence"]),
                    h["target"].lower() == truth["target"].lower()
                    and (not strict or h["category"].lower() == truth["category"]),
                )
                for h in c["hypotheses"][:3]
            ]
        )
    return out


def backtest(
    folder: Path | str,
    runbooks_dir: Path | str | None = None,
    *,
    on_bundle: OnItem | None = None,
) -> dict[str, Any]:
    """Replay every bundle under ``folder``; figures, per-category table, timings, cases.

    ``on_bundle(name, done, total)`` is told as each bundle starts, and once at
    the end (a progress bar).
    """
    started = time.perf_counter()
    cases: list[dict[str, Any]] = []
    timings: list[float] = []
    bundles = find_bundles(Path(folder))
    for path in bundles:
        if on_bundle is not None:
            on_bundle(path.name, len(cases), len(bundles))
        case: dict[str, Any] = {"bundle": path.name}
        t0 = time.perf_counter()
        try:
            output = replay_bundle(path, runbooks_dir)
        except BadInput as exc:
            # A bundle that cannot be replayed is a miss on every figure it has truth for.
            case["error"] = exc.reason
            case["judged"] = (path / EXPECTED).is_file()
            cases.append(case)
            continue
        timings.append((time.perf_counter() - t0) * 1000.0)
        case["scenario"] = output["scenario"]
        case["hypotheses"] = [
            {k: h[k] for k in ("rank", "category", "target", "confidence")}
            for h in output["hypotheses"]
        ]
        case["runbooks"] = [r["id"] for r in output["runbooks"]]
        if (path / EXPECTED).is_file():
            truth = load_bundle(path).expected
            if truth is not None:
                case["judged"] = True
                case["expected"] = truth.model_dump(mode="json")
                case["rank"] = _rank_of(output, truth, category_only=False)
                case["category_rank"] = _rank_of(output, truth, category_only=True)
                case["runbook_hit"] = (
                    truth.runbook in case["runbooks"][:3] if truth.runbook else None
                )
        cases.append(case)
    if on_bundle is not None:
        on_bundle("", len(cases), len(bundles))

    judged = [c for c in cases if c.get("judged")]
    ranks = [c.get("rank") for c in judged]
    cat_ranks = [c.get("category_rank") for c in judged]
    runbook = [
        bool(c.get("runbook_hit"))
        for c in judged
        if "error" in c or (c.get("expected") or {}).get("runbook")
    ]
    per_category: dict[str, dict[str, Any]] = {}
    for c in judged:
        if "expected" not in c:
            continue
        row = per_category.setdefault(
            c["expected"]["category"], {"cases": 0, "at_1": 0, "at_3": 0, "runbook_at_3": 0}
        )
        row["cases"] += 1
        row["at_1"] += c["rank"] == 1
        row["at_3"] += c["rank"] is not None
        row["runbook_at_3"] += bool(c.get("runbook_hit"))
    return {
        "bundles": len(cases),
        "judged": len(judged),
        "errors": [{"bundle": c["bundle"], "error": c["error"]} for c in cases if "error" in c],
        "ac_at_1": _share([r == 1 for r in ranks]),
        "ac_at_3": _share([r is not None for r in ranks]),
        "category_ac_at_1": _share([r == 1 for r in cat_ranks]),
        "category_ac_at_3": _share([r is not None for r in cat_ranks]),
        "runbook_hit_at_3": _share(runbook),
        "calibration": calibration_summary(_judged_confidences(judged, strict=True)),
        "calibration_target": calibration_summary(_judged_confidences(judged, strict=False)),
        "per_category": dict(sorted(per_category.items())),
        "timings": {
            "median_replay_ms": round(statistics.median(timings), 1) if timings else None,
            "max_replay_ms": round(max(timings), 1) if timings else None,
            "total_s": round(time.perf_counter() - started, 2),
        },
        "cases": cases,
    }
