"""The embedded runbook index: category, service and TF-IDF text relevance, in process.

::

    score = 0.55 category match   a runbook for the hypothesis' category (1.0 when
                                  it is the runbook's first, i.e. main, category)
          + 0.15 service match    the runbook names the service, or every service
          + 0.30 text relevance   TF-IDF cosine of the hypothesis text and the runbook
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from shared.ports.search import RunbookHit, RunbookQuery
from shared.runbooks.loader import Runbook

CATEGORY_WEIGHT = 0.55
SERVICE_WEIGHT = 0.15
TEXT_WEIGHT = 0.30
SECONDARY_CATEGORY = 0.85


def _document(runbook: Runbook) -> str:
    categories = " ".join(c.replace("_", " ") for c in runbook.categories)
    return f"{runbook.title} {runbook.title} {categories} {runbook.body}"


class LocalRunbookIndex:
    """``SearchIndex`` over runbooks held in memory."""

    def __init__(self, runbooks: Sequence[Runbook]) -> None:
        self._runbooks = list(runbooks)
        self._vectorizer = TfidfVectorizer(
            lowercase=True, sublinear_tf=True, stop_words="english", token_pattern=r"[a-z0-9]{2,}"
        )
        self._matrix = (
            self._vectorizer.fit_transform([_document(r) for r in self._runbooks])
            if self._runbooks
            else None
        )

    def __len__(self) -> int:
        return len(self._runbooks)

    def search(self, query: RunbookQuery, *, top: int = 3) -> list[RunbookHit]:
        if not self._runbooks or self._matrix is None:
            return []
        text_scores = np.zeros(len(self._runbooks))
        if query.text.strip():
            vector = self._vectorizer.transform([query.text.lower()])
            text_scores = np.asarray((self._matrix @ vector.T).todense()).ravel()
        wanted = list(query.categories)
        scored = []
        for i, runbook in enumerate(self._runbooks):
            category = 0.0
            for position, name in enumerate(runbook.categories):
                if name in wanted:
                    category = max(category, 1.0 if position == 0 else SECONDARY_CATEGORY)
            service = 1.0 if any(runbook.applies_to(s) for s in query.services) else 0.0
            if not query.services:
                service = 1.0 if "*" in runbook.services else 0.0
            value = (
                CATEGORY_WEIGHT * category
                + SERVICE_WEIGHT * service
                + TEXT_WEIGHT * float(min(1.0, text_scores[i]))
            )
            scored.append((value, runbook))
        scored.sort(key=lambda p: (-p[0], p[1].id))
        return [
            RunbookHit(
                id=r.id,
                title=r.title,
                score=round(v, 4),
                categories=r.categories,
                actions=r.actions,
            )
            for v, r in scored[:top]
        ]
