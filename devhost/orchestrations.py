"""Durable orchestrations on the local host.

Each instance lives in the store (``Container.ORCHESTRATIONS``, partition
``_taskhub:<hub>``, laid out by ``archive``): its history, an inbox of results
and raised events the orchestrator has not seen yet (each goes into history
with the next episode, whether or not anything waits for it, as the Durable
extension does), and the work in flight (activities, timers, sub-orchestrations). A
restarted host reads the active instances back and carries on.

An *episode* replays the orchestrator over its history plus the inbox, with
the SDK's own replay engine, and records the actions it yields: activities go
to a thread pool, timers to a heap the clock drains, sub-orchestrations start
as instances of their own. Episodes of one instance never overlap; different
instances run side by side on a small pool.

The engine is in three parts: ``instances`` (the documents and their
statuses), ``planning`` (turning what a replay yielded into history, work and
timers, numbered as the SDK expects) and this module (lifecycle, episodes,
delivery of results and events, timers, the client's operations).

The host keeps active instances in memory and writes each change through, so
it must be the only host serving its task hub on that store. Starts, raised
events and every episode are written at once; an activity's result or a fired
timer is written with the episode that consumes it (or at shutdown). After a
crash in between, the resumed instance still lists that work as pending and
runs it again: activities are at-least-once, as in Durable Functions.
"""

from __future__ import annotations

import copy
import heapq
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from devhost import history as h
from devhost.archive import InstanceArchive, Saved
from devhost.catalog import FunctionCatalog, Invocable
from devhost.clock import Clock
from devhost.history import EventType
from devhost.instances import (
    ACTIVE,
    TERMINAL,
    Instance,
    Outcome,
    PurgeOutcome,
    StartRejected,
    WorkTracker,
    json_value,
    new_instance,
    next_execution,
    now_text,
    selected,
    status_payload,
)
from devhost.invoke import Invoker
from devhost.planning import Plan, next_batch, plan_leaves, retry_step, verdict
from devhost.worker import FunctionFailed, bridge
from shared.ports.store import Document, DocumentStore

log = logging.getLogger(__name__)


