"""The tenant's own forecast horizon: validated, stored, and what the live sweep posts by."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from shared import bootstrap
from shared.adapters.chat.terminal import TerminalChat
from shared.adapters.store.sqlite import SqliteStore
from shared.cli import app
from shared.models.tenant import Tenant
from shared.ports.metrics import MetricsSource
from shared.predict.live import horizon_of, run_sweep
from shared.predict.sweep import HORIZON_H, Action, look_ahead, sweep
from shared.settings import Settings
from tests.unit.predict.synthetic import NOW
from tests.unit.predict.test_sweep import FakeMetrics


def _tenant(tenant_id: str = "acme", horizon: float | None = None) -> Tenant:
    return Tenant(id=tenant_id, tenant_id=tenant_id, name=tenant_id, forecast_horizon_hours=horizon)


@pytest.mark.parametrize("bad", [0.0, -1.0, 168.5, float("nan"), float("inf")])
def test_a_horizon_must_be_above_zero_and_at_most_a_week(bad: float) -> None:
    with pytest.raises(ValidationError, match="forecast_horizon_hours"):
        _tenant(horizon=bad)


def test_the_default_horizon_is_twelve_hours_and_a_week_is_allowed() -> None:
    assert _tenant().forecast_horizon_hours is None
    assert horizon_of(_tenant()) == HORIZON_H == 12.0
    assert horizon_of(_tenant(horizon=168)) == 168.0
    assert horizon_of(_tenant(horizon=0.5)) == 0.5


def test_the_forecast_looks_far_enough_ahead_to_see_a_long_horizon_pass() -> None:
    assert look_ahead(12.0) == 48.0  # the core's own horizon: unchanged for most tenants
    assert look_ahead(72.0) == 108.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


class Deps:
    """What ``run_sweep`` needs: the store, one metrics source, the terminal chat."""

    def __init__(self, store: SqliteStore, metrics: MetricsSource, messages: Path) -> None:
        self.store = store
        self.metrics = metrics
        self.chat = TerminalChat(messages, echo=False)

    def metrics_for(self, tenant: Tenant) -> MetricsSource:
        return self.metrics

    def chat_for(self, tenant: Tenant) -> TerminalChat:
        return self.chat


def test_each_tenant_is_posted_by_its_own_horizon(store: SqliteStore, tmp_path: Path) -> None:
    metrics = FakeMetrics()
    metrics.hours_left = 20.0
    deps = Deps(store, metrics, tmp_path / "messages")
    default = run_sweep(deps, _tenant("acme"), NOW)
    assert default.deliveries == () and len(default.result.predictions) == 1  # type: ignore[union-attr]
    wide = run_sweep(deps, _tenant("globex", horizon=24.0), NOW)
    assert [(d.action, d.outcome) for d in wide.deliveries] == [(Action.NEW, "posted")]
    assert "will be full in about 20 h" in wide.deliveries[0].text
    narrow = run_sweep(deps, _tenant("initech", horizon=2.0), NOW)
    assert narrow.deliveries == ()


def test_a_long_horizon_clears_only_beyond_one_and_a_half_times_it(store: SqliteStore) -> None:
    metrics = FakeMetrics()
    metrics.hours_left = 60.0  # beyond the core's 48 h: seen only because the tenant looks further
    first = sweep("acme", metrics, store, NOW, horizon_h=72.0)
    assert [p.action for p in first.posts] == [Action.NEW]
    metrics.hours_left = 100.0  # past the horizon, within 1.5 times it: no flapping
    assert sweep("acme", metrics, store, NOW, horizon_h=72.0).posts == ()
    metrics.hours_left = None
    cleared = sweep("acme", metrics, store, NOW, horizon_h=72.0)
    assert [p.action for p in cleared.posts] == [Action.CLEAR]


def test_tenants_add_takes_the_horizon_and_refuses_a_bad_one(tmp_path: Path) -> None:
    env = {"SRE_COPILOT_HOME": str(tmp_path)}
    runner = CliRunner()
    bad = runner.invoke(app, ["tenants", "add", "acme", "--forecast-horizon-hours", "200"], env=env)
    assert bad.exit_code == 2
    assert "forecast_horizon_hours" in bad.output
    ok = runner.invoke(app, ["tenants", "add", "acme", "--forecast-horizon-hours", "36"], env=env)
    assert ok.exit_code == 0, ok.output
    rt = bootstrap.build(Settings(home=tmp_path))
    try:
        assert rt.tenants.get("acme").forecast_horizon_hours == 36.0
    finally:
        rt.close()
