"""A forecast in one sentence, as the SRE reads it (numbers through ``shared.formatting``)."""

from __future__ import annotations

from shared.formatting import duration, percent, size
from shared.predict.forecast import Forecast, Status
from shared.predict.series import CapacitySeries, iso_minute


def span(hours_range: tuple[float | None, float | None] | None) -> str:
    """``3.6 h to 4.9 h``; an open end reads ``beyond 48 h``."""
    if hours_range is None:
        return ""
    low, high = hours_range
    low_text = duration(low * 3600) if low is not None else "beyond 48 h"
    high_text = duration(high * 3600) if high is not None else "beyond 48 h"
    return low_text if low_text == high_text else f"{low_text} to {high_text}"


def headline(where: str, result: Forecast) -> str:
    """``/data on db-1 will be full in about 4.2 h (3.6 h to 4.9 h)``, or why not."""
    if result.status is Status.FULL:
        return f"{where} is full now"
    if result.status is Status.INSUFFICIENT:
        return f"{where}: no forecast ({result.reason})"
    if result.status is Status.NOT_FILLING or result.hours_left is None:
        return f"{where} is not filling within 48 h"
    spread = span(result.range_hours)
    about = duration(result.hours_left * 3600)
    return f"{where} will be full in about {about}" + (f" ({spread})" if spread else "")


def memory_headline(where: str, result: Forecast) -> str:
    """``memory of checkout will reach its limit in about 3 h (2.5 h to 3.8 h)``, or why not."""
    if result.status is Status.FULL:
        return f"{where} is at its limit now"
    if result.status is Status.INSUFFICIENT:
        return f"{where}: no forecast ({result.reason})"
    if result.status is Status.NOT_FILLING or result.hours_left is None:
        return f"{where} is not heading for its limit"
    spread = span(result.range_hours)
    about = duration(result.hours_left * 3600)
    return f"{where} will reach its limit in about {about}" + (f" ({spread})" if spread else "")


def forecast_line(series: CapacitySeries, result: Forecast) -> str:
    """The headline, when, and what it was read from."""
    lines = [f"{series.id}: {headline(series.where, result)}"]
    if result.exhausted_at is not None and result.status is Status.FILLING:
        lines.append(f"  full at {iso_minute(result.exhausted_at)}")
    if result.free_now is not None and result.rate_per_h is not None:
        free = size(result.free_now)
        share = f" ({percent(result.free_now / series.size_bytes)})" if series.size_bytes else ""
        lines.append(f"  free now {free}{share}, changing {size(result.rate_per_h)}/h")
    if result.reason:
        lines.append(f"  read from: {result.reason}")
    return "\n".join(lines)
