"""Fit (and check) the confidence map: the three coefficients ``shared.scoring.engine.PLATT``.

The engine's confidence is ``calibrated(share, standout)``: a sigmoid of the
competition share's log-odds and of how far the lead's own change left its
noise (Platt scaling). This script runs every case of the kit's three
labelled sets through the live steps (context, detectors, scoring; no LLM),
keeps the three hypotheses a message shows with whether each is right
(public scenarios: category and target, as ``backtest`` judges; PetShop and
Nezha: the service, as ``bench rca`` judges), and fits the coefficients by
logistic regression (an L2 penalty on the ``standout`` weight only), and
the same fit without each set in turn (``PLATT_HELD_OUT``: the engine's range
spans them).

It prints, per set, the expected calibration error of the three shown and of
the first alone for: the competition share alone (``conf-1.1``), the stored
``PLATT``, a refit on all three sets (and the ECE it would still show on this
few cases were it exact: outcomes drawn from its own confidences), the map
fitted on the other two sets
(leave one set out: what a set the map never saw gets) and the mean over 40
splits fitting on half of every set and measuring on the other half (what a
held-out half of the same sets gets).

    python benchmarks/fit_confidence.py [KIT]      # KIT defaults to ../shared

The kit's data are read in place, never copied; without them it says so and
exits 0.
"""

from __future__ import annotations

import argparse
import math
import pickle
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.bench import rca  # noqa: E402
from shared.bench.cases import RcaCase  # noqa: E402
from shared.enrichment.assemble import assemble_context  # noqa: E402
from shared.hypotheses.generate import generate_candidates  # noqa: E402
from shared.models.analysis import ContextSnapshot  # noqa: E402
from shared.models.hypothesis import Candidate, Hypothesis  # noqa: E402
from shared.replay.backtest import find_bundles  # noqa: E402
from shared.replay.bundle import load_bundle  # noqa: E402
from shared.replay.pipeline import context_request  # noqa: E402
from shared.scoring import engine  # noqa: E402
from shared.scoring.reliability import expected_calibration_error  # noqa: E402

SETS = ("public", "petshop", "nezha")
PENALTY = 0.5
"""L2 penalty on the standout weight (per example): keeps it modest on 250 examples."""
SPLITS = 40

Platt = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Case:
    """One incident: every candidate best first (confidence = share), the lead's
    standout, and whether each of the shown three is right."""

    dataset: str
    name: str
    competed: tuple[Hypothesis, ...]
    stand_out: float
    right: tuple[bool, ...]


def _case(
    dataset: str, name: str, context: dict[str, object], judge: Callable[[Hypothesis], bool]
) -> Case | None:
    snapshot = ContextSnapshot.model_validate(context)
    candidates = [Candidate.model_validate(c) for c in generate_candidates(context)]
    competed = engine.competing(candidates, snapshot)
    if not competed:
        return None
    return Case(
        dataset,
        name,
        tuple(competed),
        engine.standout(snapshot, competed[0].target),
        tuple(judge(h) for h in competed[: engine.TOP]),
    )


def collect(kit: Path, sets: Sequence[str] = SETS) -> list[Case]:
    """Every labelled case of the kit's ``sets`` (public scenarios, PetShop, Nezha)."""
    cases: list[Case] = []
    bundles = find_bundles(kit / "scenarios" / "public") if "public" in sets else []
    for path in bundles:
        bundle = load_bundle(path)
        truth = bundle.expected
        if truth is None:
            continue
        context = assemble_context(context_request(bundle), metrics=bundle.metrics())

        def strict(
            h: Hypothesis, target: str = truth.target, category: str = truth.category
        ) -> bool:
            return h.target.lower() == target.lower() and h.category == category

        if (case := _case("public", path.name, context, strict)) is not None:
            cases.append(case)
    for dataset in [d for d in ("petshop", "nezha") if d in sets]:
        folder = kit / "data" / "rca" / dataset
        for item in rca.readers()[dataset](folder):
            context = assemble_context(item.request(), metrics=item.metrics())

            def service(h: Hypothesis, c: RcaCase = item) -> bool:
                names = rca.service_ranking([{"target": h.target}], c)
                return c.truth.lower() in (n.lower() for n in names)

            if (case := _case(dataset, item.case_id, context, service)) is not None:
                cases.append(case)
    return cases


def shown(cases: Sequence[Case], platt: Platt | None) -> list[tuple[str, int, float, bool]]:
    """(set, rank, confidence, right) of the shown three; ``platt`` None: the share itself."""
    rows = []
    for c in cases:
        mapped = (
            list(c.competed) if platt is None else engine.calibrate(c.competed, c.stand_out, platt)
        )
        for rank, (h, right) in enumerate(zip(mapped, c.right, strict=False), start=1):
            rows.append((c.dataset, rank, h.confidence, right))
    return rows


