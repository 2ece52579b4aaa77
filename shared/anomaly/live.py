"""The anomaly sweep as the product runs it: a tenant's own metrics source and the store.

``run`` is what the timer (``functions.schedules``) and ``sre-copilot
anomalies run`` both call; ``render`` is how the command prints its result.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.anomaly.sweep import SweepResult, sweep
from shared.bootstrap import Runtime
from shared.models.analysis import NO_METRICS_SOURCE
from shared.models.base import iso
from shared.models.tenant import Tenant


def run(rt: Runtime, tenant: Tenant, now: datetime) -> SweepResult:
    """One sweep of ``tenant`` at ``now``: file findings with incidents or in the digest."""
    source = rt.metrics_for(tenant)
    if source is None:
        return SweepResult(tenant.id, now, errors=(NO_METRICS_SOURCE,))
    return sweep(tenant, source, rt.store, now)


def render(result: SweepResult, write: Callable[[str], None]) -> None:
    """What the sweep filed, in an SRE's words."""
    attached = sum(len(a.findings) for a in result.attached)
    write(
        f"anomaly sweep of {result.tenant_id} at {iso(result.at)}: {result.signals} signals "
        f"scored, {attached} attached to {len(result.attached)} open incident(s), "
        f"{len(result.digest)} to the {result.digest_day or 'daily'} digest"
    )
    for a in result.attached:
        write(f"incident {a.incident_id} ({a.title}):")
        for f in a.findings:
            write(f"  {f.text} at {iso(f.at)}")
    if result.digest:
        write(f"digest {result.digest_day}:")
        for f in result.digest:
            write(f"  {f.text} at {iso(f.at)}")
    for error in result.errors:
        write(f"not read: {error}")
