"""Changes shortly before the incident: the first thing an on-call engineer asks about."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta

from shared.models.analysis import ChangeRecord
from shared.models.change import ChangeEvent

DEFAULT_LOOKBACK = timedelta(hours=2)


def change_id(change: ChangeEvent) -> str:
    """The change's own id, or a stable one from what it is (bundles carry none)."""
    if change.id:
        return change.id
    digest = hashlib.sha256(
        f"{change.kind}|{change.service}|{change.at.isoformat()}|{change.version}".encode()
    ).hexdigest()
    return f"chg-{digest[:10]}"


def recent_changes(
    changes: Iterable[ChangeEvent],
    *,
    onset: datetime,
    now: datetime,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> list[ChangeRecord]:
    """Changes from ``lookback`` before the first alert up to ``now``, oldest first.

    ``minutes_before_onset`` is positive for changes before the first alert; a
    change after it is kept (negative) because it may be a mitigation in flight.
    """
    records = [
        ChangeRecord(
            id=change_id(c),
            kind=c.kind.value,
            service=c.service,
            at=c.at,
            version=c.version,
            previous_version=c.previous_version,
            description=c.description,
            author=c.author,
            minutes_before_onset=round((onset - c.at).total_seconds() / 60.0, 1),
        )
        for c in changes
        if onset - lookback <= c.at <= now
    ]
    return sorted(records, key=lambda r: (r.at, r.service, r.id))
