"""Earned trust: how often shadow mode agreed with responders, and promotion out of it.

An action in ``shadow`` mode is recorded (state ``shadowed``) but never run.
Once the incident is resolved, what the responders did judges it, through two
signals. The shadowed proposal **agrees** when the incident was resolved with
the hypothesis the proposal came from (same category and target, the "Resolved
with #N" click audited as ``incident.resolve``), or when a responder marked the
proposal's runbook as used on that incident (the "Used <runbook>" click,
audited as ``incident.runbook_used``), whatever hypothesis it was resolved
with, if any. It **disagrees** when the responders named something else and
never this runbook: resolved with another hypothesis, or without one but with
only other runbooks marked used (they said what they did, and it was not this;
counting that against promotion is the cautious side). A resolved incident
with neither a hypothesis nor a runbook used, or one still open, judges
nothing. One incident counts once per action type: its latest shadowed
proposal of that action is the one judged, and an agreement is credited to the
hypothesis when both signals agree.

``assess`` is pure (policy, records, resolutions → one ``Agreement`` per
action); ``status`` reads the store for it. An action is ready for promotion
when at least ``min_judged`` incidents judged it and the agreed share reaches
``threshold``. ``promote`` sets the action ``active`` in the stored policy
(``policies.set_policy``, which audits the change) and appends an
``autonomy.promote`` record; only one of the policy's approvers may, and
only when ready unless ``force`` (audited as forced). Its outcome is a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from shared.audit import record as audit_record
from shared.autonomy.actions import ActionRecord, ActionState, list_records
from shared.autonomy.policies import load_policy, set_policy, with_mode
from shared.autonomy.policy import Mode, Policy
from shared.models.incident import IncidentStatus
from shared.ports.store import Container, DocumentStore, Filter

DEFAULT_MIN_JUDGED = 10
DEFAULT_THRESHOLD = 0.9
RESOLVE = "incident.resolve"
RUNBOOK_USED = "incident.runbook_used"
PROMOTE = "autonomy.promote"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a resolved incident's responders did: the hypothesis, the runbooks used.

    ``category`` and ``target`` are None when it was resolved without naming a
    hypothesis (then ``runbooks`` is what judges).
    """

    incident_id: str
    category: str | None
    target: str | None
    runbooks: frozenset[str] = frozenset()


Verdict = Literal["hypothesis", "runbook", "disagree"]
"""An agreement and the signal it came from, or a disagreement."""


@dataclass(frozen=True, slots=True)
class Counts:
    """One action's shadowed proposals, judged incidents, and agreements per signal."""

    shadowed: int = 0
    judged: int = 0
    by_hypothesis: int = 0
    by_runbook: int = 0

    @property
    def agreed(self) -> int:
        return self.by_hypothesis + self.by_runbook


@dataclass(frozen=True, slots=True, kw_only=True)
class Agreement:
    """One action type's record in shadow mode, and whether it earned promotion."""

    action: str
    mode: str | None
    """The policy's mode for it; None when the policy does not list it."""
    tier: str | None
    shadowed: int
    judged: int
    agreed: int
    ready: bool
    why: str
    agreed_hypothesis: int = 0
    """Of ``agreed``: resolved with the hypothesis the proposal came from."""
    agreed_runbook: int = 0
    """Of ``agreed``: the proposal's runbook marked used (and not the hypothesis)."""

    @property
    def share(self) -> float | None:
        return self.agreed / self.judged if self.judged else None

    def row(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "mode": self.mode,
            "tier": self.tier,
            "shadowed": self.shadowed,
            "judged": self.judged,
            "agreed": self.agreed,
            "agreed_by": {"hypothesis": self.agreed_hypothesis, "runbook": self.agreed_runbook},
            "agreement": round(self.share, 4) if self.share is not None else None,
            "ready": self.ready,
            "why": self.why,
        }


def came_from(record: ActionRecord, resolution: Resolution) -> bool:
    """Whether the record was proposed from the hypothesis the incident was resolved with.

    Records from before ``hypothesis_target`` was kept are matched on the
    service they act on, which proposals name after the hypothesis' target.
    """
    if resolution.category is None or resolution.target is None:
        return False
    if record.category != resolution.category:
        return False
    target = record.hypothesis_target or record.service
    return target.lower() == resolution.target.lower()


def judge(record: ActionRecord, resolution: Resolution) -> Verdict | None:
    """The responders' verdict on one shadowed proposal; None when they said nothing."""
    if came_from(record, resolution):
        return "hypothesis"
    if record.runbook_id and record.runbook_id in resolution.runbooks:
        return "runbook"
    if resolution.category is not None or resolution.runbooks:
        return "disagree"
    return None


def tally(
    records: Iterable[ActionRecord], resolutions: Mapping[str, Resolution]
) -> dict[str, tuple[int, int, int]]:
    """``{action: (shadowed, judged, agreed)}`` over the shadowed records (pure)."""
    return {a: (c.shadowed, c.judged, c.agreed) for a, c in count(records, resolutions).items()}


