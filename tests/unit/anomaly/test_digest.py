"""The daily digest, posted: yesterday's findings once from 09:00 local, grouped, escaped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shared import bootstrap
from shared.adapters.chat.terminal import TerminalChat
from shared.adapters.store.sqlite import SqliteStore
from shared.anomaly.digest import MARK_PREFIX, Status, digest_view, send_daily_digest
from shared.anomaly.sweep import _file_digest
from shared.cli import app
from shared.clock import FixedClock
from shared.errors import DeliveryFailed
from shared.incidents import stored_analysis
from shared.models.analysis import IncidentAnalysis
from shared.models.anomaly import AnomalyFinding
from shared.models.tenant import Tenant
from shared.ports.store import Container
from shared.settings import Settings

ZONE = "Europe/Paris"
DAY = "2026-04-14"
MORNING = datetime(2026, 4, 15, 7, 0, tzinfo=UTC)
"""09:00 in Paris (summer time) the day after."""


def _finding(signal: str, entity: str, score: float, hour: int, scope: str = "service") -> Any:
    return AnomalyFinding(
        signal=signal,
        entity=entity,
        scope=scope,  # type: ignore[arg-type]
        unit="ratio",
        score=score,
        at=datetime(2026, 4, 14, hour, 0, tzinfo=UTC),
        value=0.2,
        baseline=0.01,
    )


def _tenant(tenant_id: str = "acme") -> Tenant:
    return Tenant(
        id=tenant_id, tenant_id=tenant_id, name="Acme", timezone=ZONE, slack_channel_id="C1"
    )


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    settings = Settings(home=tmp_path / "home", echo_messages=False)
    store = SqliteStore(settings.sqlite_path)
    chat = TerminalChat(tmp_path / "messages", echo=False)
    built = bootstrap.configure(
        bootstrap.build(settings, store=store, chat=chat, clock=FixedClock(MORNING))
    )
    built.tenants.add(_tenant())
    findings = [
        _finding("error_ratio", "checkout", 0.80, 10),
        _finding("latency_p99", "search<&>", 0.95, 11),
        _finding("cpu", "checkout", 0.99, 12),
        _finding("up", "db-1", 0.70, 13, scope="host"),
    ]
    _file_digest(store, "acme", DAY, findings, MORNING - timedelta(hours=10))
    yield built
    bootstrap.reset()
    store.close()


def _open_incident(rt: bootstrap.Runtime, incident_id: str, service: str, impact: float) -> None:
    rt.store.upsert(
        Container.INCIDENTS,
        "acme",
        {"id": incident_id, "tenantId": "acme", "status": "open", "services": [service]},
    )
    stored_analysis.save(
        rt.store,
        "acme",
        IncidentAnalysis(incident_id=incident_id, impact={"score": impact, "reasons": []}),
    )


def test_groups_follow_an_open_incident_s_impact_then_the_highest_score(
    rt: bootstrap.Runtime,
) -> None:
    view = digest_view(rt.store, _tenant(), DAY)
    assert [g.entity for g in view.groups] == ["checkout", "search<&>", "db-1"]
    assert [f.signal for f in view.groups[0].findings] == ["cpu", "error_ratio"]
    _open_incident(rt, "INC-1", "db-1", 0.4)  # a host's name among services: not its incident
    view = digest_view(rt.store, _tenant(), DAY)
    assert [(g.entity, g.impact) for g in view.groups] == [
        ("checkout", None),
        ("search<&>", None),
        ("db-1", None),
    ]
    _open_incident(rt, "INC-2", "search<&>", 0.3)
    view = digest_view(rt.store, _tenant(), DAY)
    assert [(g.entity, g.incident_id) for g in view.groups] == [
        ("search<&>", "INC-2"),
        ("checkout", None),
        ("db-1", None),
    ]


def test_posted_once_from_nine_local_with_yesterday_s_findings_escaped(
    rt: bootstrap.Runtime, tmp_path: Path
) -> None:
    tenant = _tenant()
    early = send_daily_digest(rt, tenant, now=MORNING - timedelta(minutes=15))
    assert early.status is Status.NOT_DUE
    sent = send_daily_digest(rt, tenant, now=MORNING)
    assert sent.status is Status.SENT and sent.day == DAY and sent.findings == 4
    saved = json.loads((tmp_path / "messages" / f"acme__anomaly-digest-{DAY}.json").read_text())
    assert sent.posted is not None and sent.posted.channel == "C1"
    blocks = saved["blocks"]
    assert blocks[0]["text"]["text"] == f"Anomaly digest: {DAY}"
    sections = [b["text"]["text"] for b in blocks[2:]]
    assert sections[0].startswith("*checkout* (service)")
    assert "cpu: 0.2 ratio (usually 0.01), score 0.99 at 14:00" in sections[0]  # Paris time
    assert sections[1].startswith("*search&lt;&amp;&gt;* (service)")
    assert sections[2].startswith("*db-1* (host)")
    again = send_daily_digest(rt, tenant, now=MORNING + timedelta(hours=3))
    assert again.status is Status.ALREADY_SENT
    mark = rt.store.get(Container.CACHE, "acme", MARK_PREFIX + DAY)
    assert mark is not None and mark["state"] == "sent"


def test_a_day_with_nothing_posts_nothing_and_tenants_are_apart(rt: bootstrap.Runtime) -> None:
    other = _tenant("globex")
    rt.tenants.add(other)
    assert send_daily_digest(rt, other, now=MORNING).status is Status.NOTHING
    assert send_daily_digest(rt, _tenant(), now=MORNING).status is Status.SENT


class Refusing(TerminalChat):
    def post(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise DeliveryFailed("chat.postMessage: ratelimited", permanent=False)


class RefusingRuntime:
    def __init__(self, rt: bootstrap.Runtime, tmp_path: Path) -> None:
        self.store = rt.store
        self.chat = Refusing(tmp_path / "refused", echo=False)

    def chat_for(self, tenant: Tenant) -> Refusing:
        return self.chat


def test_a_failed_post_releases_the_day_and_a_dead_claim_is_taken_over(
    rt: bootstrap.Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = _tenant()
    with pytest.raises(DeliveryFailed):
        send_daily_digest(RefusingRuntime(rt, tmp_path), tenant, now=MORNING)
    assert rt.store.get(Container.CACHE, "acme", MARK_PREFIX + DAY) is None
    rt.store.create(
        Container.CACHE,
        "acme",
        {
            "id": MARK_PREFIX + DAY,
            "tenantId": "acme",
            "state": "sending",
            "at": MORNING.isoformat(),
        },
    )
    later = MORNING + timedelta(minutes=15)
    assert send_daily_digest(rt, tenant, now=later).status is Status.ALREADY_SENT
    taken = send_daily_digest(rt, tenant, now=MORNING + timedelta(minutes=45))
    assert taken.status is Status.SENT


def test_the_timer_posts_each_tenant_s_digest_once(rt: bootstrap.Runtime, tmp_path: Path) -> None:
    from functions import schedules

    schedules.send_anomaly_digests(None)
    schedules.send_anomaly_digests(None)
    saved = list((tmp_path / "messages").glob("acme__anomaly-digest-*.json"))
    assert [p.name for p in saved] == [f"acme__anomaly-digest-{DAY}.json"]
    mark = rt.store.get(Container.CACHE, "acme", MARK_PREFIX + DAY)
    assert mark is not None and mark["state"] == "sent"


def test_anomalies_digest_prints_the_day(
    rt: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shared.cli._runtime", lambda: rt)
    runner = CliRunner()
    shown = runner.invoke(app, ["anomalies", "digest", "--tenant", "acme"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].startswith(f"anomaly digest of acme for {DAY} (Europe/Paris): 4 finding(s)")
    assert lines[1] == "checkout (service):"
    body = json.loads(
        runner.invoke(
            app, ["anomalies", "digest", "--tenant", "acme", "--day", DAY, "--json"]
        ).output
    )
    assert [g["entity"] for g in body["groups"]] == ["checkout", "search<&>", "db-1"]
    empty = runner.invoke(app, ["anomalies", "digest", "--tenant", "acme", "--day", "2026-04-13"])
    assert "nothing deviated" in empty.output
    bad = runner.invoke(app, ["anomalies", "digest", "--tenant", "acme", "--day", "monday"])
    assert bad.exit_code == 2 and "is not a date" in bad.output
