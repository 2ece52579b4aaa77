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

from rich.console import Console  # noqa: E402

from shared.replay.backtest import backtest  # noqa: E402
from shared.replay.report import render_backtest  # noqa: E402

DEFAULT = REPO.parent / "shared" / "scenarios" / "public"


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
    render_backtest(result, Console(highlight=False), folder=str(args.folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
