"""Numbers and times as an SRE reads them, the same way everywhere in a message.

One formatter, so one message never says "32 %" and "34.96%", or "273 ms" and
"0.287 -> 1.58 s": ratios are percentages without a space ("0.4%", "12%"),
durations pick their unit ("850 ms", "1.6 s", "23 min", "4.2 h"), plain numbers
never use scientific notation ("1,340 req/s"), and clock times are UTC.
"""

from __future__ import annotations

import math

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def percent(fraction: float) -> str:
    """0.004 -> "0.4%", 0.12 -> "12%", 0.9996 -> "99.96%" (nearly full keeps its digits)."""
    if not math.isfinite(fraction):
        return "?"
    pct = fraction * 100
    if pct == 0:
        return "0%"
    if abs(pct) < 0.1:
        return "<0.1%" if pct > 0 else "-<0.1%"
    if abs(pct) < 10:
        return f"{pct:.1f}%"
    if 99 < abs(pct) < 100:  # "100%" would hide that something is nearly, not quite, full
        return f"{pct:.2f}".rstrip("0").rstrip(".") + "%"
    return f"{pct:.0f}%"


def number(value: float) -> str:
    """Two or three significant figures, grouped thousands, never "1.34e+03"."""
    if not math.isfinite(value):
        return "?"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}".removesuffix(".0")
    if magnitude >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if magnitude == 0:
        return "0"
    digits = max(2, 1 - math.floor(math.log10(magnitude)))
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def duration(seconds: float) -> str:
    """850 ms, 1.6 s, 23 min, 4.2 h, 3.5 days."""
    if not math.isfinite(seconds):
        return "?"
    magnitude = abs(seconds)
    if magnitude < 1:
        return f"{seconds * 1000:.0f} ms"
    if magnitude < 60:
        return f"{number(seconds)} s"
    if magnitude < 3600:
        return f"{seconds / 60:.0f} min"
    if magnitude < 48 * 3600:
        return f"{number(seconds / 3600)} h"
    return f"{number(seconds / 86400)} days"


def minutes(count: float) -> str:
    """A gap in minutes, as ``duration`` says it (``23 min``, ``2.5 h``)."""
    return duration(count * 60)


def size(value: float) -> str:
    """Bytes in binary units: 1.5 GiB."""
    if not math.isfinite(value):
        return "?"
    index = 0
    while abs(value) >= 1024 and index < len(_BYTE_UNITS) - 1:
        value /= 1024
        index += 1
    return f"{number(value)} {_BYTE_UNITS[index]}"


def quantity(value: float | None, unit: str) -> str:
    """A reading in its unit: ratios as percentages, seconds as durations, bytes as sizes."""
    if value is None:
        return "?"
    if unit.startswith("ratio"):
        return percent(value)
    if unit in ("s", "seconds"):
        return duration(value)
    if unit in ("bytes", "B"):
        return size(value)
    if unit == "days left":
        return f"{number(value)} days"
    return f"{number(value)} {unit}".strip()


def unit_of(metric: str) -> str:
    """The unit a Prometheus metric name declares by convention (``_ratio``, ``_seconds``,
    ``_bytes``), or ``""``: recording-rule suffixes such as ``:rate5m`` are skipped."""
    name = metric.split("{", 1)[0].lower()
    parts = [p for p in name.replace(":", "_").split("_") if p and not p.startswith("rate")]
    for word in reversed(parts):
        if word in ("ratio", "percent"):
            return "ratio"
        if word in ("seconds", "second"):
            return "s"
        if word == "bytes":
            return "bytes"
        if word in ("total", "count", "sum", "bucket", "p99", "p95", "p50", "5m", "1m"):
            continue
        break
    return ""


def change(before: float | None, after: float | None, unit: str) -> str:
    """``0.2% → 38%``: both ends in the same form."""
    return f"{quantity(before, unit)} → {quantity(after, unit)}"
