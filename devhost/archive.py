"""How orchestration instances are laid out in the document store.

An instance is a state document (``kind: "instance"``, id = instance id)
holding the newest events and leaves itself, plus the older history in
append-only chunks (``kind: "history"``) of at least ``SPILL`` entries, all in
the task hub's partition. A write then costs what changed, not the whole
history: a long-lived instance (an incident that follows every new alert)
would otherwise rewrite hundreds of events for each raised event, while a
short one still takes a single write. A chunk is written before the state
that counts it, so a crash in between leaves an orphan chunk that is ignored
and later overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.ports.store import Container, Document, DocumentStore, Filter

STATE_KIND = "instance"
CHUNK_KIND = "history"
SPILL = 64
"""Events plus leaves kept in the state document before they move to a chunk."""
_CHUNKED = ("history", "leaves")


@dataclass(slots=True)
class Saved:
    """How much of an in-memory instance's history and leaves is already in chunks."""

    events: int = 0
    leaves: int = 0


def chunk_id(instance_id: str, execution_id: str, seq: int) -> str:
    return f"{instance_id}|{execution_id}|{seq:06d}"


class InstanceArchive:
    """Reads and writes instances for one task hub partition."""

    def __init__(self, store: DocumentStore, partition: str) -> None:
        self._store = store
        self._partition = partition

    def save(self, doc: Document, saved: Saved) -> None:
        """Write the state, after moving a long enough tail to a chunk; updates ``saved``."""
        events = doc["history"][saved.events :]
        leaves = doc["leaves"][saved.leaves :]
        if len(events) + len(leaves) >= SPILL:
            seq = doc["chunks"]
            self._store.upsert(
                Container.ORCHESTRATIONS,
                self._partition,
                {
                    "id": chunk_id(doc["id"], doc["executionId"], seq),
                    "kind": CHUNK_KIND,
                    "instanceId": doc["id"],
                    "executionId": doc["executionId"],
                    "seq": seq,
                    "events": events,
                    "leaves": leaves,
                },
            )
            doc["chunks"] = seq + 1
            saved.events = len(doc["history"])
            saved.leaves = len(doc["leaves"])
            events, leaves = [], []
        state = {key: value for key, value in doc.items() if key not in _CHUNKED}
        state["tailEvents"] = events
        state["tailLeaves"] = leaves
        self._store.upsert(Container.ORCHESTRATIONS, self._partition, state)

    def state(self, instance_id: str) -> Document | None:
        """The state document alone (its history incomplete)."""
        doc = self._store.get(Container.ORCHESTRATIONS, self._partition, instance_id)
        if doc is None or doc.get("kind") != STATE_KIND:
            return None
        doc.pop("_etag", None)
        return doc

    def load(self, state: Document) -> tuple[Document, Saved]:
        """The instance with its execution's history and leaves; and what of it is in chunks."""
        chunks = self._store.query(
            Container.ORCHESTRATIONS,
            self._partition,
            [
                Filter("kind", "=", CHUNK_KIND),
                Filter("instanceId", "=", state["id"]),
                Filter("executionId", "=", state["executionId"]),
            ],
            order_by="seq",
        )
        history: list[Document] = []
        leaves: list[Document] = []
        for chunk in chunks:
            if chunk["seq"] < state["chunks"]:
                history.extend(chunk["events"])
                leaves.extend(chunk["leaves"])
        saved = Saved(len(history), len(leaves))
        history.extend(state.get("tailEvents", []))
        leaves.extend(state.get("tailLeaves", []))
        doc = {k: v for k, v in state.items() if k not in ("tailEvents", "tailLeaves")}
        return {**doc, "history": history, "leaves": leaves}, saved

    def active(self) -> list[Document]:
        """State documents of every unfinished instance."""
        states = self._store.query(
            Container.ORCHESTRATIONS,
            self._partition,
            [Filter("kind", "=", STATE_KIND), Filter("active", "=", True)],
        )
        for state in states:
            state.pop("_etag", None)
        return states

    def states(self) -> list[Document]:
        """State documents of every instance, oldest first."""
        return self._store.query(
            Container.ORCHESTRATIONS,
            self._partition,
            [Filter("kind", "=", STATE_KIND)],
            order_by="createdTime",
        )

    def delete(self, instance_id: str) -> bool:
        self._drop_chunks([Filter("instanceId", "=", instance_id)])
        return self._store.delete(Container.ORCHESTRATIONS, self._partition, instance_id)

    def drop_execution(self, instance_id: str, execution_id: str) -> None:
        """Forget the history of an execution that continued as new."""
        self._drop_chunks(
            [Filter("instanceId", "=", instance_id), Filter("executionId", "=", execution_id)]
        )

    def _drop_chunks(self, filters: list[Filter]) -> None:
        chunks = self._store.query(
            Container.ORCHESTRATIONS, self._partition, [Filter("kind", "=", CHUNK_KIND), *filters]
        )
        for chunk in chunks:
            self._store.delete(Container.ORCHESTRATIONS, self._partition, chunk["id"])
