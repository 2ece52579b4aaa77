"""The incident's neighbourhood in the service topology.

The alerting service is often not the cause: the cause sits in what it calls
(a failing dependency), in what calls it (a surge arriving from a caller), or
beside it on a host. The neighbourhood is the set of services and hosts the
signals are read for, and the graph the detectors walk.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.models.analysis import Neighbourhood, ServiceNode
from shared.models.tenant import Topology

DEPENDENCY_DEPTH = 12
"""Deep enough for any real call chain: a cause can sit many hops below the alert."""
CALLER_DEPTH = 2


def _walk(start: Iterable[str], edges: dict[str, tuple[str, ...]], depth: int) -> set[str]:
    seen = set(start)
    frontier = set(seen)
    for _ in range(depth):
        frontier = {n for s in frontier for n in edges.get(s, ())} - seen
        if not frontier:
            break
        seen |= frontier
    return seen


def build_neighbourhood(
    topology: Topology,
    *,
    focus_services: Iterable[str],
    focus_hosts: Iterable[str],
    extra_services: Iterable[str] = (),
) -> Neighbourhood:
    """Focus (what alerted) widened to dependencies, callers and co-located services.

    ``extra_services`` (services changed shortly before) join the scope so that a
    change is always judged against its own service's signals.
    """
    focus_s = sorted(set(focus_services))
    focus_h = sorted(set(focus_hosts))
    depends = {s.name: tuple(s.depends_on) for s in topology.services}
    callers: dict[str, list[str]] = {}
    for svc in topology.services:
        for dep in svc.depends_on:
            callers.setdefault(dep, []).append(svc.name)
    callers_t = {k: tuple(sorted(v)) for k, v in callers.items()}
    hosts: dict[str, list[str]] = {}
    for svc in topology.services:
        for host in svc.instances:
            hosts.setdefault(host, []).append(svc.name)

    on_focus_hosts = {s for h in focus_h for s in hosts.get(h, ())}
    seeds = set(focus_s) | on_focus_hosts
    if not seeds & set(depends) and not set(focus_h) & set(hosts):
        # The alerts name nothing the topology knows (a PagerDuty service called
        # "Checkout Service", say): look at everything rather than at nothing.
        seeds = set(depends)
    dependencies = _walk(seeds, depends, DEPENDENCY_DEPTH)
    # Callers of what the focus depends on too: the others sharing a failing
    # dependency are how a shared cause (DNS, a database) shows its breadth.
    scope = dependencies | _walk(dependencies, callers_t, CALLER_DEPTH)
    scope |= set(extra_services)
    instances = {s.name: tuple(s.instances) for s in topology.services}
    scope_hosts = set(focus_h) | {h for s in scope for h in instances.get(s, ())}

    nodes = {
        s.name: ServiceNode(
            name=s.name,
            depends_on=tuple(s.depends_on),
            async_calls=tuple(s.async_calls),
            callers=callers_t.get(s.name, ()),
            instances=tuple(s.instances),
            tier=s.tier,
            slo=s.slo,
        )
        for s in topology.services
    }
    return Neighbourhood(
        services=nodes,
        hosts={h: tuple(sorted(v)) for h, v in sorted(hosts.items())},
        focus_services=tuple(focus_s),
        focus_hosts=tuple(focus_h),
        scope_services=tuple(sorted(scope)),
        scope_hosts=tuple(sorted(scope_hosts)),
    )
