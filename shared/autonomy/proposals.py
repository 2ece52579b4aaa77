"""Proposals: the top hypothesis' runbooks name actions; the tenant's policy decides.

After an analysis (and on a "Propose fix" click) ``propose`` takes the
incident's stored analysis, its top hypothesis, and the runbooks matched to
it (those of the analysis whose categories include the hypothesis'), and
turns each runbook action into a ``Proposal``:

- the action name and ``params`` come from the runbook's front matter, as
  the search index returned them with the analysis' runbook hits (validated
  again; the runbook folder only for hits without them, see ``runbooks_for``),
  never from the LLM; the target template is filled in from the incident only:
  ``{target}`` and ``{service}`` are the hypothesis' target once it is known
  to be one of the incident's or the topology's services (hosts, for
  ``drain_node``), ``{deployment}`` the same service (deployments are named
  after their service), ``{namespace}`` the executor's default namespace.
  Alert text and the LLM never reach a target or a parameter: a hypothesis
  the LLM alone proposed proposes nothing;
- ``decide`` judges it against the tenant's stored policy and the state read
  from the store now (executions in the last hour and running, the proposal's
  answers) and the fleet it takes capacity from: live from the executor when
  it can observe one (``FleetObserver``: the deployment's replicas and ready
  replicas, the cluster's nodes), else from the topology; a reason line says
  which source was used.

A refused proposal is audited (once) and not kept; any other becomes an
``ActionRecord`` in state ``proposed`` whose orchestration the caller starts.
Ids are stable: the same analysis proposes the same action once; a "Propose
fix" click proposes again only what has no open record for the incident.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from shared.autonomy import kill_switch
from shared.autonomy.actions import (
    ActionRecord,
    Origin,
    audit,
    create,
    executed_since,
    list_records,
)
from shared.autonomy.engine import (
    HOUR,
    Approval,
    Decision,
    Execution,
    Fleet,
    Outcome,
    Proposal,
    State,
    Verdict,
    decide,
    out_of_service,
    target_problem,
)
from shared.autonomy.policies import load_policy
from shared.autonomy.policy import Policy
from shared.clock import Clock
from shared.errors import BadInput, ExecutorUnavailable
from shared.incidents import stored_analysis
from shared.models.incident import Incident
from shared.models.tenant import Tenant
from shared.ports.executor import Executor, FleetObserver
from shared.ports.store import Container, DocumentStore
from shared.runbooks.loader import Runbook, RunbookAction, actions_from, load_runbooks
from shared.settings import Settings
from shared.tenants.registry import TenantRegistry

log = logging.getLogger("sre_copilot.autonomy.proposals")

HOST_ACTIONS = frozenset({"drain_node"})
"""Actions on a host (a node), not on a service's workload."""
UNNAMESPACED = HOST_ACTIONS
"""Targets Kubernetes names without a namespace."""


class ProposeDeps(Protocol):
    @property
    def store(self) -> DocumentStore: ...

    @property
    def tenants(self) -> TenantRegistry: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def settings(self) -> Settings: ...


@runtime_checkable
class HasExecutor(Protocol):
    """A runtime that names the tenant's executor (``Runtime`` does): fleets are read live."""

    def executor_for(self, tenant: Tenant) -> Executor: ...


@dataclass(frozen=True, slots=True)
class Proposed:
    """What ``propose`` did: records to start, and one line per action it did not keep."""

    started: tuple[ActionRecord, ...] = ()
    skipped: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        lines = [
            f"{r.action} on {r.target} ({r.tier} risk, {r.mode}): proposed" for r in self.started
        ]
        return "\n".join([*lines, *self.skipped]) or "No runbook action to propose."


def proposal_id(
    incident_id: str, action: str, target: str, params: Mapping[str, Any], n: str
) -> str:
    raw = json.dumps([incident_id, action, target, dict(params), n], sort_keys=True, default=str)
    return f"rem-{hashlib.sha256(raw.encode()).hexdigest()[:24]}"


# --- targets ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    service: str
    target: str


