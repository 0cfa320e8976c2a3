"""The supervisor's side of giving horses work: reserve jobs (with the prefetch), start them
on free horses, queue a few in horses busy with short jobs, and hand back what it holds
when it must not keep it.

Jobs come from the store in one ``exchange`` round trip that also carries the acks and
start marks owed (``batch.Batch``). A job queued in a horse is prefetched, not started: it is
marked started when the horse takes it up, so a worker that dies never charges an attempt
for a job that did not begin.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ..conf import jobqueue_settings
from ..exceptions import TransportError
from ..logutil import log_event
from ..transports import Reserved, Transport
from .batch import Batch
from .burst import BurstWatch
from .horse import Horse, StopFlag, encode
from .options import WorkerOptions
from .owed import Outcomes
from .slots import IDLE, INBOX_BYTES, Op, Slot, timeout_of

if TYPE_CHECKING:
    from ..metrics.server import MetricsServer

logger = logging.getLogger("django_jobqueue.worker")

OWED_LIMIT = 100


class Feeding:
    """Reserves jobs and hands them to horses (mixed into ``Supervisor``)."""

    name: str
    options: WorkerOptions
    queues: list[str]
    transport: Transport
    slots: list[Slot]
    batch: Batch
    owed: Outcomes
    hooks: deque[dict[str, Any]]
    stopping: bool
    stop_flag: StopFlag
    jobs_started: int
    reserve_after: float
    queue_empty: bool
    burst_watch: BurstWatch
    _tokens: itertools.count[int]
    _wakeup_r: int
    metrics_server: MetricsServer | None
    _wakeup_w: int

    if TYPE_CHECKING:  # defined by answers.Answers
        def _send_hooks(self, idle: list[Slot]) -> None: ...

    def _assign_work(self) -> None:
        idle = self._idle_slots()
        self._send_hooks(idle)
        if self.stopping:
            self._hand_back_prefetched()
            return
        while idle and not self._owing_too_much() and (
            job := self.batch.next_ahead(time.monotonic())
        ) is not None:
            self._start(idle.pop(0), job)
        self._fill_inboxes()
        run = self._wanted(len(idle))
        in_horses = sum(slot.queued_runs() for slot in self.slots)
        prefetch = 0 if self._owing_too_much() else self.batch.wanted(
            run, self.queue_empty, self._room() - run, in_horses
        )
        if run + prefetch <= 0:
            return
        token = f"{self.name[:50]}:{next(self._tokens)}"
        jobs = self.transport.exchange(
            self.batch.acks, self.batch.unmarked, self.queues, run, prefetch,
            jobqueue_settings.LEASE, token,
        )
        self.batch.sent()
        self.burst_watch.store_answered()
        self.queue_empty = len(jobs) < run + prefetch
        for slot, job in zip(idle, jobs[:run], strict=False):
            self._start(slot, job)
        self.batch.keep_ahead(jobs[run:], time.monotonic())
        self._fill_inboxes()

    def _fill_inboxes(self) -> None:
        """Queue prefetched jobs in horses busy with short jobs, so each starts its next job
        without waiting for this process (the horse's share of the prefetch at most)."""
        if self._owing_too_much():
            return
        share, now = self.batch.target // len(self.slots), time.monotonic()
        for slot in self.slots:
            room = slot.inbox_room(share, now)
            while room > 0 and (job := self.batch.take_ahead_one()) is not None:
                if not self._send_run(slot, job, queued=True):
                    self.batch.put_back([job], time.monotonic())
                    break
                room -= 1

    def _start(self, slot: Slot, job: Reserved) -> None:
        if not self._send_run(slot, job):
            self.batch.unmark(job)
            self.batch.put_back([job], time.monotonic())

    def _send_run(self, slot: Slot, job: Reserved, queued: bool = False) -> bool:
        """Hand ``job`` to the slot's horse; False if the horse is gone (it is reaped when
        its end of the socket is read) or, for a job queued behind others, if the bytes
        queued for the horse would pass ``INBOX_BYTES`` (such a job waits for a free horse)."""
        assert slot.horse is not None
        timeout = timeout_of(job.payload, float(self.options.timeout or 0))
        data = encode({
            "op": "run", "id": job.id, "queue": job.queue, "payload": job.payload,
            "attempts": job.attempts, "worker": self.name, "timeout": timeout,
        })
        if queued and slot.queued_bytes() + len(data) > INBOX_BYTES:
            return False
        try:
            slot.horse.send_encoded(data)
        except OSError:
            slot.horse.exiting = True
            return False
        self.jobs_started += 1
        slot.push(Op(job, timeout, size=len(data)), time.monotonic(), time.time())
        return True

    def _wanted(self, idle: int) -> int:
        """How many jobs to reserve for ``idle`` free horses now."""
        if self.stopping or time.monotonic() < self.reserve_after or self._owing_too_much():
            return 0
        return min(idle, self._room())

    def _owing_too_much(self) -> bool:
        # Outcomes the store does not take (both failed-job stores down) pile up while
        # horses run more jobs; past this many, no new work until the store answers.
        return len(self.owed) >= OWED_LIMIT

    def _room(self) -> int:
        """Jobs this worker may still take (``--max-jobs``), prefetched ones counted."""
        if self.options.max_jobs is None:
            return 1 << 30
        return self.options.max_jobs - self.jobs_started - len(self.batch.ahead)

    def _idle_slots(self) -> list[Slot]:
        idle = []
        for slot in self.slots:
            # A stopping worker starts no horse, but for hooks still owed.
            if slot.phase == IDLE and slot.horse is None and (not self.stopping or self.hooks):
                slot.horse = self._spawn()
            if slot.phase == IDLE and slot.horse is not None and not slot.horse.exiting:
                idle.append(slot)
        return idle

    def _spawn(self) -> Horse:
        others = [s.horse.conn.fileno() for s in self.slots if s.horse is not None]
        config: dict[str, Any] = {
            "exception_handlers": self.options.exception_handlers,
            "disable_default": self.options.disable_default_exception_handler,
            "max_jobs": self.options.horse_max_jobs,
            "max_memory_mb": self.options.horse_max_memory_mb,
        }
        if self.metrics_server is not None:
            others.append(self.metrics_server.fileno())  # the port stays the supervisor's
        return Horse.spawn(config, [*others, self._wakeup_r, self._wakeup_w], self.stop_flag)

    def _settle_batch(self, force: bool = False) -> None:
        """Send the acks and start marks that no reservation carried in time."""
        due = self.batch.settle_at()
        if due is None or not (force or time.monotonic() >= due):
            return
        self.transport.exchange(
            self.batch.acks, self.batch.unmarked, (), 0, 0, jobqueue_settings.LEASE, ""
        )
        self.batch.sent()

    def _hand_back_stale_prefetch(self) -> None:
        if self.batch.stale(time.monotonic()):
            self.batch.paused = True
            self._hand_back_prefetched()

    def _hand_back_prefetched(self) -> None:
        jobs = self.batch.take_ahead()
        for n, job in enumerate(jobs):
            try:
                self.transport.release(job, 0, undo_attempt=True)
            except TransportError as exc:
                # Not lost: their leases expire and collection puts them back uncharged.
                # One failure is enough to stop asking a store that does not answer.
                log_event(logger, logging.WARNING, "hand_back_failed", count=len(jobs) - n,
                          first_id=job.id, error=exc)
                return

    def _hand_back(self, job: Reserved, why: str = "interrupted by shutdown") -> None:
        try:
            self.transport.release(job, 0, undo_attempt=True)
            log_event(logger, logging.WARNING, "job_released", id=job.id, queue=job.queue, why=why)
        except TransportError as exc:
            # Its lease will expire and another worker will take it.
            log_event(logger, logging.WARNING, "release_failed", id=job.id, queue=job.queue,
                      error=exc)
