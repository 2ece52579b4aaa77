"""The report as one self-contained HTML file: inline CSS, charts as embedded PNG.

Nothing is fetched when the file is opened (no scripts, stylesheets, fonts or
images from anywhere), so it reads the same attached to Slack, mailed, or
archived. Every string that comes from the tenant's data (its name, services,
filesystems, alerts, incident titles, categories) goes through
``html.escape``: alert text is untrusted input.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from html import escape

from shared.models.base import iso
from shared.report import figures
from shared.report.model import WeeklyReport

CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       color: #1d232a; margin: 2em auto; max-width: 1000px; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.1em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #d0d7de; }
.sub { color: #57606a; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 0.6em 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eaeef2;
         vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dl.summary dt { font-weight: 600; }
dl.summary dd { margin: 0; }
.missing { color: #9a6700; background: #fff8c5; padding: 4px 8px; border-radius: 4px; }
img { max-width: 100%; }
footer { color: #57606a; margin-top: 2em; font-size: 0.85em; }
"""

NUMERIC = {"requests", "count", "incidents", "still firing", "accepted", "rejected", "used"}


def render_html(report: WeeklyReport, charts: Mapping[str, bytes]) -> str:
    """The whole document; ``charts`` are PNGs by name (``trends``, ``headroom``)."""
    title = f"Weekly report: {report.tenant_name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(report.week.label)}</p>',
        '<dl class="summary">',
        *(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in figures.summary(report)),
        "</dl>",
    ]
    parts += _section(
        "Traffic, errors and latency, week over week",
        report.traffic.missing,
        figures.TRAFFIC_HEADER,
        [figures.traffic_row(t) for t in report.traffic.services],
        empty="No service figures.",
    )
    parts += _chart(charts.get("trends"), "Request rate, error ratio and p99 per service")
    parts += _section(
        "Capacity: forecasts and headroom",
        report.capacity.missing,
        figures.CAPACITY_HEADER,
        [figures.capacity_row(h) for h in report.capacity.filesystems],
        empty="No filesystems.",
    )
    parts += _chart(charts.get("headroom"), "Used share of each filesystem")
    a = report.alerts
    parts += _section(
        "Noisiest alerts",
        a.missing,
        figures.ALERTS_HEADER,
        [figures.alert_row(x) for x in a.noisiest],
        empty="No alerts started this week.",
        intro=" ".join(
            part
            for part in (
                f"{a.total} alerts of {a.distinct} kinds started this week." if a.total else "",
                f"Proposed fixes from the alerting rules of {a.advice_from}."
                if a.advice_from
                else "",
            )
            if part
        ),
    )
    parts += _section(
        "Incidents and time to resolve",
        report.incidents.missing,
        figures.INCIDENTS_HEADER,
        [figures.incident_row(r) for r in report.incidents.longest],
        empty="No incidents opened this week.",
        intro=dict(figures.summary(report))["Incidents"] + ". The longest:"
        if report.incidents.longest
        else "",
    )
    parts += _section(
        "Hypothesis acceptance",
        report.feedback.missing,
        figures.FEEDBACK_HEADER,
        figures.feedback_rows(report),
        empty="No verdicts this week.",
        intro=dict(figures.summary(report))["Hypotheses"] + "."
        if report.feedback.by_category
        else "",
    )
    parts.append(
        f"<footer>SRE Copilot · tenant {escape(report.tenant_id)} · made for "
        f"{escape(iso(report.at))}</footer></body></html>"
    )
    return "\n".join(parts)


def _section(
    heading: str,
    missing: Iterable[str],
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    empty: str,
    intro: str = "",
) -> list[str]:
    out = [f"<h2>{escape(heading)}</h2>"]
    out += [f'<p class="missing">Missing: {escape(reason)}</p>' for reason in missing]
    if intro:
        out.append(f"<p>{escape(intro)}</p>")
    if not rows:
        out.append(f"<p>{escape(empty)}</p>")
        return out
    numeric = [name in NUMERIC for name in header]
    out.append("<table><thead><tr>")
    out += [f"<th>{escape(name)}</th>" for name in header]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = (
            f'<td class="num">{escape(v)}</td>' if n else f"<td>{escape(v)}</td>"
            for v, n in zip(row, numeric, strict=True)
        )
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return out


def _chart(png: bytes | None, alt: str) -> list[str]:
    if png is None:
        return []
    data = base64.b64encode(png).decode("ascii")
    return [f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">']
