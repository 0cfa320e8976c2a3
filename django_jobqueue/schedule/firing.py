"""The worker's scheduler step: fire the schedule's due entries, each slot exactly once.

Every worker of a connection runs this (``runworker --no-scheduler`` opts out), however
many there are, on any number of hosts; no beat process. For each due slot a worker pushes
the entry's job behind a compare-and-set of the entry's cursor
(:mod:`.state`), in one atomic step of the store: the worker that moves the cursor from the
slot before to this one queues the job, the others are refused and see the new cursor. A
worker killed at any point leaves either both (the slot fired) or neither (another worker
fires it at its next turn). A fired job is an ordinary job: retries, timeouts, failed-job
store, ``failed()`` and ``job_failed`` apply.

The worker's clock decides when a slot is due (keep hosts in time with NTP); the store
decides who fires it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..conf import jobqueue_settings
from ..coordination import Advance
from ..dispatch import prepare
from ..exceptions import TransportError
from ..jobs import resolve
from ..logutil import exception_for_log, log_event
from ..transports import Transport
from . import state
from .entries import ScheduleEntry, entries

logger = logging.getLogger("django_jobqueue.worker")

#: Seconds between looks at every entry, due or not: what an operator's enable or disable
#: waits for at most.
FULL_PASS = 30.0
#: Seconds before a store that did not answer is asked again.
RETRY_DOWN = 2.0


def placement(entry: ScheduleEntry) -> tuple[str, str]:
    """The connection and queue an entry's jobs go to: the entry's, else its job class's,
    else the defaults."""
    cls = resolve(entry.job)
    connection = entry.connection or cls.connection or jobqueue_settings.DEFAULT_CONNECTION
    return connection, entry.queue or cls.queue or jobqueue_settings.DEFAULT_QUEUE


class Scheduler:
    """Fires the entries whose jobs go to ``transport``'s connection, for worker
    ``worker``. :meth:`tick` is cheap when nothing is due; :attr:`next_at` (epoch seconds)
    says when something may be."""

    def __init__(self, transport: Transport, worker: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.transport, self.worker, self.clock = transport, worker, clock
        self.next_at = 0.0
        self._entries: list[tuple[ScheduleEntry, str]] | None = None
        self._due_at: dict[str, float] = {}
        self._next_full = 0.0
        self._down_since: float | None = None

    @property
    def entries(self) -> list[tuple[ScheduleEntry, str]]:
        """This connection's entries with their queue, read once (settings do not change
        under a running worker)."""
        if self._entries is None:
            mine = [(entry, *placement(entry)) for entry in entries()]
            self._entries = [(entry, queue) for entry, connection, queue in mine
                             if connection == self.transport.name]
        return self._entries

    def tick(self) -> None:
        """Fire what is due now; never raises for a store that does not answer (firing
        waits for it, logged once) or for one entry that cannot be fired (logged)."""
        now = self.clock()
        if now < self.next_at:
            return
        full = now >= self._next_full
        try:
            for queue, group in self._due(now, full).items():
                found = state.read_many(self.transport.coordination, queue,
                                        [entry.name for entry in group], firing=True)
                for entry in group:
                    self._due_at[entry.name] = self._turn(entry, queue, found[entry.name],
                                                          now)
        except TransportError as exc:
            self._store_down(exc, now)
            self.next_at = now + RETRY_DOWN
            return
        except Exception as error:  # a bug of ours: logged, and not retried at every turn
            log_event(logger, logging.ERROR, "schedule_failed", error=type(error).__name__,
                      traceback=exception_for_log(error))
            self.next_at = now + FULL_PASS
            return
        self._store_back(now)
        if full:
            self._next_full = now + FULL_PASS
        self.next_at = min([self._next_full, *self._due_at.values()])

    def _due(self, now: float, full: bool) -> dict[str, list[ScheduleEntry]]:
        """The entries to look at now, by queue: each queue's are read in one call."""
        by_queue: dict[str, list[ScheduleEntry]] = {}
        for entry, queue in self.entries:
            if full or self._due_at.get(entry.name, 0.0) <= now:
                by_queue.setdefault(queue, []).append(entry)
        return by_queue

    # -- one entry ---------------------------------------------------------------------------
    def _turn(self, entry: ScheduleEntry, queue: str, found: state.EntryState,
              now: float) -> float:
        """Fire ``entry``'s due slots; when to look at it again."""
        try:
            if found.cursor_text is not None and found.cursor is None:
                # Not one of ours (written by hand?): the entry starts afresh, replacing it.
                log_event(logger, logging.WARNING, "schedule_cursor_unreadable",
                          entry=entry.name, cursor=found.cursor_text[:100])
            if found.enabled(entry.enabled):
                self._fire_due(entry, queue, found.cursor_text, now)
        except TransportError:
            raise
        except Exception as error:  # a job that cannot be built: logged, others go on
            log_event(logger, logging.ERROR, "schedule_entry_failed", entry=entry.name,
                      error=type(error).__name__, traceback=exception_for_log(error))
        return entry.timing.next_after(now)

    def _fire_due(self, entry: ScheduleEntry, queue: str, cursor: str | None,
                  now: float) -> None:
        due = entry.due(state.parse_slot(cursor), now)
        for slot in due.slots:
            cursor, fired = self._fire(entry, queue, cursor, slot)
            if not fired:
                return  # another worker moved the cursor: its view wins, looked at again
        if due.cursor is not None and (cursor is None
                                       or (state.parse_slot(cursor) or 0.0) < due.cursor):
            # Past slots the policy does not fire (missed while no worker ran, or before
            # the entry's first look): the cursor moves over them.
            advance = Advance(queue, state.cursor_name(entry.name), cursor,
                              state.slot_text(due.cursor))
            if not self.transport.coordination.take(advance).granted:
                return
        elif not due.slots:
            return
        if due.skipped:  # logged by the one worker that moved the cursor
            log_event(logger, logging.WARNING, "schedule_missed", entry=entry.name,
                      skipped=due.skipped, policy=entry.missed, until=_iso(due.cursor or 0))

    def _fire(self, entry: ScheduleEntry, queue: str, cursor: str | None,
              slot: float) -> tuple[str | None, bool]:
        """Push the job of ``slot`` behind the cursor's move from ``cursor``; the cursor
        now, and whether this worker moved it."""
        marker = {"schedule": {"entry": entry.name, "slot": slot}}
        prepared = prepare(entry.new_job(), queue=queue, connection=self.transport.name,
                           extra=marker)
        run = state.LastRun(slot, prepared.item.id, self.clock(), self.worker)
        advance = Advance(queue, state.cursor_name(entry.name), cursor, state.fired_text(run))
        guards = [advance] if prepared.guard is None else [advance, prepared.guard]
        taken = self.transport.push_guarded(prepared.item, *guards)
        if taken.granted:
            log_event(logger, logging.INFO, "schedule_fired", entry=entry.name,
                      job=prepared.result.job, id=prepared.item.id, slot=_iso(slot))
            return advance.new, True
        if taken.refused_by == 0:
            return taken.current, False
        # The job's unique lock is held: its previous run is not over. The slot passes.
        passed = Advance(queue, advance.name, cursor, state.slot_text(slot))
        moved = self.transport.coordination.take(passed)
        if moved.granted:
            log_event(logger, logging.WARNING, "schedule_skipped", entry=entry.name,
                      slot=_iso(slot), why="its job is unique and another holds the key",
                      holder=taken.current)
        return moved.current, moved.granted

    # -- the store -------------------------------------------------------------------------
    def _store_down(self, exc: TransportError, now: float) -> None:
        if self._down_since is None:
            self._down_since = now
            log_event(logger, logging.WARNING, "schedule_delayed", error=exc,
                      why="the store does not answer; due entries fire when it does")

    def _store_back(self, now: float) -> None:
        if self._down_since is not None:
            log_event(logger, logging.INFO, "schedule_resumed",
                      down_for=round(now - self._down_since, 1))
            self._down_since = None


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
