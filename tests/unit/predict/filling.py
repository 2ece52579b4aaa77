"""A tenant's metrics file with a disk filling towards full, for the live sweep's tests.

``/data on db-1`` (500 GiB) loses 10 GiB an hour and has 40 GiB left at
``NOW`` (about 4 h). At ``NOW + 20 min`` a large write takes 22 GiB at once,
so from ``NOW + 30 min`` on it is about 1.3 h from full: much worse. ``/ on
web-1`` is flat throughout. Samples every minute, from a day before ``NOW``
to two hours after it, with a little seeded noise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from tests.unit.predict.synthetic import NOW

GIB = 2.0**30
SIZE = 500 * GIB
RATE = 10 * GIB  # per hour
JUMP_AT = NOW + timedelta(minutes=20)
JUMP = 22 * GIB


def write_metrics(
    path: Path, *, db_mount: str = "/data", cleaned_at: datetime | None = None
) -> Path:
    """Write the file; with ``cleaned_at``, ``/data`` is cleaned up then and stops filling."""
    start, end = NOW - timedelta(hours=24), NOW + timedelta(hours=2)
    t = np.arange(start.timestamp(), end.timestamp() + 1, 60.0)
    rng = np.random.default_rng(7)
    db = 40 * GIB - RATE * (t - NOW.timestamp()) / 3600 + rng.normal(0, 0.8 * GIB, t.size)
    db[t >= JUMP_AT.timestamp()] -= JUMP
    if cleaned_at is not None:
        after = t >= cleaned_at.timestamp()
        db[after] = 350 * GIB + rng.normal(0, 0.8 * GIB, int(after.sum()))
    web = 300 * GIB + rng.normal(0, 0.8 * GIB, t.size)
    series = {
        f'instance="db-1",mountpoint="{db_mount}",fstype="ext4"': (db, SIZE),
        'instance="web-1",mountpoint="/",fstype="ext4"': (web, SIZE),
    }
    lines = ["# TYPE node_filesystem_avail_bytes gauge"]
    for labels, (free, _) in series.items():
        lines += [
            f"node_filesystem_avail_bytes{{{labels}}} {v:.0f} {int(x)}"
            for x, v in zip(t, free, strict=True)
        ]
    lines.append("# TYPE node_filesystem_size_bytes gauge")
    for labels, (_, size) in series.items():
        lines += [f"node_filesystem_size_bytes{{{labels}}} {size:.0f} {int(x)}" for x in t]
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
