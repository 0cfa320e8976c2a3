"""An in-process transport with no I/O: the real contract, for tests.

Jobs live in this process only, so a worker must run in the same process:
:func:`django_jobqueue.testing.work` drains it.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from ..coordination import Guard, Taken
from ..coordination.memory import MemoryCoordination
from .base import (
    JOB_STATES,
    DelayedJob,
    FoundJob,
    PushItem,
    QueueSize,
    Reserved,
    Transport,
    WorkerInfo,
    check_guard_scope,
)

_stores: dict[str, _Store] = {}
_stores_lock = threading.Lock()


@dataclass
class _Entry:
    item_id: str
    queue: str
    payload: str
    priority: int
    attempts: int = 0
    available_at: float = 0.0
    lease_until: float | None = None
    token: str | None = None
    started: bool = False
    ready_since: float = 0.0


class _Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[str, _Entry] = {}
        self.ready: dict[str, list[tuple[int, int, str]]] = {}
        self.seq = itertools.count()
        self.cond = threading.Condition(self.lock)
        # name -> (entry, expires at): the worker registry, wall-clock epoch seconds.
        self.workers: dict[str, tuple[WorkerInfo, float]] = {}


class MemoryTransport(Transport):
    """Jobs in a dict guarded by a lock; shared by every transport instance of one name."""

    shareable_between_processes = False
    poll_interval = 0.01
    reports_oldest_age = True
    keeps_worker_registry = True
    finds_jobs = True

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        super().__init__(name, options)
        with _stores_lock:
            self._store = _stores.setdefault(name, _Store())

    def _make_ready(self, entry: _Entry, since: float | None = None, first: bool = False) -> None:
        entry.ready_since = time.monotonic() if since is None else since
        heap = self._store.ready.setdefault(entry.queue, [])
        # First in line: ahead of every job of its priority (arrival numbers start at 0).
        order = -1 if first else next(self._store.seq)
        heapq.heappush(heap, (-entry.priority, order, entry.item_id))

    def _promote_due(self, now: float) -> None:
        for entry in self._store.entries.values():
            if entry.lease_until is None and entry.available_at and entry.available_at <= now:
                due, entry.available_at = entry.available_at, 0.0
                self._make_ready(entry, since=due)

    def push_many(self, items: Sequence[PushItem]) -> None:
        now = time.monotonic()
        with self._store.cond:
            for item in items:
                entry = _Entry(item.id, item.queue, item.payload, item.priority)
                self._store.entries[item.id] = entry
                if item.delay > 0:
                    entry.available_at = now + item.delay
                else:
                    self._make_ready(entry)
            self._store.cond.notify_all()

    @cached_property
    def coordination(self) -> MemoryCoordination:  # type: ignore[override]
        return MemoryCoordination(self.name)

    def push_guarded(self, item: PushItem, *guards: Guard) -> Taken:
        check_guard_scope(item, guards)
        with self.coordination.lock:
            refused = self.coordination.refusal(guards)
            if refused is not None:
                return refused
            self.push_many([item])  # first: a push that fails leaves the guards as they were
            return self.coordination.take_all(guards)

    def reserve_from(
        self, queue: str, count: int, lease: float, token: str, run: int | None = None,
        *, prefetch_lease: float | None = None,
    ) -> list[Reserved]:
        now = time.monotonic()
        run = count if run is None else run
        taken: list[Reserved] = []
        with self._store.lock:
            self._promote_due(now)
            heap = self._store.ready.get(queue, [])
            while heap and len(taken) < count:
                _, _, item_id = heapq.heappop(heap)
                entry = self._store.entries.get(item_id)
                if entry is None or entry.lease_until is not None or entry.available_at:
                    continue
                entry.started = len(taken) < run
                held_for = lease if entry.started or prefetch_lease is None else prefetch_lease
                taken.append(self._lease(entry, now, held_for, token))
        return taken

    def mark_started(self, jobs: Sequence[Reserved], lease: float | None = None) -> None:
        now = time.monotonic()
        with self._store.lock:
            for job in jobs:
                entry = self._owned(job)
                if entry is not None:
                    entry.started = True
                    if lease is not None:
                        entry.lease_until = now + lease

    def requeue_expired(self, queues: Sequence[str]) -> int:
        now = time.monotonic()
        with self._store.cond:
            expired = [
                e for e in self._store.entries.values()
                if e.queue in queues and not e.started and e.lease_until is not None
                and e.lease_until <= now
            ]
            for entry in expired:
                self._requeue(entry)
            if expired:
                self._store.cond.notify_all()
            return len(expired)

    def _requeue(self, entry: _Entry) -> None:
        """A prefetched job whose lease ran out: back first in line, its attempt taken back."""
        entry.attempts = max(entry.attempts - 1, 0)
        entry.lease_until = entry.token = None
        self._make_ready(entry, first=True)

    def _lease(self, entry: _Entry, now: float, lease: float, token: str) -> Reserved:
        entry.attempts += 1
        entry.lease_until = now + lease
        entry.token = token
        return Reserved(
            entry.item_id, entry.queue, entry.payload, entry.attempts, entry.item_id, token
        )

    def renew(self, jobs: Sequence[Reserved], lease: float) -> list[Reserved]:
        now = time.monotonic()
        lost = []
        with self._store.lock:
            for job in jobs:
                entry = self._store.entries.get(job.receipt)
                if entry is None or entry.token != job.token:
                    lost.append(job)
                else:
                    entry.lease_until = now + lease
        return lost

    def _owned(self, job: Reserved) -> _Entry | None:
        entry = self._store.entries.get(job.receipt)
        return entry if entry is not None and entry.token == job.token else None

    def ack(self, job: Reserved) -> bool:
        with self._store.lock:
            if self._owned(job) is None:
                return False
            del self._store.entries[job.receipt]
            return True

    def release(
        self, job: Reserved, delay: float, payload: str | None = None, undo_attempt: bool = False
    ) -> bool:
        with self._store.cond:
            entry = self._owned(job)
            if entry is None:
                return False
            if undo_attempt:
                entry.attempts = max(entry.attempts - 1, 0)
            entry.lease_until = entry.token = None
            entry.started = False
            if payload is not None:
                entry.payload = payload
            if delay > 0:
                entry.available_at = time.monotonic() + delay
            else:
                entry.available_at = 0.0
                self._make_ready(entry)
            self._store.cond.notify_all()
            return True

    def collect_from(self, queue: str, limit: int, lease: float, token: str) -> list[Reserved]:
        now = time.monotonic()
        with self._store.lock:
            expired = [
                e
                for e in self._store.entries.values()
                if e.queue == queue and e.lease_until is not None and e.lease_until <= now
            ][:limit]
            # Collection takes over the lease without counting a new attempt; a prefetched
            # job that never started goes back with its attempt taken back.
            result = []
            for entry in expired:
                if not entry.started:
                    self._requeue(entry)
                    continue
                entry.lease_until, entry.token = now + lease, token
                result.append(
                    Reserved(
                        entry.item_id, entry.queue, entry.payload, entry.attempts,
                        entry.item_id, token,
                    )
                )
            return result

    def queue_names(self) -> list[str]:
        with self._store.lock:
            return sorted({entry.queue for entry in self._store.entries.values()})

    def upcoming(self, queue: str, limit: int) -> list[DelayedJob]:
        now = time.monotonic()
        with self._store.lock:
            waiting = sorted(
                (entry.available_at, entry.item_id, entry.payload)
                for entry in self._store.entries.values()
                if entry.queue == queue and entry.lease_until is None and entry.available_at
            )
        return [DelayedJob(job_id, payload, due - now) for due, job_id, payload in waiting[:limit]]

    def find(self, job_id: str, queues: Sequence[str]) -> FoundJob | None:
        now = time.monotonic()
        with self._store.lock:
            entry = self._store.entries.get(job_id)
            return self._found(entry, now) if entry and entry.queue in queues else None

    def jobs(self, queue: str, limit: int, offset: int = 0) -> list[FoundJob]:
        now = time.monotonic()
        with self._store.lock:
            found = [(self._found(entry, now), entry) for entry in self._store.entries.values()
                     if entry.queue == queue]
            # Ready jobs in the heap's order (priority, then arrival); one that fell due
            # and is not in the heap yet goes in after them.
            line = {item_id: (prio, order) for prio, order, item_id in
                    self._store.ready.get(queue, [])}
        found.sort(key=lambda pair: (
            JOB_STATES.index(pair[0].state), line.get(pair[1].item_id, (math.inf, 0)),
            pair[1].available_at, pair[1].item_id))
        return [job for job, _ in found[offset:offset + limit]]

    def remove(self, job_id: str, queue: str) -> str | None:
        with self._store.lock:
            entry = self._store.entries.get(job_id)
            if entry is None or entry.queue != queue or entry.lease_until is not None:
                return None
            # Its heap entry stays: reserve_from skips ids that are no longer stored.
            del self._store.entries[job_id]
            return entry.payload

    @staticmethod
    def _found(entry: _Entry, now: float) -> FoundJob:
        if entry.lease_until is not None:
            state = "running" if entry.started else "prefetched"
        else:
            state = "delayed" if entry.available_at > now else "queued"
        due_in = entry.available_at - now if state == "delayed" else None
        return FoundJob(entry.item_id, entry.queue, entry.payload, state, due_in)

    def size(self, queue: str) -> QueueSize:
        ready = delayed = reserved = 0
        with self._store.lock:
            for entry in self._store.entries.values():
                if entry.queue != queue:
                    continue
                if entry.lease_until is not None:
                    reserved += 1
                elif entry.available_at:
                    delayed += 1
                else:
                    ready += 1
        return QueueSize(ready, delayed, reserved)

    def oldest_ready_age(self, queue: str) -> float | None:
        now = time.monotonic()
        with self._store.lock:
            since = [
                entry.available_at or entry.ready_since
                for entry in self._store.entries.values()
                if entry.queue == queue and entry.lease_until is None
                and (not entry.available_at or entry.available_at <= now)
            ]
        return max(now - min(since), 0.0) if since else None

    def register_worker(self, info: WorkerInfo, ttl: float) -> None:
        now = time.time()
        with self._store.lock:
            self._store.workers[info.name] = (replace(info, last_heartbeat=now), now + ttl)

    def unregister_worker(self, name: str) -> None:
        with self._store.lock:
            self._store.workers.pop(name, None)

    def workers(self) -> list[WorkerInfo]:
        now = time.time()
        with self._store.lock:
            live = [info for info, expires in self._store.workers.values() if expires > now]
        return sorted((replace(info, heartbeat_age=max(now - info.last_heartbeat, 0.0))
                       for info in live), key=lambda info: info.name)

    def prune_workers(self) -> int:
        now = time.time()
        with self._store.lock:
            dead = [name for name, (_, expires) in self._store.workers.items() if expires <= now]
            for name in dead:
                del self._store.workers[name]
        return len(dead)

    def clear(self, queue: str) -> int:
        with self._store.lock:
            doomed = [k for k, e in self._store.entries.items() if e.queue == queue]
            for key in doomed:
                del self._store.entries[key]
            self._store.ready.pop(queue, None)
            return len(doomed)

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        with self._store.cond:
            self._store.cond.wait(timeout)

    def expire_leases(self) -> None:
        """Make every lease run out now (tests of abandoned-job collection)."""
        with self._store.lock:
            for entry in self._store.entries.values():
                if entry.lease_until is not None:
                    entry.lease_until = 0.0