def resolve(
    entry: RunbookAction,
    *,
    hypothesis_target: str,
    incident: Incident,
    tenant: Tenant,
    namespace: str,
) -> Resolved | str:
    """The action's service and target, or why it cannot be named from the incident."""
    services = {*incident.services, *(s.name for s in tenant.topology.services)}
    hosts = {*incident.instances, *tenant.topology.hosts()}
    on_host = entry.action in HOST_ACTIONS
    known = hosts if on_host else services
    needs_target = any(p in entry.target for p in ("{target}", "{service}", "{deployment}"))
    if needs_target and hypothesis_target not in known:
        kind = "host" if on_host else "service"
        return (
            f"{entry.action}: the hypothesis' target {hypothesis_target!r} is not a known "
            f"{kind} of the incident or the topology"
        )
    text = (
        entry.target.replace("{target}", hypothesis_target)
        .replace("{service}", hypothesis_target)
        .replace("{deployment}", hypothesis_target)
        .replace("{namespace}", namespace)
    )
    if not on_host and "/" not in text:
        text = f"{namespace}/{text}"
    problem = target_problem(text)
    if problem is not None:
        return f"{entry.action}: {problem}"
    name = text.rpartition("/")[2]
    if on_host:
        owner = next((s.name for s in tenant.topology.services if name in s.instances), name)
        return Resolved(service=owner, target=text)
    return Resolved(service=name, target=text)


# --- state ----------------------------------------------------------------------------


def fleets(
    tenant: Tenant, incident: Incident | None, live: Mapping[str, Fleet] | None = None
) -> dict[str, Fleet]:
    """Fleet size per service: ``live`` where observed, else the topology with the incident.

    From the topology, an instance the incident's alerts name counts as
    unhealthy. A service the topology lists without instances, and not
    observed, has an unknown fleet, and an action that takes capacity out of
    it is refused by the policy engine.
    """
    sick = set(incident.instances) if incident is not None else set()
    found: dict[str, Fleet] = {}
    for service in tenant.topology.services:
        if service.instances:
            size = len(service.instances)
            found[service.name] = Fleet(
                size=size, healthy=size - len(sick & set(service.instances))
            )
    found.update(live or {})
    return found


@dataclass(frozen=True, slots=True)
class LiveFleet:
    """The proposal's fleet as the executor sees it (None: unknown) and the words for it."""

    fleet: Fleet | None
    note: str = ""


def observe(executor: object, proposal: Proposal) -> LiveFleet:
    """Read the fleet the proposal takes capacity from, live, when the executor can.

    Only actions that take members out are observed (the fleet limits judge
    nothing else). The deployment is the service's (deployments are named
    after their service), in the target's namespace; a node's fleet is the
    cluster's nodes. An unreachable backend is no reason to guess: the
    topology is used and the note says so.
    """
    if out_of_service(proposal) == 0 or not isinstance(executor, FleetObserver):
        return LiveFleet(None)
    target = proposal.targets[0]
    if proposal.action in HOST_ACTIONS:
        workload = target
    else:
        namespace = target.rpartition("/")[0]
        workload = f"{namespace}/{proposal.service}" if namespace else proposal.service
    try:
        seen = executor.observe_fleet(proposal.action, workload)
    except ExecutorUnavailable as exc:
        return LiveFleet(None, f"live figures unavailable ({exc.reason})")
    if seen is None:
        return LiveFleet(None)
    return LiveFleet(Fleet(size=seen.size, healthy=seen.ready), seen.source)


def fleet_reason(proposal: Proposal, state: State, live: LiveFleet) -> str | None:
    """One reason line: the fleet figures the decision used and where they came from."""
    if out_of_service(proposal) == 0:
        return None
    fleet = state.fleets.get(proposal.service)
    if live.fleet is not None:
        return f"fleet of {proposal.service} read from the cluster ({live.note})"
    why = f"; {live.note}" if live.note else ""
    if fleet is None:
        return f"fleet of {proposal.service}: not in the topology{why}"
    return (
        f"fleet of {proposal.service} from the topology ({fleet.size} instances, "
        f"{fleet.healthy} not named by the incident's alerts{why})"
    )


