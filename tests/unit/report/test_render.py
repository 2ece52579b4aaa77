"""The HTML file is self-contained and escapes hostile text; the terminal and Slack too."""

from __future__ import annotations

import base64
import io
import re

from rich.console import Console

from shared.adapters.store.sqlite import SqliteStore
from shared.models.tenant import Tenant
from shared.report.blocks import report_message
from shared.report.charts import charts
from shared.report.deliver import html_of
from shared.report.gather import Sources, weekly_report
from shared.report.text import render_text
from tests.unit.report import fixture
from tests.unit.report.fixture import AT, HOSTILE, HOSTILE_SERVICE

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_html_file_is_self_contained(tenant: Tenant, sources: Sources) -> None:
    page = html_of(weekly_report(tenant, AT, sources))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<style>" in page
    for outside in ("http://", "https://", "<link", "<script", "@import", "url("):
        assert outside not in page
    sources_ = re.findall(r'src="([^"]*)"', page)
    assert len(sources_) == 2  # the trend and headroom charts
    for src in sources_:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :]).startswith(PNG)
    assert re.findall(r"\b(?:href|srcset|action)=", page) == []


def test_every_tenant_or_alert_string_is_escaped(sources: Sources) -> None:
    hostile = fixture.tenant(None, name='Acme </title><script>alert("t")</script>')
    fixture.fill_store(sources.store, hostile)
    page = html_of(weekly_report(hostile, AT, sources))
    assert "<script" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;$x^2$" in page  # alert, incident
    assert "pay&lt;b&gt;ments&lt;/b&gt;$x_1$" in page  # a service name from the metrics
    assert "Acme &lt;/title&gt;&lt;script&gt;" in page


def test_a_dollar_in_a_name_is_drawn_as_text_not_math(tenant: Tenant, sources: Sources) -> None:
    """matplotlib would parse ``$x_1$`` as math text (and fail on ``$\\frac``): it is off."""
    report = weekly_report(tenant, AT, sources)
    assert any("$" in t.service for t in report.traffic.services)
    drawn = charts(report.traffic, report.capacity, report.week)
    assert set(drawn) == {"trends", "headroom"}
    assert all(png.startswith(PNG) for png in drawn.values())


def test_without_metrics_there_are_no_charts_and_the_page_says_why(store: SqliteStore) -> None:
    bare = fixture.tenant(None)
    report = weekly_report(bare, AT, Sources(store, None))
    page = html_of(report)
    assert "data:image/png" not in page
    assert page.count('class="missing"') == 3  # traffic, capacity, and no noise advice
    assert "no metrics source" in page


def test_the_terminal_summary_prints_names_as_text(tenant: Tenant, sources: Sources) -> None:
    buffer = io.StringIO()
    render_text(weekly_report(tenant, AT, sources), Console(file=buffer, width=200))
    out = buffer.getvalue()
    assert "Weekly report: Acme <Ops>" in out
    assert "Traffic:" in out and "traffic up 30%" in out
    assert "/data on db-1 will be full in about 10 h" in out
    assert HOSTILE_SERVICE[:8] in out  # [b] markup would have been swallowed
    assert "missing: alerts: no noise advice" in out


def test_the_slack_summary_escapes_mrkdwn(tenant: Tenant, sources: Sources) -> None:
    message = report_message(weekly_report(tenant, AT, sources), attached=True)
    assert message.kind == "weekly_report" and message.incident_id == "weekly-report-2026-03-02"
    blob = repr(message.blocks[1:]) + message.text  # the header is plain_text: shown as is
    assert "<script>" not in blob and "<b>" not in blob and "<Ops>" not in blob
    assert "&lt;script&gt;" in blob
    assert message.blocks[0]["text"]["text"] == "Weekly report: Acme <Ops>"  # plain_text
    assert HOSTILE not in message.text
