"""The metrics port: a range query in the shape of Prometheus' HTTP API.

One call, ``query_range(selector, start, end, step)``, evaluated like
``/api/v1/query_range``: at every step from ``start`` to ``end`` each series
takes its latest sample no older than the lookback (5 minutes). The answer is
a value, never an exception for an expected failure: a source that is down,
or answers only in part, says so in ``error`` / ``warnings`` so that context
assembly can carry on and widen the confidence it reports.

Adapters: a scenario's ``metrics.om`` file (embedded) and Prometheus.

An optional capability, ``RuleListing``: a source that also serves its
alerting rules (Prometheus' ``/api/v1/rules``). Callers check it with
``isinstance``, so a source without rules (a metrics file) needs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from shared.feedback.prometheus_rules import LiveRules

LOOKBACK = timedelta(minutes=5)
"""Prometheus' default staleness window, used by every adapter."""


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a range result: its labels (with ``__name__``) and samples."""

    labels: Mapping[str, str]
    samples: tuple[tuple[float, float], ...]
    """``(unix seconds, value)`` pairs in time order."""

    @property
    def name(self) -> str:
        return self.labels.get("__name__", "")


@dataclass(frozen=True, slots=True)
class QueryResult:
    """A matrix result, or why there is none (``error``) or only part (``warnings``)."""

    series: tuple[Series, ...] = ()
    error: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def partial(self) -> bool:
        return self.error is not None or bool(self.warnings)


class MetricsSource(Protocol):
    """Where the product reads metric history from."""

    def query_range(
        self, selector: str, start: datetime, end: datetime, step: timedelta
    ) -> QueryResult:
        """Evaluate a PromQL selector at each ``step`` in ``[start, end]``.

        Adapters support at least plain selectors (``name{label="v", ...}``
        with ``=``, ``!=``, ``=~``, ``!~``); an unsupported or failing query
        returns a result with ``error`` set rather than raising.
        """
        ...


@runtime_checkable
class RuleListing(Protocol):
    """A metrics source that lists the alerting rules it evaluates."""

    def alerting_rules(self) -> LiveRules:
        """Every alerting rule, or ``LiveRules(error=...)``; never raises for a failing server."""
        ...
