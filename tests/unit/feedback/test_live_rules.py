"""Noise advice from the rules a live Prometheus serves (``/api/v1/rules``), and the weekly
report the timer makes with them: the real Prometheus (Debian package) loads the same rule
file the file reader parses, so both roads must give the same rules and the same advice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from shared import bootstrap
from shared.adapters.chat.terminal import TerminalChat
from shared.adapters.metrics.prometheus import PrometheusSource
from shared.adapters.metrics.scenario_file import ScenarioFileMetrics
from shared.adapters.store.sqlite import SqliteStore
from shared.feedback.noise import noise_advice
from shared.feedback.prometheus_rules import Edit, LiveRules, apply_edits, read_rule_file
from shared.models.tenant import Tenant
from shared.ports.metrics import RuleListing
from shared.report.deliver import Status, make_report, send_weekly_report
from shared.settings import Settings
from tests.fixtures.prometheus import free_port, prometheus_with_rules
from tests.unit.feedback.noise_history import TENANT, History
from tests.unit.report.fixture import AT

RULES = Path(__file__).parents[2] / "fixtures" / "rules" / "acme.rules.yml"
CPU = {"severity": "warning", "team": "infra"}


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("prometheus-rules")
    with prometheus_with_rules(RULES.read_text(encoding="utf-8"), workdir) as base:
        yield base


@pytest.fixture
def live(prometheus_url: str) -> Iterator[PrometheusSource]:
    source = PrometheusSource(prometheus_url, timeout_seconds=10)
    yield source
    source.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db")
    yield s
    s.close()


def runtime(tmp_path: Path, store: SqliteStore, tenant: Tenant) -> bootstrap.Runtime:
    settings = Settings(home=tmp_path / "home", echo_messages=False)
    chat = TerminalChat(tmp_path / "messages", echo=False)
    built = bootstrap.configure(bootstrap.build(settings, store=store, chat=chat))
    built.tenants.add(tenant, replace=True)
    return built


def tenant_at(prometheus_url: str) -> Tenant:
    return Tenant(
        id=TENANT,
        tenant_id=TENANT,
        name="Acme",
        prometheus_url=prometheus_url,
        timezone="Europe/Paris",
        slack_channel_id="C1",
    )


@pytest.fixture
def rt(tmp_path: Path, store: SqliteStore, prometheus_url: str) -> Iterator[bootstrap.Runtime]:
    yield runtime(tmp_path, store, tenant_at(prometheus_url))
    bootstrap.reset()


@pytest.mark.prometheus
def test_the_api_gives_the_rule_files_alerting_rules(
    live: PrometheusSource, prometheus_url: str
) -> None:
    listed = live.alerting_rules()
    assert listed.ok, listed.error
    assert isinstance(live, RuleListing)
    from_file = {r.alert + str(sorted(r.labels.items())): r for r in read_rule_file(RULES).rules}
    from_api = {r.alert + str(sorted(r.labels.items())): r for r in listed.rules}
    assert from_api.keys() == from_file.keys()  # the recording rule is left out by both
    for key, want in from_file.items():
        got = from_api[key]
        assert (got.alert, got.group, got.for_, dict(got.labels)) == (
            want.alert,
            want.group,
            want.for_,
            dict(want.labels),
        )
        # Prometheus prints the expression again in its own layout; the threshold reads the same.
        assert " ".join(got.expr.split()) == " ".join(want.expr.split()) or (
            want.threshold is not None
            and got.threshold is not None
            and got.threshold.value == want.threshold.value
        )
        assert (got.threshold is None) == (want.threshold is None)
        assert not got.written and got.for_line is None
    cpu = next(r for r in listed.rules if r.alert == "NodeCpuBusy")
    assert (cpu.expr, cpu.for_text, cpu.for_) == (
        "node_cpu_busy_ratio > 0.9",
        "2m",
        timedelta(minutes=2),
    )
    assert dict(cpu.labels) == CPU
    assert "group nodes" in cpu.path and listed.source == f"Prometheus at {prometheus_url}"


@pytest.mark.prometheus
def test_live_rules_give_the_same_advice_as_the_file_but_no_diff(
    store: SqliteStore, live: PrometheusSource
) -> None:
    History(store, now=AT).flapping("NodeCpuBusy", CPU)
    listed = live.alerting_rules()
    from_file = noise_advice(store, TENANT, read_rule_file(RULES), now=AT, metrics=live)
    from_api = noise_advice(store, TENANT, listed, now=AT, metrics=live)
    assert from_file.by_alert_name()  # the flapping rule has a proposal ...
    assert from_api.by_alert_name() == from_file.by_alert_name()  # ... whichever road
    assert from_file.diff and not from_file.live
    assert from_api.diff == "" and from_api.live
    assert from_api.rules_file == f"{listed.source} (/api/v1/rules)"
    # A rule with no file behind it is never edited, even when asked: its line fields are zeros.
    cpu = next(r for r in listed.rules if r.alert == "NodeCpuBusy")
    rule_file = read_rule_file(RULES)
    asked = [Edit(rule=cpu, for_=timedelta(minutes=9), threshold="0.95")]
    assert apply_edits(rule_file, asked) == rule_file.text


@pytest.mark.prometheus
def test_the_timers_weekly_report_shows_the_proposed_fix_from_the_live_rules(
    rt: bootstrap.Runtime, store: SqliteStore, tmp_path: Path, prometheus_url: str
) -> None:
    History(store, now=AT).flapping("NodeCpuBusy", CPU)  # Saturday and Sunday of the week
    tenant = rt.tenants.get(TENANT)
    report = make_report(rt, tenant, AT)
    (row,) = report.alerts.noisiest
    assert row.name == "NodeCpuBusy" and row.count == 12
    assert row.proposed_fix is not None and row.proposed_fix.startswith("for: 2m -> 9m (")
    assert report.alerts.advice_from == f"Prometheus at {prometheus_url} (/api/v1/rules)"
    assert "alerts" not in report.missing
    sent = send_weekly_report(rt, tenant, now=AT)
    assert sent.status is Status.SENT and "alerts" not in sent.missing
    assert sent.posted is not None and sent.posted.file is not None
    page = Path(sent.posted.file).read_text(encoding="utf-8")
    assert "for: 2m -&gt; 9m" in page
    assert f"from the alerting rules of Prometheus at {prometheus_url}" in page


def test_a_prometheus_that_is_down_leaves_the_advice_partial_and_the_report_is_sent(
    tmp_path: Path, store: SqliteStore
) -> None:
    History(store, now=AT).flapping("NodeCpuBusy", CPU)
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    rt = runtime(tmp_path, store, tenant_at(down))
    try:
        sent = send_weekly_report(rt, rt.tenants.get(TENANT), now=AT)
    finally:
        bootstrap.reset()
    assert sent.status is Status.SENT
    (why,) = sent.missing["alerts"]
    assert why.startswith(f"no noise advice: the alerting rules of Prometheus at {down}")
    assert "unavailable" in why


def test_a_metrics_file_lists_no_rules(tmp_path: Path) -> None:
    path = tmp_path / "metrics.om"
    path.write_text("# EOF\n", encoding="utf-8")
    assert not isinstance(ScenarioFileMetrics.from_path(path), RuleListing)
    listed = LiveRules("Prometheus at http://x", error="unavailable: refused")
    assert not listed.ok and listed.rules == ()
