"""A tenant's metrics file with a service whose memory climbs towards its limit.

``checkout`` runs two pods with a 2 GiB limit: ``checkout-a`` leaks 100 MiB
an hour and has 300 MiB of headroom at ``NOW`` (about 3 h; it restarted 14 h
before, so its history is a sawtooth); ``checkout-b`` holds steady at 1 GiB.
At ``NOW + 20 min`` ``checkout-a`` takes 150 MiB at once, so from ``NOW + 30
min`` on it is about 1 h from its limit: much worse. ``cart`` is flat, and
``batch``'s pod has no limit (0), so it cannot run out of one. Samples every
minute, from a day before ``NOW`` to two hours after it, with seeded noise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from tests.unit.predict.synthetic import NOW

MIB = 2.0**20
LIMIT = 2048 * MIB
LEAK = 100 * MIB  # per hour
JUMP_AT = NOW + timedelta(minutes=20)
JUMP = 150 * MIB
RESTART_AT = NOW - timedelta(hours=14)


def write_memory_metrics(
    path: Path, *, service: str = "checkout", fixed_at: datetime | None = None
) -> Path:
    """Write the file; with ``fixed_at``, the leaking pod restarts then and stops leaking."""
    start, end = NOW - timedelta(hours=24), NOW + timedelta(hours=2)
    t = np.arange(start.timestamp(), end.timestamp() + 1, 60.0)
    rng = np.random.default_rng(11)
    hours = (t - NOW.timestamp()) / 3600
    leaking = LIMIT - 300 * MIB + LEAK * hours + rng.normal(0, 4 * MIB, t.size)
    before = t < RESTART_AT.timestamp()
    leaking[before] -= 1000 * MIB  # it had restarted since: the same leak, an earlier cycle
    leaking[t >= JUMP_AT.timestamp()] += JUMP
    if fixed_at is not None:
        after = t >= fixed_at.timestamp()
        leaking[after] = 700 * MIB + rng.normal(0, 4 * MIB, int(after.sum()))
    steady = 1024 * MIB + rng.normal(0, 4 * MIB, t.size)
    cart = 400 * MIB + rng.normal(0, 4 * MIB, t.size)
    batch = 3000 * MIB + 200 * MIB * hours
    series = {
        f'service="{service}",pod="{service}-a",container="app"': (leaking, LIMIT),
        f'service="{service}",pod="{service}-b",container="app"': (steady, LIMIT),
        'service="cart",pod="cart-a",container="app"': (cart, 1024 * MIB),
        'service="batch",pod="batch-a",container="app"': (batch, 0.0),
    }
    lines = ["# TYPE container_memory_working_set_bytes gauge"]
    for labels, (used, _) in series.items():
        lines += [
            f"container_memory_working_set_bytes{{{labels}}} {v:.0f} {int(x)}"
            for x, v in zip(t, used, strict=True)
        ]
    lines.append("# TYPE container_spec_memory_limit_bytes gauge")
    for labels, (_, limit) in series.items():
        lines += [f"container_spec_memory_limit_bytes{{{labels}}} {limit:.0f} {int(x)}" for x in t]
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