def count(
    records: Iterable[ActionRecord], resolutions: Mapping[str, Resolution]
) -> dict[str, Counts]:
    """``Counts`` per action over the shadowed records, agreements per signal (pure)."""
    latest: dict[tuple[str, str], ActionRecord] = {}
    shadowed: dict[str, int] = {}
    for record in records:
        if record.state is not ActionState.SHADOWED:
            continue
        shadowed[record.action] = shadowed.get(record.action, 0) + 1
        key = (record.action, record.incident_id)
        if key not in latest or record.proposed_at >= latest[key].proposed_at:
            latest[key] = record
    verdicts: dict[str, list[Verdict]] = {}
    for (action, incident_id), record in latest.items():
        resolution = resolutions.get(incident_id)
        verdict = judge(record, resolution) if resolution is not None else None
        if verdict is not None:
            verdicts.setdefault(action, []).append(verdict)
    return {
        a: Counts(
            shadowed=n,
            judged=len(verdicts.get(a, ())),
            by_hypothesis=verdicts.get(a, []).count("hypothesis"),
            by_runbook=verdicts.get(a, []).count("runbook"),
        )
        for a, n in shadowed.items()
    }


def assess(
    policy: Policy | None,
    records: Iterable[ActionRecord],
    resolutions: Mapping[str, Resolution],
    *,
    min_judged: int = DEFAULT_MIN_JUDGED,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Agreement]:
    """One ``Agreement`` per action the policy lists or shadow mode recorded (pure)."""
    counts = count(records, resolutions)
    listed = dict(policy.actions) if policy is not None else {}
    found: list[Agreement] = []
    for action in [*listed, *sorted(a for a in counts if a not in listed)]:
        counted = counts.get(action, Counts())
        shadowed, judged, agreed = counted.shadowed, counted.judged, counted.agreed
        entry = listed.get(action)
        share = agreed / judged if judged else 0.0
        if entry is None:
            ready, why = False, "not in the policy"
        elif entry.mode is Mode.ACTIVE:
            ready, why = False, "active already"
        elif judged < min_judged:
            ready, why = False, f"{judged} of {min_judged} judged incidents needed"
        elif share < threshold:
            ready, why = False, f"agreement {share:.0%} below {threshold:.0%}"
        else:
            ready, why = True, f"ready for promotion to {entry.tier.value}"
        found.append(
            Agreement(
                action=action,
                mode=entry.mode.value if entry else None,
                tier=entry.tier.value if entry else None,
                shadowed=shadowed,
                judged=judged,
                agreed=agreed,
                ready=ready,
                why=why,
                agreed_hypothesis=counted.by_hypothesis,
                agreed_runbook=counted.by_runbook,
            )
        )
    return found


def resolutions(store: DocumentStore, tenant_id: str) -> dict[str, Resolution]:
    """What the responders of each resolved incident of the tenant did.

    Read from the audit trail: ``incident.resolve`` with category and target
    (the latest such record of an incident is the responders' last word) and
    ``incident.runbook_used`` with the runbook id (every one counts). An
    incident no longer resolved, or with neither, is left out.
    """
    docs = store.query(Container.AUDIT, tenant_id, [Filter("action", "=", RESOLVE)])
    hypotheses: dict[str, tuple[str, str]] = {}
    for doc in sorted(docs, key=lambda d: (d.get("seq") or 0, str(d.get("at", "")))):
        detail = doc.get("detail") or {}
        if detail.get("category") and detail.get("target"):
            hypotheses[str(doc["subject"])] = (str(detail["category"]), str(detail["target"]))
    used: dict[str, set[str]] = {}
    for doc in store.query(Container.AUDIT, tenant_id, [Filter("action", "=", RUNBOOK_USED)]):
        runbook_id = (doc.get("detail") or {}).get("runbook_id")
        if isinstance(runbook_id, str) and runbook_id:
            # The Slack click names its subject "incident:<id>", the resolution the bare id.
            subject = str(doc["subject"]).removeprefix("incident:")
            used.setdefault(subject, set()).add(runbook_id)
    found: dict[str, Resolution] = {}
    for incident_id in dict.fromkeys([*hypotheses, *used]):
        category, target = hypotheses.get(incident_id, (None, None))
        found[incident_id] = Resolution(
            incident_id=incident_id,
            category=category,
            target=target,
            runbooks=frozenset(used.get(incident_id, ())),
        )
    for incident_id in list(found):
        incident = store.get(Container.INCIDENTS, tenant_id, incident_id)
        if incident is None or incident.get("status") != IncidentStatus.RESOLVED.value:
            del found[incident_id]
    return found


