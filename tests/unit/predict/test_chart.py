"""The forecast chart: a PNG of the right size, the same bytes for the same forecast, fast."""

from __future__ import annotations

import struct
import time
from datetime import timedelta

import numpy as np

from shared.predict.chart import PNG_SIGNATURE, render
from shared.predict.forecast import Forecast, Status, forecast
from tests.unit.predict.synthetic import NOW

GIB = 2.0**30


def _filling() -> tuple[np.ndarray, np.ndarray, Forecast]:
    t = np.arange((NOW - timedelta(hours=24)).timestamp(), NOW.timestamp() + 1, 60.0)
    rng = np.random.default_rng(3)
    free = 40 * GIB - 10 * GIB * (t - NOW.timestamp()) / 3600 + rng.normal(0, GIB, t.size)
    return t, free, forecast(t, free, now=NOW, capacity=500 * GIB)


def _size(png: bytes) -> tuple[int, int]:
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_a_filling_disk_draws_a_png_of_800_by_320() -> None:
    t, free, result = _filling()
    assert result.status is Status.FILLING

    png = render(t, free, result, title="/data on db-1", size_bytes=500 * GIB)

    assert png.startswith(PNG_SIGNATURE)
    assert _size(png) == (800, 320)
    assert len(png) > 10_000  # lines, band, labels: not an empty canvas
    assert b"Software" not in png and b"matplotlib" not in png.lower()


def test_the_same_forecast_gives_the_same_bytes_and_a_different_one_does_not() -> None:
    t, free, result = _filling()
    first = render(t, free, result, title="/data on db-1")
    assert render(t, free, result, title="/data on db-1") == first
    assert render(t, free * 0.9, result, title="/data on db-1") != first


def test_not_filling_and_no_history_still_draw() -> None:
    flat = Forecast(status=Status.NOT_FILLING, now=NOW, free_now=300 * GIB, rate_per_h=0.0)
    t = np.arange((NOW - timedelta(hours=2)).timestamp(), NOW.timestamp() + 1, 60.0)
    assert render(t, np.full(t.size, 300 * GIB), flat, title="/ on web-1").startswith(PNG_SIGNATURE)
    empty = Forecast(status=Status.INSUFFICIENT, now=NOW)
    assert _size(render([], [], empty, title="nothing")) == (800, 320)


def test_a_title_from_labels_is_text_not_math() -> None:
    t, free, result = _filling()
    # "$...$" would be mathtext and an unbalanced one would raise; it is drawn as is.
    assert render(t, free, result, title="/data $x^{2 on <!channel>").startswith(PNG_SIGNATURE)


def test_rendering_takes_under_200_ms() -> None:
    t, free, result = _filling()
    render(t, free, result, title="warm-up")  # fonts are loaded once per process
    # CPU time: the machine running the suite may be busy with other work.
    timings = []
    for _ in range(5):
        start = time.process_time()
        render(t, free, result, title="/data on db-1", size_bytes=500 * GIB)
        timings.append(time.process_time() - start)
    assert min(timings) < 0.2, timings


def test_a_band_that_misses_the_estimate_still_draws_around_it() -> None:
    t, free, _ = _filling()
    odd = Forecast(
        status=Status.FILLING,
        now=NOW,
        hours_left=1.3,
        range_hours=(2.49, 2.49),
        free_now=13 * GIB,
        rate_per_h=-10 * GIB,
    )
    assert render(t, free, odd, title="/data on db-1").startswith(PNG_SIGNATURE)