def state_for(
    store: DocumentStore,
    tenant: Tenant,
    incident: Incident | None,
    record_id: str,
    answers: Sequence[Approval],
    now: datetime,
    *,
    live: Mapping[str, Fleet] | None = None,
    kill_switch_setting: bool,
    executions: tuple[Execution, ...] | None = None,
) -> State:
    """The engine's view of the world, read from the store now (``live`` fleets preferred).

    ``executions``: given by a caller that judges against its own (admission's
    claims); else the tenant's executions of the last hour are read.

    The kill switches are read on every call, so a switch flipped while an
    action waits (announce window, approval) refuses it at the re-check;
    ``kill_switch_setting`` (``SRE_COPILOT_AUTONOMY_KILL_SWITCH``) forces the
    global one on. A store error propagates: unknown is never off.
    """
    switches = kill_switch.read(store, tenant.id, forced=kill_switch_setting)
    if executions is None:
        executions = tuple(
            r.execution()
            for r in executed_since(store, tenant.id, now - HOUR)
            if r.executed_at is not None and r.id != record_id
        )
    return State(
        executions=executions,
        fleets=fleets(tenant, incident, live),
        approvals=tuple(answers),
        global_kill_switch=switches.global_on,
        tenant_kill_switch=switches.tenant_on,
        kill_switch_notes={"global": switches.global_note, "tenant": switches.tenant_note},
    )


def approvals_of(record: ActionRecord) -> tuple[Approval, ...]:
    return tuple(
        Approval(proposal_id=record.id, user=a.user, verdict=Verdict(a.verdict), at=a.at)
        for a in record.answers
    )


def proposal_of(record: ActionRecord) -> Proposal:
    return Proposal(
        id=record.id,
        incident_id=record.incident_id,
        action=record.action,
        service=record.service,
        targets=(record.target,),
        params=record.params,
        category=record.category,
        confidence=record.confidence,
        service_tier=record.service_tier,
        proposed_at=record.proposed_at,
    )


# --- proposing ------------------------------------------------------------------------


def runbooks_for(
    folder: Path | None, hits: Sequence[Mapping[str, Any]], category: str
) -> list[Runbook]:
    """The analysis' runbooks (in its order) that name the hypothesis' category.

    A hit that carries ``actions`` (what the search index returned with it,
    Azure AI Search included) is used as it is, its actions validated again as
    stored data; one without (an analysis from an older version, an index not
    yet given the field) is re-read from ``folder``, when there is one.
    """
    found: list[Runbook | str] = []
    for hit in hits:
        rid = str(hit.get("id") or "")
        if not rid:
            continue
        if "actions" not in hit:
            found.append(rid)
            continue
        found.append(
            Runbook(
                id=rid,
                title=str(hit.get("title") or rid),
                categories=tuple(str(c) for c in hit.get("categories") or ()),
                actions=actions_from(hit["actions"], origin=f"analysis runbook {rid}"),
            )
        )
    known: dict[str, Runbook] = {}
    if folder is not None and any(isinstance(f, str) for f in found):
        try:
            known = {r.id: r for r in load_runbooks(folder)}
        except BadInput as exc:
            log.warning("runbooks not read: %s", exc.reason)
    chosen = [known.get(f) if isinstance(f, str) else f for f in found]
    return [r for r in chosen if r is not None and (not r.categories or category in r.categories)]


def propose(
    deps: ProposeDeps,
    tenant_id: str,
    incident_id: str,
    *,
    origin: Origin = "analysis",
    requested_by: str | None = None,
) -> Proposed:
    """Propose the top hypothesis' runbook actions for an incident (see the module doc)."""
    store = deps.store
    stored = load_policy(store, tenant_id)
    if stored is None:
        return Proposed(skipped=("No remediation policy is set: nothing is proposed.",))
    analysis = stored_analysis.load(store, tenant_id, incident_id)
    if analysis is None or not analysis.hypotheses:
        return Proposed(skipped=("No analysis yet: nothing to propose from.",))
    top = analysis.hypotheses[0]
    origins = top.get("origins") or ["detector"]
    if "detector" not in origins:
        return Proposed(
            skipped=("The top hypothesis comes from the LLM alone: no action is proposed.",)
        )
    doc = store.get(Container.INCIDENTS, tenant_id, incident_id)
    if doc is None:
        return Proposed(skipped=("Unknown incident.",))
    incident = Incident.from_doc(doc)
    tenant = deps.tenants.get(tenant_id)
    category, target = str(top["category"]), str(top["target"])
    runbooks = runbooks_for(deps.settings.runbooks_dir, analysis.runbooks, category)
    started: list[ActionRecord] = []
    skipped: list[str] = []
    seen: set[tuple[str, str]] = set()
    # A button's proposals are numbered after the incident's earlier ones of the
    # same action and target; read once (this loop's own never share a pair).
    earlier = (
        list_records(deps.store, tenant.id, incident_id=incident.id) if origin != "analysis" else []
    )
    for runbook in runbooks:
        for entry in runbook.actions:
            resolved = resolve(
                entry,
                hypothesis_target=target,
                incident=incident,
                tenant=tenant,
                namespace=deps.settings.kubernetes_namespace,
            )
            if isinstance(resolved, str):
                skipped.append(resolved)
                continue
            if (entry.action, resolved.target) in seen:
                continue
            seen.add((entry.action, resolved.target))
            made = _one(
                deps,
                stored.policy,
                tenant,
                incident,
                runbook,
                entry,
                resolved,
                category=category,
                hypothesis_target=target,
                confidence=float(top.get("confidence") or 0.0),
                origin=origin,
                requested_by=requested_by,
                earlier=earlier,
            )
            if isinstance(made, str):
                skipped.append(made)
            else:
                started.append(made)
    if not runbooks:
        skipped.append(f"No runbook with actions matches {category} on {target}.")
    return Proposed(started=tuple(started), skipped=tuple(skipped))


