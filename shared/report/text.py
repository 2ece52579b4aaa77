"""The report in the terminal (rich): the summary, then each section's table.

Sentences are printed unwrapped (``soft_wrap``) so that a file name or a path
stays on one line for the terminal to wrap, and for grep.

Tenant data is shown as ``Text`` (never parsed as rich markup): a service
called ``[red]x`` prints as itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shared.report import figures
from shared.report.model import WeeklyReport


def render_text(report: WeeklyReport, console: Console, *, html_path: str | None = None) -> None:
    console.print(Text(f"Weekly report: {report.tenant_name}", style="bold"), soft_wrap=True)
    console.print(Text(report.week.label, style="dim"), soft_wrap=True)
    for title, sentence in figures.summary(report):
        line = Text()
        line.append(f"{title}: ", style="bold")
        line.append(sentence)
        console.print(line, soft_wrap=True)
    _table(
        console,
        "Traffic, week over week",
        figures.TRAFFIC_HEADER,
        [figures.traffic_row(t) for t in report.traffic.services],
    )
    _table(
        console,
        "Capacity",
        figures.CAPACITY_HEADER,
        [figures.capacity_row(h) for h in report.capacity.filesystems],
    )
    _table(
        console,
        "Noisiest alerts",
        figures.ALERTS_HEADER,
        [figures.alert_row(a) for a in report.alerts.noisiest],
    )
    _table(
        console,
        "Longest incidents",
        figures.INCIDENTS_HEADER,
        [figures.incident_row(r) for r in report.incidents.longest],
    )
    _table(console, "Hypothesis acceptance", figures.FEEDBACK_HEADER, figures.feedback_rows(report))
    _missing(console, figures.missing_lines(report))
    if html_path:
        console.print(Text(f"HTML report: {html_path}", style="dim"), soft_wrap=True)


def _table(
    console: Console, title: str, header: Sequence[str], rows: Sequence[Sequence[str]]
) -> None:
    if not rows:
        return
    table = Table(*header, title=title, title_justify="left", title_style="bold")
    for row in rows:
        table.add_row(*(Text(v) for v in row))
    console.print(table)


def _missing(console: Console, lines: Iterable[str]) -> None:
    for line in lines:
        console.print(Text(f"missing: {line}", style="yellow"), soft_wrap=True)