def fit(cases: Sequence[Case]) -> Platt:
    """Penalised logistic regression of right/wrong on (share log-odds, standout)."""
    x, s, y = [], [], []
    for c in cases:
        for h, right in zip(c.competed, c.right, strict=False):
            p = min(1.0 - engine.SHARE_FLOOR, max(engine.SHARE_FLOOR, h.confidence))
            x.append(math.log(p / (1.0 - p)))
            s.append(c.stand_out)
            y.append(1.0 if right else 0.0)
    xa, sa, ya = np.asarray(x), np.asarray(s), np.asarray(y)

    def loss(w: np.ndarray) -> float:
        z = w[0] + w[1] * xa + w[2] * sa
        nll = np.logaddexp(0.0, z) - ya * z
        return float(nll.mean() + PENALTY * w[2] ** 2 / len(ya))

    w = minimize(loss, np.array([0.0, 1.0, 0.0]), method="BFGS").x
    return (round(float(w[0]), 2), round(float(w[1]), 2), round(float(w[2]), 2))


def eces(rows: Sequence[tuple[str, int, float, bool]]) -> dict[str, tuple[float, ...]]:
    """Per set and pooled: ECE of the shown three, of the first, and the three's mean
    confidence and share right."""
    out: dict[str, tuple[float, ...]] = {}
    for name in (*SETS, "pooled"):
        mine = [r for r in rows if name in (r[0], "pooled")]
        top3 = expected_calibration_error((c, ok) for _, _, c, ok in mine) or 0.0
        top1 = expected_calibration_error((c, ok) for _, k, c, ok in mine if k == 1) or 0.0
        mean = sum(c for _, _, c, _ in mine) / max(1, len(mine))
        right = sum(ok for *_, ok in mine) / max(1, len(mine))
        out[name] = (top3, top1, mean, right)
    return out


def floor(rows: Sequence[tuple[str, int, float, bool]]) -> dict[str, tuple[float, ...]]:
    """The mean ECE of the same confidences over outcomes drawn from them: what a
    perfectly calibrated map scores on this few cases (ECE's noise floor)."""
    rnd = random.Random(0)
    sums = {n: [0.0, 0.0] for n in (*SETS, "pooled")}
    for _ in range(SPLITS * 10):
        drawn = [(d, k, c, rnd.random() < c) for d, k, c, _ in rows]
        for n, figures in eces(drawn).items():
            sums[n][0] += figures[0] / (SPLITS * 10)
            sums[n][1] += figures[1] / (SPLITS * 10)
    return {n: tuple(v) for n, v in sums.items()}


def line(label: str, figures: dict[str, tuple[float, ...]]) -> str:
    cells = "  ".join(
        f"{n} {f[0]:.3f}/{f[1]:.3f}" + (f" ({f[2]:.2f}:{f[3]:.2f})" if len(f) > 2 else "")
        for n, f in figures.items()
    )
    return f"{label:<30} {cells}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kit", nargs="?", type=Path, default=REPO.parent / "shared")
    parser.add_argument(
        "--cache", type=Path, help="pickle of the collected cases (outside the repo)"
    )
    args = parser.parse_args(argv)
    if not (args.kit / "scenarios" / "public").is_dir():
        print(f"no kit at {args.kit}: nothing to fit (the kit lives in ../shared)")
        return 0
    if args.cache is not None and args.cache.is_file():
        cases = pickle.loads(args.cache.read_bytes())
    else:
        cases = collect(args.kit)
        if args.cache is not None:
            args.cache.write_bytes(pickle.dumps(cases))
    print(
        f"{len(cases)} cases: "
        + ", ".join(f"{n} {sum(c.dataset == n for c in cases)}" for n in SETS)
    )
    print("ECE of the 3 shown / of the first, 10 bins")
    print(line("share alone (conf-1.1)", eces(shown(cases, None))))
    print(line(f"stored PLATT {engine.PLATT}", eces(shown(cases, engine.PLATT))))
    refit = fit(cases)
    print(line(f"refit on all {refit}", eces(shown(cases, refit))))
    print(line("  if it were exact (floor)", floor(shown(cases, refit))))
    held: list[tuple[str, int, float, bool]] = []
    without = []
    for name in SETS:
        platt = fit([c for c in cases if c.dataset != name])
        without.append(platt)
        print(f"  fitted without {name}: {platt}")
        held += shown([c for c in cases if c.dataset == name], platt)
    print(line("leave one set out", eces(held)))
    print(f"engine constants: PLATT = {refit}; PLATT_HELD_OUT = {tuple(without)}")
    sums = {n: [0.0] * 4 for n in (*SETS, "pooled")}
    base = {n: [0.0] * 4 for n in (*SETS, "pooled")}
    for seed in range(SPLITS):
        rnd = random.Random(seed)
        train: list[Case] = []
        test: list[Case] = []
        for name in SETS:
            mine = [c for c in cases if c.dataset == name]
            rnd.shuffle(mine)
            train += mine[: len(mine) // 2]
            test += mine[len(mine) // 2 :]
        runs: tuple[tuple[dict[str, list[float]], Platt | None], ...] = (
            (sums, fit(train)),
            (base, None),
        )
        for target, mapping in runs:
            for n, figures in eces(shown(test, mapping)).items():
                for i, value in enumerate(figures):
                    target[n][i] += value / SPLITS
    print(line("half of each set, share alone", {n: tuple(v) for n, v in base.items()}))
    print(line("half of each set, refit", {n: tuple(v) for n, v in sums.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
