"""The runbook search port.

One question: which runbooks fit this hypothesis? A query carries free text
(the hypothesis in words), the root-cause categories it is about and the
services involved; an index answers with scored runbooks, best first, each
with its categories and the remediation actions its front matter allows, so a
proposal needs no runbook folder where the index is the only copy (Azure).

Adapters: an in-process TF-IDF index (embedded) and Azure AI Search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.runbooks.loader import RunbookAction


@dataclass(frozen=True, slots=True)
class RunbookQuery:
    text: str
    categories: Sequence[str] = ()
    services: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class RunbookHit:
    id: str
    title: str
    score: float
    """In [0, 1]; comparable across queries to the same index."""
    categories: tuple[str, ...] = ()
    actions: tuple[RunbookAction, ...] | None = None
    """Validated as the loader validates front matter; an invalid one is dropped.
    None when the index holds none for the runbook (one made by an older version)."""


class SearchIndex(Protocol):
    def search(self, query: RunbookQuery, *, top: int = 3) -> list[RunbookHit]:
        """The ``top`` best runbooks for the query, best first (ties by id)."""
        ...