def status(
    store: DocumentStore,
    tenant_id: str,
    *,
    min_judged: int = DEFAULT_MIN_JUDGED,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Agreement]:
    """``autonomy status``: agreement per action of the tenant, read from the store."""
    stored = load_policy(store, tenant_id)
    return assessed(
        store,
        tenant_id,
        stored.policy if stored else None,
        min_judged=min_judged,
        threshold=threshold,
    )


def assessed(
    store: DocumentStore,
    tenant_id: str,
    policy: Policy | None,
    *,
    min_judged: int = DEFAULT_MIN_JUDGED,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Agreement]:
    """``assess`` of the tenant's records and resolutions under a policy already read."""
    return assess(
        policy,
        list_records(store, tenant_id),
        resolutions(store, tenant_id),
        min_judged=min_judged,
        threshold=threshold,
    )


class Outcome(StrEnum):
    PROMOTED = "promoted"
    UNCHANGED = "unchanged"
    """Active already: nothing to do."""
    NOT_APPROVER = "not_approver"
    NOT_READY = "not_ready"
    UNKNOWN = "unknown"
    """No policy, or the policy does not list the action."""


@dataclass(frozen=True, slots=True)
class Promotion:
    outcome: Outcome
    message: str

    @property
    def refused(self) -> bool:
        return self.outcome not in {Outcome.PROMOTED, Outcome.UNCHANGED}


def approvers(policy: Policy, action: str) -> tuple[str, ...]:
    """Who may promote ``action``: its own approvers and the tenant-level ones."""
    entry = policy.actions.get(action)
    own = entry.approvers if entry else ()
    return tuple(dict.fromkeys((*own, *policy.approvers)))


def promote(
    store: DocumentStore,
    tenant_id: str,
    action: str,
    *,
    by: str,
    now: datetime,
    force: bool = False,
    min_judged: int = DEFAULT_MIN_JUDGED,
    threshold: float = DEFAULT_THRESHOLD,
) -> Promotion:
    """Set ``action`` active in the tenant's policy when ``by`` may and it is ready."""
    stored = load_policy(store, tenant_id)
    if stored is None:
        return Promotion(Outcome.UNKNOWN, f"{tenant_id}: no remediation policy set")
    entry = stored.policy.actions.get(action)
    if entry is None:
        return Promotion(Outcome.UNKNOWN, f"{action}: not in {tenant_id}'s policy")
    allowed = approvers(stored.policy, action)
    if by not in allowed:
        who = ", ".join(allowed) or "nobody (the policy names no approvers)"
        return Promotion(
            Outcome.NOT_APPROVER, f"{by} may not promote {action}: only its approvers may ({who})"
        )
    if entry.mode is Mode.ACTIVE:
        return Promotion(Outcome.UNCHANGED, f"{action} is active already for {tenant_id}")
    rows = assessed(store, tenant_id, stored.policy, min_judged=min_judged, threshold=threshold)
    row = next(a for a in rows if a.action == action)
    if not row.ready and not force:
        return Promotion(
            Outcome.NOT_READY, f"{action} is not ready for promotion: {row.why} (--force overrides)"
        )
    why = {
        "promoted": action,
        "by": by,
        "forced": force and not row.ready,
        "agreement": row.row(),
    }
    note = f"{action} promoted to active by {by}" + (" (forced)" if why["forced"] else "")
    text = with_mode(stored.source, action, Mode.ACTIVE, note=note)
    changed = set_policy(
        store, tenant_id, text, now=now, actor=by, source="autonomy promote", why=why
    )
    audit_record(
        store,
        tenant_id,
        at=now,
        actor=by,
        action=PROMOTE,
        subject=f"policy:{tenant_id}:{action}",
        detail={
            **why,
            "tier": entry.tier.value,
            "from": Mode.SHADOW.value,
            "to": Mode.ACTIVE.value,
            "policy_version": changed.version,
            "previous_version": stored.version,
        },
    )
    forced = " (forced: " + row.why + ")" if why["forced"] else ""
    return Promotion(
        Outcome.PROMOTED,
        f"{action} promoted to active at {entry.tier.value} risk for {tenant_id} by {by}{forced}",
    )


def render(tenant_id: str, rows: Sequence[Agreement]) -> list[str]:
    """``autonomy status`` in words: one line per action."""
    if not rows:
        return [f"{tenant_id}: no remediation policy and nothing shadowed"]
    lines = [f"{tenant_id}: agreement of shadow mode with responders, per action"]
    for a in rows:
        share = f"{a.share:.0%}" if a.share is not None else "-"
        lines.append(
            f"  {a.action:<20} {a.mode or '-':<6} {a.tier or '-':<6} shadowed {a.shadowed:>3}  "
            f"judged {a.judged:>3}  agreed {a.agreed:>3} "
            f"(hypothesis {a.agreed_hypothesis}, runbook {a.agreed_runbook})  "
            f"agreement {share:>4}  {a.why}"
        )
    return lines
