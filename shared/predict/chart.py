"""A forecast as a PNG: the history, the forecast line, its P10-P90 band, when it runs out.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, so no
global figure state and no display; safe from several threads at once). The
x axis is hours from now, so the picture needs no time zone; the y axis is
free space in binary units scaled to the filesystem. The PNG carries no
software version or date, so the same forecast always gives the same bytes.

The forecast core does not return its fitted curve; the line here joins the
free space now to the predicted crossing, and the band fans out from now to
the P10 and P90 crossings (to the edge of the chart when P90 is beyond the
horizon). That is what the message says in words, drawn.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from shared.formatting import duration
from shared.predict.forecast import HORIZON_H, Forecast, Status

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 3.2, 100
"""800 x 320 pixels: readable in a Slack thread preview."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_HISTORY = "#4a5568"
_FORECAST = "#c53030"
_BAND = "#feb2b2"


def _unit(top: float) -> tuple[float, str]:
    """The binary unit that keeps ``top`` between 1 and 1024."""
    index = 0
    scale = 1.0
    while top / scale >= 1024 and index < len(_UNITS) - 1:
        scale *= 1024
        index += 1
    return scale, _UNITS[index]


def render(
    times: Sequence[float] | np.ndarray,
    free: Sequence[float] | np.ndarray,
    result: Forecast,
    *,
    title: str,
    size_bytes: float | None = None,
    quantity: str = "free",
) -> bytes:
    """The PNG bytes of one filesystem's history (unix seconds, free bytes) and forecast.

    ``quantity`` names what is drawn on the y axis (``headroom`` for memory
    against its limit).

    ``title`` is drawn as plain text (matplotlib's mathtext is switched off for
    it), so a label from outside cannot change the picture's markup.
    """
    now_s = result.now.timestamp()
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(free, dtype=np.float64)
    keep = np.isfinite(t) & np.isfinite(v) & (t <= now_s)
    hours = (t[keep] - now_s) / 3600.0
    values = v[keep]
    free_now = result.free_now if result.free_now is not None else _last(values)
    left = result.hours_left if result.status is Status.FILLING else None
    low, high = result.range_hours or (None, None)
    if left is not None and low is not None:
        # As the message says it: the band holds the estimate (see forecast_message.when).
        low, high = min(low, left), (max(high, left) if high is not None else None)
    right_edge = max(2.0, 1.25 * max(x for x in (left, high, low, 0.0) if x is not None))
    if left is None:
        right_edge = max(right_edge, 0.25 * (-hours.min() if hours.size else 12.0))
    top = max(
        float(values.max()) if values.size else 0.0,
        free_now or 0.0,
        1.0,
    )
    scale, unit = _unit(size_bytes if size_bytes and size_bytes >= top else top)

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(hours, values / scale, color=_HISTORY, linewidth=1.2, label=f"{quantity} (history)")
    if free_now is not None and left is not None:
        y0 = free_now / scale
        if low is not None:
            far, far_y = (high, 0.0) if high is not None else (right_edge, 0.0)
            if high is None:
                # P90 beyond the forecast horizon: the slow edge crosses zero no sooner than it.
                far_y = y0 * max(0.0, 1 - right_edge / HORIZON_H)
            axes.fill(
                [0.0, low, far, 0.0],
                [y0, 0.0, far_y, y0],
                color=_BAND,
                alpha=0.6,
                linewidth=0,
                label="P10\u2013P90",
            )
        axes.plot([0.0, left], [y0, 0.0], color=_FORECAST, linewidth=1.6, label="forecast")
        axes.errorbar(
            [left],
            [0.0],
            xerr=[[left - (low if low is not None else left)], [(high or left) - left]],
            fmt="o",
            color=_FORECAST,
            capsize=4,
            markersize=6,
            zorder=5,
        )
        axes.annotate(
            f"full in ~{duration(left * 3600)}",
            (left, 0.0),
            xytext=(0, 12),
            textcoords="offset points",
            ha="center",
            color=_FORECAST,
            fontsize=9,
        )
    elif free_now is not None and result.rate_per_h is not None:
        y0 = free_now / scale
        axes.plot(
            [0.0, right_edge],
            [y0, max(0.0, y0 + result.rate_per_h * right_edge / scale)],
            color=_FORECAST,
            linewidth=1.2,
            linestyle="--",
            label="trend now",
        )
    axes.axvline(0.0, color="#a0aec0", linewidth=0.8, linestyle=":")
    axes.axhline(0.0, color="#1a202c", linewidth=0.8)
    start = float(hours.min()) if hours.size else -1.0
    axes.set_xlim(min(start, -1.0), right_edge)
    axes.set_ylim(bottom=min(0.0, float(values.min() / scale) if values.size else 0.0))
    axes.set_xlabel("hours from now")
    axes.set_ylabel(f"{quantity} ({unit})")
    axes.set_title(title, fontsize=10, loc="left", usetex=False, parse_math=False)
    axes.grid(True, color="#edf2f7", linewidth=0.6)
    axes.legend(loc="upper right", fontsize=8, frameon=False)
    figure.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.16)
    out = io.BytesIO()
    # No "Software" (matplotlib's version) or dates: the same forecast, the same bytes.
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _last(values: np.ndarray) -> float | None:
    return float(values[-1]) if values.size else None
