"""The weekly timer: Monday 09:00 local, once per week, the HTML attached; a failure retries."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared import bootstrap
from shared.adapters.chat.terminal import TerminalChat
from shared.adapters.store.sqlite import SqliteStore
from shared.clock import FixedClock
from shared.errors import DeliveryFailed
from shared.models.tenant import Tenant
from shared.ports.store import Container
from shared.report.deliver import MARK_PREFIX, Status, send_weekly_report
from shared.settings import Settings
from tests.unit.report import fixture
from tests.unit.report.fixture import AT


@pytest.fixture
def rt(tmp_path: Path, store: SqliteStore, tenant: Tenant) -> bootstrap.Runtime:
    settings = Settings(home=tmp_path / "home", echo_messages=False)
    chat = TerminalChat(tmp_path / "messages", echo=False)
    built = bootstrap.configure(bootstrap.build(settings, store=store, chat=chat))
    built.tenants.add(tenant, replace=True)
    yield built
    bootstrap.reset()


def test_sent_once_on_monday_from_nine_local_with_the_html_attached(
    rt: bootstrap.Runtime, tenant: Tenant, tmp_path: Path
) -> None:
    assert send_weekly_report(rt, tenant, now=AT - timedelta(minutes=15)).status is Status.NOT_DUE
    sent = send_weekly_report(rt, tenant, now=AT)
    assert sent.status is Status.SENT and sent.week == "2026-03-02" and sent.attached
    assert sent.posted is not None and sent.posted.file is not None
    page = Path(sent.posted.file).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    saved = json.loads((tmp_path / "messages" / "acme__weekly-report-2026-03-02.json").read_text())
    assert saved["blocks"][0]["text"]["text"] == "Weekly report: Acme <Ops>"
    assert [f["filename"] for f in saved["files"]] == ["weekly-report-acme-2026-03-02.html"]
    later = send_weekly_report(rt, tenant, now=AT + timedelta(hours=2))
    assert later.status is Status.ALREADY_SENT
    mark = rt.store.get(Container.CACHE, "acme", MARK_PREFIX + "2026-03-02")
    assert mark is not None and mark["state"] == "sent"


class Refusing(TerminalChat):
    def post_file(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise DeliveryFailed("chat.postMessage: ratelimited", permanent=False)


def test_a_failed_post_releases_the_week_for_the_next_run(
    rt: bootstrap.Runtime, tenant: Tenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing = Refusing(tmp_path / "messages", echo=False)
    monkeypatch.setattr(type(rt), "chat_for", lambda self, t: refusing)
    with pytest.raises(DeliveryFailed):
        send_weekly_report(rt, tenant, now=AT)
    assert rt.store.get(Container.CACHE, "acme", MARK_PREFIX + "2026-03-02") is None
    monkeypatch.undo()
    assert send_weekly_report(rt, tenant, now=AT + timedelta(minutes=15)).status is Status.SENT


def test_a_claim_left_by_a_dead_run_is_taken_over_later(
    rt: bootstrap.Runtime, tenant: Tenant
) -> None:
    rt.store.create(
        Container.CACHE,
        "acme",
        {
            "id": MARK_PREFIX + "2026-03-02",
            "tenantId": "acme",
            "state": "sending",
            "at": AT.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    )
    soon = send_weekly_report(rt, tenant, now=AT + timedelta(minutes=15))
    assert soon.status is Status.ALREADY_SENT  # it may still be sending
    assert send_weekly_report(rt, tenant, now=AT + timedelta(hours=1)).status is Status.SENT


def test_the_timer_sends_each_tenant_at_its_own_monday_nine(
    rt: bootstrap.Runtime, metrics_file: Path
) -> None:
    from functions import schedules

    tokyo = fixture.tenant(metrics_file, timezone="Asia/Tokyo").model_copy(
        update={"id": "tokyo", "tenant_id": "tokyo"}
    )
    rt.tenants.add(tokyo)
    sent: list[str] = []
    for hour in range(24):
        moment = datetime(2026, 3, 8, 23, 0, tzinfo=UTC) + timedelta(hours=hour)
        bootstrap.configure(dataclasses.replace(rt, clock=FixedClock(moment)))
        schedules.send_weekly_reports(None)
        for tenant_id in ("acme", "tokyo"):
            mark = rt.store.get(Container.CACHE, tenant_id, MARK_PREFIX + "2026-03-02")
            if mark is not None and tenant_id not in sent:
                sent.append(tenant_id)
                assert mark["at"].startswith(moment.strftime("%Y-%m-%dT%H"))
    # Tokyo's Monday 09:00 is 00:00 UTC, Paris's 08:00 UTC
    assert sent == ["tokyo", "acme"]
