"""Slack ``mrkdwn`` for text the product does not control.

Alert summaries and names, label values, change descriptions, PagerDuty
titles, Claude's hypotheses: anything from a payload or a model is data, and
must not become markup. In ``mrkdwn`` only ``&``, ``<`` and ``>`` are control
characters (``<!channel>`` pings a channel, ``<https://x|text>`` is a link
that shows ``text``), so escaping those three, as Slack documents, is enough.
A bare URL left in the text is shown (and linked) as itself.

Links the product builds from trusted configuration (runbook URLs) go
through ``link``; nothing from a payload does.
"""

from __future__ import annotations


def escape(text: object) -> str:
    """``text`` (made a string) with Slack's three control characters escaped."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A link with a label, for a URL from trusted configuration only.

    The URL cannot close the link early (``|`` and ``>`` are percent-encoded),
    and the label is escaped.
    """
    safe_url = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E")
    return f"<{safe_url.replace('|', '%7C')}|{escape(label)}>"
