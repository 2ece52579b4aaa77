"""What an SRE would use instead: Prometheus ``predict_linear`` over a window.

As Prometheus computes it (``promql/functions.go``, ``funcPredictLinear``):
an ordinary least-squares line through the window's samples, with the
intercept taken at the *evaluation* time (``enh.Ts``), extrapolated ``t``
seconds from there. The window is a range selector ``[w]`` ending at the
evaluation time; since Prometheus 3 it is left-open (a sample exactly ``w``
before is out). Time to exhaustion is where that line reaches zero: the
moment ``predict_linear(avail[w], t) < 0`` would start to fire.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from shared.predict.regimes import Floats


def predict_linear_hours(
    times: Floats, free: Floats, *, now: datetime, window_s: float, horizon_h: float = 48.0
) -> float | None:
    """Hours from ``now`` until the ``predict_linear`` line over ``window_s`` reaches zero."""
    at = now.timestamp()
    keep = (times > at - window_s) & (times <= at) & np.isfinite(free)
    t, v = times[keep], free[keep]
    if t.size < 2:
        return None
    x = t - at  # intercept at the evaluation time, as Prometheus does
    x_mean, v_mean = float(np.mean(x)), float(np.mean(v))
    cov = float(np.sum((x - x_mean) * (v - v_mean)))
    var = float(np.sum((x - x_mean) ** 2))
    if var == 0:
        return None
    slope = cov / var  # bytes per second
    intercept = v_mean - slope * x_mean
    if intercept <= 0:
        return 0.0
    if slope >= 0:
        return None
    when = -intercept / slope / 3600.0
    return when if when <= horizon_h else None
