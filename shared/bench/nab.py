"""``bench nab``: the anomaly detector over the Numenta Anomaly Benchmark, scored as NAB does.

Reads NAB's own layout (``data/<category>/<file>.csv`` with ``timestamp,value``
and ``labels/combined_windows.json``), runs ``shared.anomaly`` on every file
independently (a process per worker), writes
``OUT/<category>/<file>.csv`` with ``timestamp,value,anomaly_score`` (one row
per data row, scores rounded to six places, and scored as written), and
scores them with the project's NAB scorer (``shared.bench.nab_scorer``) under
the three profiles, beside the published scoreboard. The run time counted is
the detector's over the whole corpus, reading and writing included.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.anomaly import anomaly_scores
from shared.bench.nab_scorer import PROFILES, Scorer, label_file, load_windows
from shared.errors import BadInput
from shared.progress import progress

WINDOWS_FILE = Path("labels") / "combined_windows.json"
DECIMALS = 6

PUBLISHED: dict[str, dict[str, float]] = {
    # NAB README scoreboard (BENCHMARKS.md A.1 a): standard, reward low FP, reward low FN.
    "ARTime": {"standard": 74.9, "reward_low_FP_rate": 65.1, "reward_low_FN_rate": 80.4},
    "Numenta HTM": {"standard": 70.5, "reward_low_FP_rate": 62.6, "reward_low_FN_rate": 75.2},
    "CAD OSE": {"standard": 69.9, "reward_low_FP_rate": 67.0, "reward_low_FN_rate": 73.2},
    "Random Cut Forest": {
        "standard": 51.7,
        "reward_low_FP_rate": 38.4,
        "reward_low_FN_rate": 59.7,
    },
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRun:
    """One data file after the detector: its relative path, timestamps and scores."""

    name: str
    timestamps: npt.NDArray[np.datetime64]
    scores: npt.NDArray[np.float64]
    seconds: float


def data_present(nab_dir: Path) -> bool:
    """Whether ``nab_dir`` holds NAB's data folder and combined windows."""
    return (nab_dir / "data").is_dir() and (nab_dir / WINDOWS_FILE).is_file()


def corpus_files(nab_dir: Path) -> list[str]:
    """Every labelled data file, as NAB names it (``category/file.csv``), in order."""
    names = sorted(load_windows(nab_dir / WINDOWS_FILE))
    missing = [n for n in names if not (nab_dir / "data" / n).is_file()]
    if missing:
        raise BadInput(
            f"{nab_dir / 'data'}: {len(missing)} labelled file(s) missing, first {missing[0]}"
        )
    return names


def run_file(data_dir: Path, out_dir: Path, name: str) -> FileRun:
    """Score one data file and write its results CSV; runs in a worker process."""
    started = time.perf_counter()
    stamps, texts = [], []
    with (data_dir / name).open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise BadInput(f"{data_dir / name}: expected the columns timestamp,value")
        for row in reader:
            stamps.append(row[0])
            texts.append(row[1])
    try:
        values = np.array(texts, dtype=np.float64)
        timestamps = np.array([s.replace(" ", "T") for s in stamps], dtype="datetime64[s]")
    except ValueError as exc:
        raise BadInput(f"{data_dir / name}: {exc}") from None
    scores = np.round(anomaly_scores(values), DECIMALS)
    target = out_dir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["timestamp", "value", "anomaly_score"])
        writer.writerows(
            zip(stamps, texts, (f"{s:.{DECIMALS}f}" for s in scores.tolist()), strict=True)
        )
    return FileRun(
        name=name,
        timestamps=timestamps,
        scores=scores,
        seconds=time.perf_counter() - started,
    )


def _runs(data_dir: Path, out_dir: Path, names: list[str], workers: int) -> Iterator[FileRun]:
    if workers <= 1 or len(names) <= 1:
        for name in names:
            yield run_file(data_dir, out_dir, name)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # Longest files first keeps both workers busy to the end.
        sizes = {n: (data_dir / n).stat().st_size for n in names}
        order = sorted(names, key=lambda n: -sizes[n])
        yield from pool.map(run_file, [data_dir] * len(order), [out_dir] * len(order), order)


def bench(
    nab_dir: Path,
    out_dir: Path,
    *,
    workers: int = 2,
    on_file: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the detector over the corpus, write the results, score the three profiles."""
    names = corpus_files(nab_dir)
    windows = load_windows(nab_dir / WINDOWS_FILE)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runs: dict[str, FileRun] = {}
    for run in _runs(nab_dir / "data", out_dir, names, workers):
        runs[run.name] = run
        if on_file is not None:
            on_file(run.name, len(runs), len(names))
    seconds = time.perf_counter() - started
    try:
        scorer = Scorer(label_file(n, runs[n].timestamps, windows[n]) for n in names)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    profiles = scorer.score_all({n: runs[n].scores for n in names})
    return {
        "corpus": str(nab_dir),
        "out": str(out_dir),
        "files": len(names),
        "rows": int(sum(len(r.scores) for r in runs.values())),
        "windows": scorer.windows,
        "workers": workers,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(sum(r.seconds for r in runs.values()), 2),
        "profiles": {p.profile: p.to_json() for p in profiles},
        "published": PUBLISHED,
    }


def render(result: Mapping[str, Any], write: Callable[[str], None]) -> None:
    """Our three scores beside the published scoreboard, then the run time."""
    write(
        f"NAB: {result['files']} files, {result['rows']} rows, {result['windows']} windows; "
        f"results in {result['out']}"
    )
    write(f"{'detector':<30} {'standard':>9} {'low FP':>9} {'low FN':>9}")
    ours = result["profiles"]
    write(f"{'SRE Copilot':<30} " + " ".join(f"{ours[p]['score']:>9.1f}" for p in PROFILES))
    for name, figures in result["published"].items():
        write(f"{name + ' (published)':<30} " + " ".join(f"{figures[p]:>9.1f}" for p in PROFILES))
    std = ours["standard"]
    write(
        f"standard: threshold {std['threshold']:.4f}, {std['detected_windows']}/{std['windows']} "
        f"windows detected, {std['false_positive_rows']} detections outside windows"
    )
    write(
        f"corpus run time: {result['seconds']:.1f} s on {result['workers']} worker(s) "
        f"({result['cpu_seconds']:.1f} s of detector time)"
    )


file_progress = progress
"""Moved to ``shared.progress``; the old name stays importable for callers not yet moved."""
