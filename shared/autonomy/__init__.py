"""Autonomy: policy-bound remediation (issue 10).

``policy`` parses and validates a tenant's remediation policy; ``engine``
decides, as a pure function of (policy, proposal, state, time), whether a
proposed action is refused, only shadowed, run now, announced or held for
approval, and again right before it runs; ``invariants`` states the safety
properties the engine must keep, for the property tests and ``bench policy``;
``policies`` keeps each tenant's policy in the store and audits changes;
``trust`` measures shadow mode's agreement with responders and promotes an
action out of it.
"""

from __future__ import annotations

from shared.autonomy.engine import (
    Approval,
    Decision,
    Execution,
    Fleet,
    Outcome,
    Proposal,
    State,
    Verdict,
    decide,
    may_execute,
)
from shared.autonomy.policy import ACTIONS, Mode, Policy, Tier, parse_policy

__all__ = [
    "ACTIONS",
    "Approval",
    "Decision",
    "Execution",
    "Fleet",
    "Mode",
    "Outcome",
    "Policy",
    "Proposal",
    "State",
    "Tier",
    "Verdict",
    "decide",
    "may_execute",
    "parse_policy",
]
