"""Merging duplicate candidates, and letting specific causes explain generic ones.

Two proposers (two detectors, or a detector and the LLM) naming the same
category and target are one hypothesis with the union of their evidence.
A failing dependency, or a change whose service sits on a dead host, is
often the *symptom* of a more specific cause found on the same target (its
connections ran out, its disk filled): ``explain_away`` weakens the generic
candidate by how strongly the specific one is established, so the specific
one ranks first and the generic one stays available as an alternative.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.hypotheses.facts import Facts, clamp
from shared.models.hypothesis import Candidate, Evidence, EvidenceKind, Origin, RootCause

GENERIC = {RootCause.DEPENDENCY_FAILURE}
CHANGES = {RootCause.BAD_DEPLOYMENT, RootCause.CONFIG_CHANGE}
HOST_LEVEL = {RootCause.NODE_FAILURE, RootCause.DISK_EXHAUSTION}
EXPLAINABLE_BY_HOST = GENERIC | CHANGES
LOAD_EFFECTS = {RootCause.DEPENDENCY_FAILURE, RootCause.CPU_SATURATION} | CHANGES
RESOLVER_EFFECTS = {
    RootCause.DEPENDENCY_FAILURE,
    RootCause.CPU_SATURATION,
    RootCause.TRAFFIC_SURGE,
}
SURGE_RATIO = 1.5


@dataclass(frozen=True, slots=True)
class Merged:
    """A candidate with everyone who proposed it."""

    candidate: Candidate
    origins: tuple[Origin, ...]


def core_strength(candidate: Candidate) -> float:
    """How firmly the candidate's own mechanism is measured (its best metric)."""
    return max(
        (e.strength for e in candidate.evidence if e.kind is EvidenceKind.METRIC), default=0.0
    )


EXPLAINED_KINDS = {EvidenceKind.METRIC, EvidenceKind.TEMPORAL, EvidenceKind.TOPOLOGY}
"""What another cause accounts for: the symptoms, their timing and their reach.
The change and the alerts stay as they were: they happened all the same."""


def _scaled(candidate: Candidate, factor: float, why: str) -> Candidate:
    evidence = tuple(
        e.model_copy(update={"strength": clamp(e.strength * factor)})
        if e.kind in EXPLAINED_KINDS
        else e
        for e in candidate.evidence
    )
    note = Evidence(kind=EvidenceKind.TOPOLOGY, summary=why, source="explain-away", strength=0.0)
    return candidate.model_copy(update={"evidence": (*evidence, note)})


def _relied_on(candidate: Candidate) -> set[str]:
    """Services whose onsets the candidate's timing rests on (other than its target)."""
    return {
        e.source.removeprefix("onset:")
        for e in candidate.evidence
        if e.kind is EvidenceKind.TEMPORAL and e.source.startswith("onset:")
    } - {candidate.target, ""}


def _downstream_deps(facts: Facts, service: str, depth: int = 3) -> set[str]:
    seen: set[str] = set()
    frontier = {service}
    for _ in range(depth):
        frontier = {d for s in frontier for d in facts.depends_on(s)} - seen
        seen |= frontier
    return seen


def explains(other: Candidate, cand: Candidate, facts: Facts) -> bool:
    """Whether ``other``, if true, would account for what ``cand`` rests on."""
    if other.category is cand.category:
        return False
    # A dependency "failing" for a reason found on it: the reason is the cause.
    if cand.category in GENERIC and other.target == cand.target:
        return True
    # A dead host or full disk under the service explains its trouble and its changes'.
    if (
        cand.category in EXPLAINABLE_BY_HOST
        and other.category in HOST_LEVEL
        and other.target in facts.hosts_of(cand.target)
    ):
        return True
    # A change blamed for its callers' trouble, when those callers have a cause of their own.
    if cand.category in CHANGES and other.category not in GENERIC | CHANGES:
        relied = _relied_on(cand)
        hosts = {h for s in relied for h in facts.hosts_of(s)}
        if other.target in relied or other.target in hosts:
            return True
    # Load that arrived from a surge upstream is not the downstream service's own failure.
    if cand.category in LOAD_EFFECTS and other.category is RootCause.TRAFFIC_SURGE:
        requests = facts.reading(cand.target, "request_rate")
        surged = requests is not None and (requests.ratio or 0.0) >= SURGE_RATIO
        reached = _downstream_deps(facts, other.target)
        if cand.category is RootCause.CPU_SATURATION:
            reached.add(other.target)  # the surge's own service burns CPU on it too
        if surged and cand.target in reached:
            return True
    # A failing resolver's CPU and retry storm are part of the DNS failure.
    return (
        other.category is RootCause.DNS_FAILURE
        and other.target == cand.target
        and cand.category in RESOLVER_EFFECTS
    )


def explain_away(candidates: list[Candidate], facts: Facts) -> list[Candidate]:
    """Weaken each candidate by the strongest other candidate that explains it."""
    out = []
    for cand in candidates:
        best: tuple[float, Candidate] | None = None
        for other in candidates:
            if other is cand or not explains(other, cand, facts):
                continue
            strength = core_strength(other)
            if best is None or strength > best[0]:
                best = (strength, other)
        if best is not None and best[0] > 0.2:
            why = f"explained by {best[1].category.value} of {best[1].target}"
            cand = _scaled(cand, 1.0 - 0.85 * best[0], why)
        out.append(cand)
    return out


def merge(candidates: Iterable[Candidate]) -> list[Merged]:
    """Union of duplicates by (category, target), deterministic order."""
    groups: dict[tuple[str, str], list[Candidate]] = {}
    for cand in candidates:
        groups.setdefault(cand.key, []).append(cand)
    merged = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda c: (c.origin != "detector", c.title))
        evidence: dict[tuple[str, str, str], Evidence] = {}
        for cand in group:
            for item in cand.evidence:
                kept = evidence.get(item.key)
                if kept is None or item.strength > kept.strength:
                    evidence[item.key] = item
        origins = tuple(sorted({c.origin for c in group}, key=lambda o: o != "detector"))
        lead = group[0]
        merged.append(
            Merged(
                candidate=lead.model_copy(update={"evidence": tuple(evidence.values())}),
                origins=origins,
            )
        )
    return merged
