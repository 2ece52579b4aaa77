"""The tenant's audit trail: append-only and hash-chained, so that tampering shows.

``append`` stores a record as the tenant's next one (``seq``, ``prev_hash``,
``hash``), ``record`` makes one from its fields and appends it; ``verify``
walks the chain and names the first record that was edited, deleted,
reordered or cut off; ``export`` reads it oldest first.
``chain`` is the pure core (ids, canonical JSON, the judgement of one record),
``trail`` the part that reads and writes the store.
"""

from __future__ import annotations

from shared.audit.chain import GENESIS, Broken, Reason, VerifyResult
from shared.audit.trail import append, export, record, verify

__all__ = ["GENESIS", "Broken", "Reason", "VerifyResult", "append", "export", "record", "verify"]