def _one(
    deps: ProposeDeps,
    policy: Policy,
    tenant: Tenant,
    incident: Incident,
    runbook: Runbook,
    entry: RunbookAction,
    resolved: Resolved,
    *,
    category: str,
    hypothesis_target: str,
    confidence: float,
    origin: Origin,
    requested_by: str | None,
    earlier: Sequence[ActionRecord],
) -> ActionRecord | str:
    store = deps.store
    now = deps.clock.now()
    params = dict(entry.params)
    if origin == "analysis":
        pid = proposal_id(incident.id, entry.action, resolved.target, params, "auto")
    else:
        mine = [r for r in earlier if (r.action, r.target) == (entry.action, resolved.target)]
        if any(not r.state.terminal for r in mine):
            return f"{entry.action} on {resolved.target}: already proposed and open"
        pid = proposal_id(incident.id, entry.action, resolved.target, params, f"m{len(mine)}")
    service = tenant.topology.service(resolved.service)
    proposal = Proposal(
        id=pid,
        incident_id=incident.id,
        action=entry.action,
        service=resolved.service,
        targets=(resolved.target,),
        params=params,
        category=category,
        confidence=confidence,
        service_tier=service.tier if service else None,
        proposed_at=now,
    )
    live = (
        observe(deps.executor_for(tenant), proposal)
        if isinstance(deps, HasExecutor)
        else LiveFleet(None)
    )
    state = state_for(
        store,
        tenant,
        incident,
        pid,
        (),
        now,
        live={proposal.service: live.fleet} if live.fleet is not None else None,
        kill_switch_setting=deps.settings.autonomy_kill_switch,
    )
    decision = decide(policy, proposal, state, now)
    if (line := fleet_reason(proposal, state, live)) is not None:
        decision = decision.model_copy(update={"reasons": (*decision.reasons, line)})
    record = _record(tenant, proposal, decision, runbook, origin, requested_by, now).model_copy(
        update={"hypothesis_target": hypothesis_target}
    )
    if decision.outcome is Outcome.REFUSED:
        audit(store, record, "refused", now=now, detail={"reasons": list(decision.reasons)})
        return f"{entry.action} on {resolved.target}: refused ({'; '.join(decision.reasons)})"
    if not create(store, record):
        return f"{entry.action} on {resolved.target}: proposed already"
    audit(
        store,
        record,
        "proposed",
        now=now,
        actor=f"slack:{requested_by}" if requested_by else "sre-copilot",
        detail={
            "decision": decision.to_json(),
            "runbook": runbook.id,
            "origin": origin,
            "params": params,
        },
    )
    return record


def _record(
    tenant: Tenant,
    proposal: Proposal,
    decision: Decision,
    runbook: Runbook,
    origin: Origin,
    requested_by: str | None,
    now: datetime,
) -> ActionRecord:
    return ActionRecord(
        id=proposal.id,
        tenant_id=tenant.id,
        incident_id=proposal.incident_id,
        action=proposal.action,
        service=proposal.service,
        target=proposal.targets[0],
        params=proposal.params,
        tier=decision.tier.value if decision.tier else None,
        mode="shadow" if decision.outcome is Outcome.SHADOW else "active",
        origin=origin,
        requested_by=requested_by,
        runbook_id=runbook.id,
        category=proposal.category,
        confidence=proposal.confidence,
        service_tier=proposal.service_tier,
        reasons=decision.reasons,
        proposed_at=now,
        not_before=decision.not_before,
        expires_at=decision.expires_at,
        approvers=decision.approvers,
        history=(),
        updated_at=now,
    )
