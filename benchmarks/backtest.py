"""Backtest benchmark: replay every scenario bundle and print accuracy and timings.

Replays each bundle through the same pipeline steps the live orchestration
runs (no LLM), and compares with ``expected.json`` where present.

Targets on 2 cores: AC@1 >= 0.8, AC@3 >= 0.95, runbook hit@3 >= 0.9 on the
public set; median replay under 300 ms after start-up; the set under 30 s.

    python benchmarks/backtest.py [FOLDER] [--json]

FOLDER defaults to the kit's public set, ``../shared/scenarios/public``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.replay.backtest import backtest  # noqa: E402

DEFAULT = REPO.parent / "shared" / "scenarios" / "public"


def _pct(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, float) else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(
            f"no scenario set at {args.folder}: nothing to benchmark (the kit lives in ../shared)"
        )
        return 0
    result = backtest(args.folder)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"scenario set       {args.folder}")
    print(f"bundles            {result['bundles']} ({result['judged']} with ground truth)")
    print(f"AC@1               {_pct(result['ac_at_1'])}")
    print(f"AC@3               {_pct(result['ac_at_3'])}")
    print(f"category AC@1      {_pct(result['category_ac_at_1'])}")
    print(f"category AC@3      {_pct(result['category_ac_at_3'])}")
    print(f"runbook hit@3      {_pct(result['runbook_hit_at_3'])}")
    timings = result["timings"]
    print(
        f"median replay      {timings['median_replay_ms']} ms (max {timings['max_replay_ms']} ms)"
    )
    print(f"whole set          {timings['total_s']} s")
    print("\ncategory               cases  @1  @3  runbook@3")
    for category, row in result["per_category"].items():
        print(
            f"{category:<22} {row['cases']:>5} {row['at_1']:>3} {row['at_3']:>3} "
            f"{row['runbook_at_3']:>10}"
        )
    misses = [c for c in result["cases"] if c.get("judged") and c.get("rank") != 1]
    if misses:
        print("\nnot first:")
        for case in misses:
            got = ", ".join(f"{h['category']}:{h['target']}" for h in case.get("hypotheses", []))
            truth = case.get("expected") or {}
            print(
                f"  {case['bundle']}: expected {truth.get('category')}:{truth.get('target')}, "
                f"got [{got}] {case.get('error', '')}"
            )
    for error in result["errors"]:
        print(f"error  {error['bundle']}: {error['error']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
