"""The weekly capacity and trend report: what a tenant's week looked like, and what is coming.

``week`` says which seven days a report covers and when it is due in the
tenant's time zone; ``gather`` reads every source into a ``WeeklyReport``
value (partial, with the reason, when a source is absent); ``text``,
``html``, ``charts`` and ``blocks`` render it for the terminal, a
self-contained HTML file and Slack; ``deliver`` is what the weekly timer runs.
"""
