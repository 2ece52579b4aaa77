"""The report's charts as PNG bytes (matplotlib, Agg, no pyplot state).

Each chart is built on its own ``Figure`` with an Agg canvas, so charts made
in threads or in a long-running host share no global state. Service and
filesystem names are the tenant's data: math text is turned off so a ``$``
in a name is drawn as itself, never parsed. A chart with nothing to draw is
None, and the report says so in words instead.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from datetime import timedelta

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from shared.report.model import CapacitySection, TrafficSection
from shared.report.week import DAYS, Week

LINES = 6
"""Services drawn per chart: the busiest ones (the table lists every one)."""
PANELS = (
    ("request_rate", "requests/s", 1.0),
    ("error_ratio", "errors (% of requests)", 100.0),
    ("latency_p99", "p99 latency (s)", 1.0),
)


def _style() -> contextlib.AbstractContextManager[None]:
    """Plain text everywhere (no math text from a name), small type."""
    return mpl.rc_context({"text.parse_math": False, "font.size": 8.0})


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def trends(section: TrafficSection, week: Week) -> bytes | None:
    """Request rate, error ratio and p99 per busy service: this week solid, last week dotted."""
    busiest = [t.service for t in section.services[:LINES]]
    by_key = {(c.service, c.signal): c for c in section.curves}
    if not any((s, p[0]) in by_key for s in busiest for p in PANELS):
        return None
    with _style():
        figure = Figure(figsize=(9.0, 7.0), layout="constrained")
        axes = figure.subplots(len(PANELS), 1, sharex=True)
        for ax, (signal, title, scale) in zip(axes, PANELS, strict=True):
            for index, service in enumerate(busiest):
                curve = by_key.get((service, signal))
                if curve is None:
                    continue
                colour = f"C{index % 10}"
                _line(ax, curve.this_week, scale, colour, service, solid=True)
                _line(ax, curve.last_week, scale, colour, None, solid=False)
            ax.set_ylabel(title)
            ax.grid(alpha=0.3)
        days = [week.first_day + timedelta(days=d) for d in range(DAYS)]
        axes[-1].set_xticks([24 * d for d in range(DAYS)])
        axes[-1].set_xticklabels([f"{day:%a %d %b}" for day in days])
        axes[0].legend(loc="upper left", ncols=3, fontsize=7, title="this week (dotted: last week)")
        return _png(figure)


def _line(
    ax: Axes,
    values: Sequence[float],
    scale: float,
    colour: str,
    label: str | None,
    *,
    solid: bool,
) -> None:
    xs = list(range(len(values)))
    ys = [v * scale for v in values]
    ax.plot(
        xs,
        ys,
        color=colour,
        linewidth=1.4 if solid else 0.9,
        linestyle="-" if solid else ":",
        alpha=1.0 if solid else 0.7,
        label=label,
    )


def headroom(section: CapacitySection, *, limit: int = 12) -> bytes | None:
    """Used share of each filesystem (the least headroom first), red when it fills in time."""
    rows = [h for h in section.filesystems if h.used_share is not None][:limit]
    if not rows:
        return None
    with _style():
        figure = Figure(figsize=(9.0, 0.45 * len(rows) + 1.2), layout="constrained")
        ax = figure.subplots()
        names = [h.where for h in rows][::-1]
        used = [100.0 * (h.used_share or 0.0) for h in rows][::-1]
        colours = ["#c0392b" if h.hours_left is not None else "#2e86c1" for h in rows][::-1]
        ax.barh(range(len(rows)), used, color=colours)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(names)
        ax.set_xlim(0, 100)
        ax.set_xlabel("used (%); red: full within 48 h at the current pace")
        ax.grid(axis="x", alpha=0.3)
        return _png(figure)


def charts(traffic: TrafficSection, capacity: CapacitySection, week: Week) -> dict[str, bytes]:
    """Every chart there is something to draw for, by name."""
    made = {"trends": trends(traffic, week), "headroom": headroom(capacity)}
    return {name: png for name, png in made.items() if png is not None}
