"""Similar past incidents: TF-IDF over what the tenant wrote about them.

Titles, summaries, services and categories of resolved incidents are short
texts in the team's own words; a TF-IDF cosine over them finds "we saw this
before" cheaply and explainably. Service and host names are kept whole
(``orders-api``, ``node-3``) so that they match as names, not as fragments.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from shared.models.analysis import PastIncident, SimilarIncident

TOKEN_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_\-\.]*[A-Za-z0-9]|[A-Za-z0-9]"


def incident_text(past: PastIncident) -> str:
    parts = [past.title, past.summary, past.service or "", past.target or ""]
    if past.category:
        parts += [past.category, past.category.replace("_", " ")]
    return " ".join(p for p in parts if p)


def find_similar(
    history: Sequence[PastIncident], query: str, *, top: int = 3, min_score: float = 0.05
) -> list[SimilarIncident]:
    """The ``top`` past incidents closest to ``query``, best first, ties by id."""
    if not history or not query.strip():
        return []
    vectorizer = TfidfVectorizer(
        token_pattern=TOKEN_PATTERN, lowercase=True, sublinear_tf=True, stop_words="english"
    )
    try:
        docs = vectorizer.fit_transform([incident_text(p) for p in history])
    except ValueError:  # every document empty after stop words
        return []
    scores = np.asarray((docs @ vectorizer.transform([query]).T).todense()).ravel()
    order = sorted(range(len(history)), key=lambda i: (-scores[i], history[i].id))
    return [
        SimilarIncident(
            id=history[i].id,
            score=round(float(min(1.0, scores[i])), 3),
            title=history[i].title,
            category=history[i].category,
            target=history[i].target,
            runbook=history[i].runbook,
        )
        for i in order[:top]
        if scores[i] >= min_score
    ]