class OrchestrationEngine:
    """Runs orchestrations and activities; every method is safe from any thread."""

    def __init__(
        self,
        catalog: FunctionCatalog,
        store: DocumentStore,
        clock: Clock,
        invoker: Invoker,
        *,
        task_hub: str,
        workers: int = 2,
        activity_workers: int = 8,
        tracker: WorkTracker | None = None,
    ) -> None:
        self._catalog = catalog
        self._clock = clock
        self._invoker = invoker
        self.task_hub = task_hub
        self.partition = f"_taskhub:{task_hub}"
        self._archive = InstanceArchive(store, self.partition)
        self.tracker = tracker or WorkTracker()
        self._instances: dict[str, Instance] = {}
        self._map_lock = threading.Lock()
        self._sched_lock = threading.Lock()
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._timers: list[tuple[datetime, str, str, int]] = []
        self._timers_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._in_flight = 0
        self._in_flight_cond = threading.Condition()
        self._episodes = ThreadPoolExecutor(workers, thread_name_prefix="devhost-orchestrator")
        self._activities = ThreadPoolExecutor(
            activity_workers, thread_name_prefix="devhost-activity"
        )
        self._stopping = False
        self.on_timer_scheduled: Callable[[], None] = lambda: None

    # -- lifecycle -----------------------------------------------------------------

    def recover(self) -> int:
        """Load every unfinished instance of this task hub and resume its work."""
        docs: list[Document] = []
        for state in self._archive.active():
            doc, saved = self._archive.load(state)
            docs.append(doc)
            with self._map_lock:
                self._instances[doc["id"]] = Instance.of(doc, saved)
        for doc in docs:
            iid = doc["id"]
            inst = self._instances[iid]
            # Copies: a resumed activity can finish and change the document meanwhile.
            with inst.lock:
                execution_id = doc["executionId"]
                timers = list(doc["timers"].items())
                activities = list(doc["activities"].items())
                children = list(doc["children"].items())
                runnable = not doc["history"] or bool(doc["inbox"])
            for timer_id, timer in timers:
                self._add_timer(h.parse_time(timer["fireAt"]), iid, execution_id, int(timer_id))
            for task_id, work in activities:
                self._dispatch_activity(iid, execution_id, int(task_id), work)
            for child_id, child in children:
                self._recover_child(iid, execution_id, child_id, child)
            if runnable:
                self._schedule(iid)
        if docs:
            log.info(
                "resumed %d orchestration instance(s) of task hub %s", len(docs), self.task_hub
            )
        return len(docs)

    def shutdown(self, grace: float = 10.0) -> None:
        """Stop taking work, let running work finish (up to ``grace`` seconds), write the rest.

        Queued work is dropped: it is in the store and the next host picks it up.
        """
        with self._sched_lock:
            self._stopping = True
        self._episodes.shutdown(wait=False, cancel_futures=True)
        self._activities.shutdown(wait=False, cancel_futures=True)
        with self._in_flight_cond:
            if not self._in_flight_cond.wait_for(lambda: self._in_flight == 0, grace):
                log.warning("stopping with %d orchestration task(s) still running", self._in_flight)
        with self._map_lock:
            instances = list(self._instances.values())
        for inst in instances:
            with inst.lock:
                if inst.dirty:
                    self._persist(inst)

    def wait_for_idle(self, timeout: float) -> bool:
        return self.tracker.wait_idle(timeout)

    # -- client operations ---------------------------------------------------------

    def start(
        self,
        name: str,
        instance_id: str | None,
        input_text: str | None,
        version: str | None = None,
        *,
        parent: dict[str, Any] | None = None,
    ) -> str:
        """Create an instance (replacing a finished one of the same id) and queue it."""
        if name not in self._catalog.orchestrators:
            raise StartRejected(
                400,
                f"The function '{name}' doesn't exist, is disabled, "
                "or is not an orchestrator function.",
            )
        iid = instance_id or uuid.uuid4().hex
        now = self._clock.now()
        doc = new_instance(
            iid,
            partition=self.partition,
            name=name,
            input_text=input_text,
            version=version,
            execution_id=uuid.uuid4().hex,
            parent=parent,
            now=now,
        )
        inst = Instance(doc)
        with self._map_lock:
            existing = self._instances.get(iid)
            if existing is not None and existing.doc["runtimeStatus"] in ACTIVE:
                status = existing.doc["runtimeStatus"]
                raise StartRejected(
                    409, f"An Orchestration instance with the status {status} already exists."
                )
            self._instances[iid] = inst
        with inst.lock:
            self._persist(inst)
        self._schedule(iid)
        return iid

    def status(
        self, instance_id: str, *, show_history: bool = False, show_input: bool = True
    ) -> dict[str, Any] | None:
        inst = self._instances.get(instance_id)
        if inst is not None:
            with inst.lock:
                return status_payload(inst.doc, show_history=show_history, show_input=show_input)
        doc = self._archive.state(instance_id)
        if doc is None:
            return None
        if show_history:
            doc = self._archive.load(doc)[0]
        return status_payload(doc, show_history=show_history, show_input=show_input)

    def raised_events(self, instance_id: str) -> list[dict[str, Any]] | None:
        """Events raised to the current execution: delivered, queued, or kept for a later wait."""
        inst = self._instances.get(instance_id)
        if inst is not None:
            with inst.lock:
                doc = inst.doc
                delivered = [e for e in doc["history"] if e["EventType"] == EventType.EVENT_RAISED]
                waiting = list(doc["inbox"])
        else:
            state = self._archive.state(instance_id)
            if state is None:
                return None
            loaded = self._archive.load(state)[0]
            delivered = [e for e in loaded["history"] if e["EventType"] == EventType.EVENT_RAISED]
            waiting = [*loaded.get("inbox", []), *loaded.get("buffered", [])]
        return [
            {"name": event["Name"], "input": json_value(event.get("Input")), "delivered": seen}
            for seen, events in ((True, delivered), (False, waiting))
            for event in events
            if event["EventType"] == EventType.EVENT_RAISED
        ]

    def statuses(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        runtime_statuses: Iterable[str] = (),
        prefix: str | None = None,
    ) -> list[dict[str, Any]]:
        wanted = set(runtime_statuses)
        docs = self._archive.states()
        return [
            status_payload(doc, show_input=False)
            for doc in docs
            if selected(doc, created_from, created_to, wanted, prefix)
        ]

    def raise_event(self, instance_id: str, name: str, input_text: str | None) -> Outcome:
        """Append the event for the next episode, as the Durable extension does.

        Whether anything waits for it is the orchestrator's business: the SDK
        parks an event nobody waits for (one slot per name), and an event a
        later continue-as-new never saw is not carried over for it.
        """
        inst = self._instances.get(instance_id)
        if inst is None:
            return "missing" if self._archive.state(instance_id) is None else "gone"
        with inst.lock:
            doc = inst.doc
            if not self._is_current(instance_id, inst) or doc["runtimeStatus"] not in ACTIVE:
                return "gone"
            now = self._clock.now()
            event = h.event_raised(now, name=name, input_text=input_text)
            doc["inbox"].append(event)
            doc["lastUpdatedTime"] = now_text(now)
            self._persist(inst)
        self._schedule(instance_id)
        return "accepted"

    def terminate(self, instance_id: str, reason: str | None) -> Outcome:
        inst = self._instances.get(instance_id)
        if inst is None:
            return "missing" if self._archive.state(instance_id) is None else "gone"
        with inst.lock:
            doc = inst.doc
            if not self._is_current(instance_id, inst) or doc["runtimeStatus"] not in ACTIVE:
                return "gone"
            now = self._clock.now()
            doc["history"].append(h.execution_terminated(now, reason=reason))
            self._finish(doc, "Terminated", reason, now)
            self._persist(inst)
            finished = dict(doc)
        self._retire(instance_id, inst, finished)
        return "accepted"

    def purge(self, instance_id: str) -> PurgeOutcome:
        if instance_id in self._instances:
            return "active"
        doc = self._archive.state(instance_id)
        if doc is None:
            return "missing"
        if doc.get("active"):
            return "active"
        with self._write_lock:
            self._archive.delete(instance_id)
        return "deleted"

    def purge_many(
        self,
        *,
        created_from: datetime,
        created_to: datetime | None,
        runtime_statuses: Iterable[str] = (),
    ) -> int:
        wanted = set(runtime_statuses) or set(TERMINAL)
        deleted = 0
        for doc in self._archive.states():
            if not doc.get("active") and selected(
                doc, created_from, created_to, wanted & TERMINAL, None
            ):
                with self._write_lock:
                    deleted += int(self._archive.delete(doc["id"]))
        return deleted

    # -- durable timers ------------------------------------------------------------

    def next_timer_due(self) -> datetime | None:
        with self._timers_lock:
            return self._timers[0][0] if self._timers else None

    def fire_due_timers(self, now: datetime) -> int:
        """Turn every timer due by ``now`` into a TimerFired event."""
        due: list[tuple[datetime, str, str, int]] = []
        with self._timers_lock:
            while self._timers and self._timers[0][0] <= now:
                due.append(heapq.heappop(self._timers))
        fired = 0
        for fire_at, iid, execution_id, timer_id in due:
            inst = self._instances.get(iid)
            if inst is None:
                continue
            with inst.lock:
                doc = inst.doc
                if doc["executionId"] != execution_id or doc["runtimeStatus"] not in ACTIVE:
                    continue
                if doc["timers"].pop(str(timer_id), None) is None:
                    continue  # cancelled
                doc["inbox"].append(h.timer_fired(now, timer_id, fire_at=fire_at))
                inst.dirty = True
            fired += 1
            self._schedule(iid)
        return fired

    def _add_timer(self, fire_at: datetime, iid: str, execution_id: str, timer_id: int) -> None:
        with self._timers_lock:
            heapq.heappush(self._timers, (fire_at, iid, execution_id, timer_id))
        self.on_timer_scheduled()

    # -- scheduling ----------------------------------------------------------------

    def _schedule(self, iid: str) -> None:
        with self._sched_lock:
            if self._stopping:
                return
            if iid in self._running:
                self._again.add(iid)
                return
            self._running.add(iid)
            self.tracker.begin()
        try:
            self._episodes.submit(self._drive, iid)
        except RuntimeError:  # the pool has shut down; the inbox stays in the store
            with self._sched_lock:
                self._running.discard(iid)
            self.tracker.end()

    def _drive(self, iid: str) -> None:
        self._started()
        try:
            while True:
                with self._sched_lock:
                    # A drive dequeued as shutdown began must not write: shutdown may
                    # have found nothing in flight yet, and another host may own it next.
                    if self._stopping:
                        self._again.discard(iid)
                        self._running.discard(iid)
                        return
                more = False
                try:
                    more = self._episode(iid)
                except Exception:
                    log.exception("orchestration %s: episode failed", iid)
                with self._sched_lock:
                    if not self._stopping and (more or iid in self._again):
                        self._again.discard(iid)
                        continue
                    self._again.discard(iid)
                    self._running.discard(iid)
                    return
        finally:
            self._finished()
            self.tracker.end()

    # -- one episode ---------------------------------------------------------------

    def _episode(self, iid: str) -> bool:
        """Replay once over the history and the next inbox batch; True if more is waiting."""
        inst = self._instances.get(iid)
        if inst is None:
            return False
        with inst.lock:
            doc = inst.doc
            if doc["runtimeStatus"] not in ACTIVE:
                return False
            first = not doc["history"]
            retries: dict[str, Any] = copy.deepcopy(doc["retries"])
            batch = [] if first else next_batch(doc["inbox"], retries)
            if not first and not batch:
                return False
            past = list(doc["history"])
            known = list(doc["leaves"])
            execution_id = doc["executionId"]
            name = doc["name"]
            input_text = doc["input"]
            parent = doc.get("parent")
            plan = Plan(next_id=doc["nextEventId"])
            if first:
                doc["runtimeStatus"] = "Running"

        now = self._clock.now()
        new_events = [h.orchestrator_started(now)]
        if first:
            new_events.append(
                h.execution_started(
                    now,
                    name=name,
                    input_text=input_text,
                    version=doc.get("version"),
                    instance_id=iid,
                    execution_id=execution_id,
                    parent_instance_id=None if parent is None else parent["instanceId"],
                )
            )
        new_events.extend(batch)
        for event in batch:
            retry_step(iid, event, plan, retries, now)

        outcome = self._replay(iid, name, past, new_events, input_text, parent)
        if outcome.error is None:
            plan_leaves(iid, outcome, known, plan, retries, now)
        status, output = verdict(outcome, plan)

        with inst.lock:
            doc = inst.doc
            if (
                not self._is_current(iid, inst)
                or doc["executionId"] != execution_id
                or doc["runtimeStatus"] not in ACTIVE
            ):
                return False
            del doc["inbox"][: len(batch)]
            doc["history"].extend(new_events)
            doc["history"].extend(plan.events)
            doc["history"].append(h.orchestrator_completed(now))
            doc["nextEventId"] = plan.next_id
            doc["leaves"].extend(plan.leaves)
            doc["retries"] = retries
            doc["activities"].update(plan.activities)
            doc["timers"].update(plan.timers)
            doc["children"].update(plan.children)
            for timer_id in plan.cancelled:
                doc["timers"].pop(timer_id, None)
            doc["customStatus"] = outcome.custom_status
            doc["lastUpdatedTime"] = now_text(now)
            finished: Document | None = None
            ended_execution: str | None = None
            if status in TERMINAL:
                doc["history"].append(
                    h.execution_completed(now, status=status, result=json.dumps(output))
                )
                self._finish(doc, status, output, now)
                finished = dict(doc)
            elif plan.continues:
                ended_execution = execution_id
                self._continue_as_new(inst, plan.continue_input)
            else:
                doc["runtimeStatus"] = "Running"
            self._persist(inst)
            if ended_execution is not None:
                with self._write_lock:
                    self._archive.drop_execution(iid, ended_execution)
            more = doc["runtimeStatus"] in ACTIVE and (not doc["history"] or bool(doc["inbox"]))
            execution_id = doc["executionId"]

        if finished is not None:
            self._retire(iid, inst, finished)
            return False
        if plan.continues:
            return more
        for task_id, work in plan.activities.items():
            self._dispatch_activity(iid, execution_id, int(task_id), work)
        for timer_id, timer in plan.timers.items():
            if timer_id not in plan.cancelled:
                self._add_timer(h.parse_time(timer["fireAt"]), iid, execution_id, int(timer_id))
        for child_id, child in plan.children.items():
            self._start_child(iid, execution_id, child_id, child)
        return more

    def _replay(
        self,
        iid: str,
        name: str,
        past: list[h.Event],
        new_events: list[h.Event],
        input_text: str | None,
        parent: dict[str, Any] | None,
    ) -> h.OrchestratorOutcome:
        orchestrator = self._catalog.orchestrators.get(name)
        if orchestrator is None:
            return h.OrchestratorOutcome(
                done=True,
                leaves=[],
                output=None,
                error=f"The orchestrator function '{name}' is not in this function app.",
                custom_status=None,
            )
        payload = h.context_json(
            past,
            new_events,
            instance_id=iid,
            input_text=input_text,
            parent_instance_id=None if parent is None else parent["instanceId"],
        )
        try:
            state = self._invoker.call_blocking(orchestrator, bridge.typed_string(payload))
            return h.read_outcome(bridge.text_of(state) or "")
        except FunctionFailed as exc:  # the SDK reports orchestrator failures this way
            log.info(
                "orchestration %s failed: %s", iid, str(exc).partition(h.OUT_OF_PROC_MARKER)[0]
            )
            return h.read_failure(exc)

    # -- finishing -----------------------------------------------------------------

    def _finish(self, doc: Document, status: str, output: Any, now: datetime) -> None:
        doc["runtimeStatus"] = status
        doc["output"] = output
        doc["active"] = False
        doc["lastUpdatedTime"] = now_text(now)
        doc["inbox"] = []
        doc["activities"] = {}
        doc["timers"] = {}
        doc["retries"] = {}

    def _retire(self, iid: str, inst: Instance, finished: Document) -> None:
        """Forget a finished instance (the store keeps it) and tell its parent."""
        with self._map_lock:
            if self._instances.get(iid) is inst:
                del self._instances[iid]
        parent = finished.get("parent")
        if parent is None:
            return
        now = self._clock.now()
        task_id = int(parent["taskId"])
        if finished["runtimeStatus"] == "Completed":
            event = h.sub_orchestration_completed(
                now, task_id, result=json.dumps(finished.get("output"))
            )
        else:
            reason = str(finished.get("output") or finished["runtimeStatus"])
            event = h.sub_orchestration_failed(
                now, task_id, reason=reason, details=finished["runtimeStatus"]
            )
        self._deliver(parent["instanceId"], parent["executionId"], event, ("children", iid))

    def _continue_as_new(self, inst: Instance, input_text: str | None) -> None:
        """Start a fresh execution (see ``instances.next_execution``)."""
        next_execution(inst.doc, execution_id=uuid.uuid4().hex, input_text=input_text)
        inst.saved = Saved()

    # -- work outside the orchestrator --------------------------------------------

    def _dispatch_activity(
        self, iid: str, execution_id: str, task_id: int, work: dict[str, Any]
    ) -> None:
        with self._sched_lock:
            if self._stopping:
                return
            self.tracker.begin()
        try:
            self._activities.submit(self._run_activity, iid, execution_id, task_id, work)
        except RuntimeError:
            self.tracker.end()

    def _run_activity(
        self, iid: str, execution_id: str, task_id: int, work: dict[str, Any]
    ) -> None:
        self._started()
        try:
            name = work["name"]
            call = self._catalog.activities.get(name)
            if call is None:
                event = h.task_failed(
                    self._clock.now(),
                    task_id,
                    reason=f"The activity function '{name}' is not in this function app.",
                    details=None,
                )
            else:
                event = self._activity_result(iid, call, task_id, work.get("input"))
            self._deliver(iid, execution_id, event, ("activities", str(task_id)))
        finally:
            self._finished()
            self.tracker.end()

    def _activity_result(
        self, iid: str, call: Invocable, task_id: int, input_text: str | None
    ) -> h.Event:
        """Run an activity through the worker, which (de)serialises its input and result."""
        try:
            text = self._invoker.call_json(call, input_text)
            return h.task_completed(self._clock.now(), task_id, result=text)
        except FunctionFailed as exc:  # the worker's message: "<ExceptionType>: <text>"
            log.warning("activity %s of orchestration %s failed: %s", call.name, iid, exc)
            return h.task_failed(self._clock.now(), task_id, reason=str(exc), details=None)
        except Exception as exc:  # the host itself could not invoke it
            log.exception("activity %s of orchestration %s could not run", call.name, iid)
            return h.task_failed(
                self._clock.now(), task_id, reason=f"{type(exc).__name__}: {exc}", details=None
            )

    def _start_child(
        self, parent_id: str, execution_id: str, child_id: str, child: dict[str, Any]
    ) -> None:
        parent = {"instanceId": parent_id, "executionId": execution_id, "taskId": child["taskId"]}
        try:
            self.start(child["name"], child_id, child["input"], child.get("version"), parent=parent)
        except StartRejected as exc:
            event = h.sub_orchestration_failed(
                self._clock.now(), int(child["taskId"]), reason=exc.message, details=None
            )
            self._deliver(parent_id, execution_id, event, ("children", child_id))

    def _recover_child(
        self, parent_id: str, execution_id: str, child_id: str, child: dict[str, Any]
    ) -> None:
        if child_id in self._instances:
            return
        doc = self._archive.state(child_id)
        if doc is None or (doc.get("parent") or {}).get("executionId") != execution_id:
            self._start_child(parent_id, execution_id, child_id, child)
        elif not doc.get("active"):
            self._retire(child_id, Instance(doc), doc)

    def _deliver(
        self, iid: str, execution_id: str, event: h.Event, pending: tuple[str, str]
    ) -> None:
        """Put a result in the inbox if the execution still waits for it."""
        inst = self._instances.get(iid)
        if inst is None:
            return
        bucket, key = pending
        with inst.lock:
            doc = inst.doc
            if doc["executionId"] != execution_id or doc["runtimeStatus"] not in ACTIVE:
                return
            if doc[bucket].pop(key, None) is None:
                return
            doc["inbox"].append(event)
            inst.dirty = True
        self._schedule(iid)

    # -- helpers -------------------------------------------------------------------

    def _started(self) -> None:
        with self._in_flight_cond:
            self._in_flight += 1

    def _finished(self) -> None:
        with self._in_flight_cond:
            self._in_flight -= 1
            self._in_flight_cond.notify_all()

    def _is_current(self, iid: str, inst: Instance) -> bool:
        return self._instances.get(iid) is inst

    def _persist(self, inst: Instance) -> None:
        # One writer at a time: queued threads wake as soon as the lock frees,
        # where SQLite's own busy handler would make them sleep for milliseconds.
        with self._write_lock:
            self._archive.save(inst.doc, inst.saved)
        inst.dirty = False
