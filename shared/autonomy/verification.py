"""Did an action help? The service's error ratio and p99 latency before and after it.

``read_health`` takes the latest value of the catalog's ``error_ratio`` and
``latency_p99`` signals (the tenant's selector overrides apply) for one
service through the metrics port; ``judge`` compares the reading taken right
before the action with the one taken after the settle time, and with the
executor's readiness. Worse means: not ready, or the error ratio rose by more
than ``ERROR_TOLERANCE`` (absolute) and 20 % of what it was, or p99 latency
rose by more than 20 % and ``LATENCY_TOLERANCE_SECONDS``. A signal that
could not be read on either side is not judged (the reason says so): the
absence of evidence is never taken for harm, and never for success either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.enrichment.signals import SignalCatalog, render
from shared.ports.metrics import MetricsSource

SIGNALS = ("error_ratio", "latency_p99")
WINDOW = timedelta(minutes=5)
STEP = timedelta(minutes=1)
ERROR_TOLERANCE = 0.01
LATENCY_TOLERANCE_SECONDS = 0.05
RELATIVE = 0.2


def read_health(
    metrics: MetricsSource | None,
    service: str,
    now: datetime,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``{"error_ratio": float | None, "latency_p99": float | None, "notes": [...]}``."""
    reading: dict[str, Any] = {"at": now.isoformat(), "notes": []}
    catalog = SignalCatalog().with_overrides(dict(overrides or {}))
    for name in SIGNALS:
        reading[name] = None
        spec = catalog.get(name)
        if metrics is None or spec is None:
            reading["notes"].append(f"{name}: no metrics source")
            continue
        result = metrics.query_range(render(spec.selector, [service]), now - WINDOW, now, STEP)
        if not result.ok:
            reading["notes"].append(f"{name}: {result.error}")
            continue
        latest = [s.samples[-1][1] for s in result.series if s.samples]
        if not latest:
            reading["notes"].append(f"{name}: no samples for {service}")
            continue
        reading[name] = max(latest)  # the worst series, as the catalog folds a service
    return reading


@dataclass(frozen=True, slots=True)
class Verdict:
    worse: bool
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"worse": self.worse, "reasons": list(self.reasons)}


def judge(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    *,
    ready: bool,
    readiness: str,
) -> Verdict:
    """Worse or not, with one reason per signal."""
    reasons: list[str] = []
    worse = False
    if not ready:
        worse = True
        reasons.append(f"not ready: {readiness}")
    else:
        reasons.append(f"ready: {readiness}")
    before = before or {}
    for name in SIGNALS:
        old, new = before.get(name), after.get(name)
        if not isinstance(old, int | float) or not isinstance(new, int | float):
            reasons.append(f"{name} not compared (no reading before or after)")
            continue
        if name == "error_ratio":
            limit = old + max(ERROR_TOLERANCE, RELATIVE * old)
            shown = f"error ratio {old:.3f} -> {new:.3f}"
        else:
            limit = old * (1 + RELATIVE) + LATENCY_TOLERANCE_SECONDS
            shown = f"p99 latency {old:.3f}s -> {new:.3f}s"
        if new > limit:
            worse = True
            reasons.append(f"{shown}: worse")
        else:
            reasons.append(f"{shown}: not worse")
    return Verdict(worse=worse, reasons=tuple(reasons))
