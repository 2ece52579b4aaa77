"""``bench forecast``: right-share of capacity forecasts on series with known answers.

Each ``<id>.json`` (``capacity@1``) with an ``<id>.expected.json`` beside it
is forecast by the product and by Prometheus ``predict_linear`` over the last
hour and the last six hours (``shared.predict.baselines``), and scored by the
SPEC rule: when the disk fills within 12 hours, right if the predicted time
is within 20% of the true hours left (or 30 minutes, whichever is larger);
otherwise right if nothing is predicted within 12 hours.

Prophet and statsforecast's AutoETS run when they are importable (they are
not dependencies of the product); otherwise the figures measured in issue 9
on the same rule are shown, labelled as such.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import BadInput
from shared.predict.baselines import predict_linear_hours
from shared.predict.series import CapacitySeries, parse_moment, read_json_file, read_series

FILL_WITHIN_H = 12.0
OURS = "sre-copilot"
BASELINES: dict[str, float] = {"predict_linear 1h": 3600.0, "predict_linear 6h": 6 * 3600.0}
REPORTED: dict[str, dict[str, str]] = {
    "Prophet": {"right_share": "0.67", "ms_per_series": "about 450 ms"},
    "AutoETS": {"right_share": "0.54-0.58", "ms_per_series": "not measured"},
}
"""Issue 9's measurements on the kit's capacity series, shown when the model is absent."""
REPORTED_NOTE = "reported in issue 9, not run here"


def right(predicted: float | None, truth: float | None) -> bool:
    """The SPEC rule for one forecast (hours left, None for not within the horizon)."""
    if truth is not None and truth <= FILL_WITHIN_H:
        return predicted is not None and abs(predicted - truth) <= max(0.2 * truth, 0.5)
    return predicted is None or predicted > FILL_WITHIN_H


@dataclass(frozen=True, slots=True)
class Case:
    series: CapacitySeries
    truth_hours: float | None


def cases(folder: Path) -> Iterator[Case]:
    """Every series of ``folder`` that has an expected answer beside it, by name."""
    for expected in sorted(folder.glob("*.expected.json")):
        path = expected.with_name(expected.name.removesuffix(".expected.json") + ".json")
        series = read_series(path)
        answer = read_json_file(expected)
        if not isinstance(answer, dict) or "exhausted_at" not in answer:
            raise BadInput(f"{expected}: field 'exhausted_at': missing")
        at = answer["exhausted_at"]
        try:
            moment = None if at is None else parse_moment(at, "exhausted_at")
        except BadInput as exc:
            raise BadInput(f"{expected}: {exc.reason}") from None
        truth = None if moment is None else (moment - series.now).total_seconds() / 3600.0
        yield Case(series, truth)


def _optional_models() -> dict[str, Callable[[CapacitySeries], float | None]]:
    """Prophet and AutoETS runners, for whichever is importable here."""
    models: dict[str, Callable[[CapacitySeries], float | None]] = {}
    if importlib.util.find_spec("prophet") is not None:
        models["Prophet"] = _prophet_hours
    if importlib.util.find_spec("statsforecast") is not None:
        models["AutoETS"] = _autoets_hours
    return models


def _first_zero(step_h: float, path: np.ndarray[Any, Any]) -> float | None:
    below = np.flatnonzero(np.asarray(path) <= 0)
    return float((below[0] + 1) * step_h) if below.size else None


def _prophet_hours(series: CapacitySeries) -> float | None:  # pragma: no cover - optional
    import pandas as pd  # type: ignore[import-untyped]
    from prophet import Prophet  # type: ignore[import-not-found]

    frame = pd.DataFrame(
        {"ds": pd.to_datetime(series.times, unit="s"), "y": series.free.astype(float)}
    )
    model = Prophet(daily_seasonality=True, weekly_seasonality=False, yearly_seasonality=False)
    model.fit(frame)
    future = model.make_future_dataframe(periods=48 * 6, freq="10min", include_history=False)
    return _first_zero(1 / 6, model.predict(future)["yhat"].to_numpy())


def _autoets_hours(series: CapacitySeries) -> float | None:  # pragma: no cover - optional
    from statsforecast.models import AutoETS  # type: ignore[import-not-found]

    step = 10  # minutes: a 24 h history of 144 points, daily season unknowable in one day
    values = series.free.astype(float)[::step]
    model = AutoETS(season_length=1).fit(values)
    return _first_zero(step / 60, model.predict(h=48 * 60 // step)["mean"])


def bench(
    folder: Path, *, on_case: Callable[[str, int, int], None] | None = None
) -> dict[str, Any]:
    """Run every case of ``folder``; right-share per method and the product's time per series.

    ``on_case(id, done, total)`` is told after each series (a progress bar).
    """
    if not folder.is_dir():
        raise BadInput(f"{folder}: not a folder of capacity series")
    todo = list(cases(folder))
    optional = _optional_models()
    methods = [OURS, *BASELINES, *optional]
    rows: list[dict[str, Any]] = []
    timings: list[float] = []
    for done, case in enumerate(todo, 1):
        s = case.series
        t0 = time.perf_counter()
        ours = s.forecast()
        timings.append((time.perf_counter() - t0) * 1000.0)
        predicted: dict[str, float | None] = {OURS: ours.hours_left}
        for name, window in BASELINES.items():
            predicted[name] = predict_linear_hours(s.times, s.free, now=s.now, window_s=window)
        for name, run in optional.items():
            predicted[name] = run(s)
        rows.append(
            {
                "id": s.id,
                "truth_hours": _round(case.truth_hours),
                "predicted_hours": {m: _round(v) for m, v in predicted.items()},
                "right": {m: right(v, case.truth_hours) for m, v in predicted.items()},
                "model": ours.model,
                "reason": ours.reason,
                "ms": round(timings[-1], 1),
            }
        )
        if on_case is not None:
            on_case(s.id, done, len(todo))
    scores = {
        m: {
            "right": sum(r["right"][m] for r in rows),
            "right_share": round(sum(r["right"][m] for r in rows) / len(rows), 3) if rows else None,
        }
        for m in methods
    }
    return {
        "folder": str(folder),
        "series": len(rows),
        "rule": "fills within 12 h: within 20% (or 30 min) of the true hours left; "
        "otherwise: none predicted within 12 h",
        "methods": scores,
        "reported": {
            name: {**figures, "note": REPORTED_NOTE}
            for name, figures in REPORTED.items()
            if name not in optional
        },
        "timings": {
            "median_ms": round(statistics.median(timings), 1) if timings else None,
            "max_ms": round(max(timings), 1) if timings else None,
            "target_ms": 50,
        },
        "cases": rows,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def render(result: Mapping[str, Any], write: Callable[[str], None]) -> None:
    """The figures as a plain table: the product, the baselines, and what was reported."""
    n = result["series"]
    write(f"capacity forecasts: {n} series with expected answers in {result['folder']}")
    write(f"rule: {result['rule']}")
    write(f"{'method':<20} {'right':>7} {'share':>10}  time per series")
    t = result["timings"]
    for name, score in result["methods"].items():
        share = f"{score['right_share']:.2f}" if score["right_share"] is not None else "-"
        timing = (
            f"median {t['median_ms']} ms, max {t['max_ms']} ms (target < {t['target_ms']} ms)"
            if name == OURS and t["median_ms"] is not None
            else ""
        )
        write(f"{name:<20} {score['right']:>3}/{n:<3} {share:>10}  {timing}".rstrip())
    for name, figures in result["reported"].items():
        write(
            f"{name:<20} {'-':>7} {figures['right_share']:>10}  "
            f"{figures['ms_per_series']} ({figures['note']})"
        )
    wrong = [r for r in result["cases"] if not r["right"][OURS]]
    for r in wrong:
        write(
            f"  wrong: {r['id']} truth {_hours_text(r['truth_hours'])}, "
            f"forecast {_hours_text(r['predicted_hours'][OURS])} ({r['reason']})"
        )


def _hours_text(value: float | None) -> str:
    return "not within 48 h" if value is None else f"{value:.1f} h"
