"""What gives the supervisor's horses their work, and takes back what they will not run.

Hooks waiting for a horse go first; then prefetched jobs; then jobs reserved in one
``exchange`` round trip that also carries the acks and start marks owed (``outcomes``,
``prefetch``). A horse busy with short jobs gets a few more queued in its socket. A job
queued in a horse is prefetched, not started: it is marked started when the horse takes it
up, so a worker that dies never charges an attempt for a job that did not begin. Each
reserved job's payload is read here, once (:class:`~.claim.Claim`).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from ..conf import jobqueue_settings
from ..exceptions import TransportError
from ..logutil import log_event
from ..transports import Transport
from .burst import BurstWatch
from .claim import Claim
from .gate import Gate
from .horse import Horse
from .options import WorkerOptions
from .outcomes import Outcomes
from .prefetch import HAND_OUT_WITHIN, PREFETCH_LEASE, RENEW_AHEAD, Prefetch
from .protocol import Hook, Run, SystemFailure, encode
from .slots import IDLE, INBOX_BYTES, Op, Slot

logger = logging.getLogger("django_jobqueue.worker")

# Failed attempts the store has not taken (both failed-job stores down) pile up while horses
# run more jobs; past this many, no new work until the store answers.
OWED_LIMIT = 100
# Seconds acks and start marks wait for a reservation to carry them before they go alone.
# The jobs' leases are held meanwhile, so the wait costs only a late delete, except when
# the worker dies: the jobs that finished in its last SETTLE_DELAY run again.
SETTLE_DELAY = 0.015


class Feeder:
    """Reserves jobs and hands them, and hooks, to the horses in ``slots``."""

    def __init__(
        self, transport: Transport, options: WorkerOptions, slots: list[Slot],
        outcomes: Outcomes, spawn: Callable[[], Horse], burst_watch: BurstWatch, gate: Gate,
    ) -> None:
        self.transport, self.options, self.slots, self.gate = transport, options, slots, gate
        self.name = options.name or ""
        self.outcomes, self.spawn, self.burst_watch = outcomes, spawn, burst_watch
        self.prefetch = Prefetch(options.prefetch or 0, float(jobqueue_settings.PREFETCH_HOLD))
        self.hooks: deque[Hook | SystemFailure] = deque()  # waiting for a free horse
        self.jobs_started = 0
        self.reserve_after = 0.0  # no reservation before (monotonic): the store failed
        self.queue_empty = False
        self._tokens = itertools.count()
        # When the oldest lease of a prefetched job was confirmed (None: none is held).
        self._oldest_lease: float | None = None

    # -- giving work -----------------------------------------------------------------------
    def assign(self, stopping: bool) -> None:
        """Hooks to free horses, then prefetched jobs, then reserve more (unless stopping)."""
        idle = self._idle_slots(stopping)
        while idle and self.hooks:
            self._send_hook(idle.pop(0), self.hooks.popleft())
        if stopping:
            self.hand_back_prefetched()
            return
        while idle and not self.owing_too_much() and (
            claim := self.prefetch.next_ahead(time.monotonic())
        ) is not None:
            if claim.admit_at_start and not self._admit(claim):
                continue
            self._start(idle.pop(0), claim)
        self._fill_inboxes()
        self._reserve(idle)

    def _reserve(self, idle: list[Slot]) -> None:
        run = self._wanted(len(idle))
        in_horses = sum(slot.queued_runs() for slot in self.slots)
        prefetch = 0 if self.owing_too_much() else self.prefetch.wanted(
            run, self.queue_empty, self._room() - run, in_horses
        )
        queues = self.gate.active(self.options.queues)
        if run + prefetch <= 0 or not queues:
            self.queue_empty = self.queue_empty or not queues
            return
        # First: a count of many ends takes a while, and the leases below date from after.
        self._advance_workflows()
        token = f"{self.name[:50]}:{next(self._tokens)}"
        asked = time.monotonic()
        admission = self.gate.admission(float(self.options.timeout or 0), run)
        jobs = self.transport.exchange(
            self.outcomes.acks, self.prefetch.marks, queues, run, prefetch,
            jobqueue_settings.LEASE, token, prefetch_lease=PREFETCH_LEASE, admit=admission,
        )
        self._sent()
        self.burst_watch.store_answered()
        self.queue_empty = len(jobs) < run + prefetch
        now = admission.starting  # marked started by the exchange
        claims, ended = admission.settle()
        for claim in ended:
            if claim.id not in now:  # a long lease while its end is recorded
                self.prefetch.mark(claim, asked)
        ahead = [claim for claim in claims if claim.id not in now]
        for claim in ahead:
            claim.leased_at = asked
        if ahead and self._oldest_lease is None:
            self._oldest_lease = asked
        for slot, claim in zip(idle, [c for c in claims if c.id in now], strict=False):
            self._start(slot, claim)
        self.prefetch.keep_ahead(ahead, time.monotonic())
        self._fill_inboxes()

    def _fill_inboxes(self) -> None:
        """Queue prefetched jobs in horses busy with short jobs, so each starts its next job
        without waiting for this process (the horse's share of the prefetch at most)."""
        if self.owing_too_much():
            return
        share, now = self.prefetch.target // len(self.slots), time.monotonic()
        for slot in self.slots:
            room = slot.inbox_room(share, now)
            while room > 0 and (claim := self.prefetch.take_ahead_one(now)) is not None:
                if claim.admit_at_start or not self._send_run(slot, claim, queued=True):
                    # A job to admit at its start waits for a free horse, as does one
                    # this horse cannot take now.
                    self.prefetch.put_back([claim], time.monotonic())
                    break
                room -= 1

    def _admit(self, claim: Claim) -> bool:
        """Take a held job's permits as a free horse takes it. Refused, it went back to its
        queue and owes no start mark; ended (expired, cancelled), it keeps its mark, so its
        lease is a long one while its end is recorded."""
        try:
            answer = self.gate.admit_one(claim)
        except TransportError:
            self.prefetch.unmark(claim)
            raise
        if answer == "wait":
            self.prefetch.unmark(claim)
        return answer == "run"

    def _start(self, slot: Slot, claim: Claim) -> None:
        # Seen while it waited ahead, or its batch's rest was cancelled (its mark is owed).
        if self.gate.cancelled(claim.id, claim.document):
            self.gate.end_cancelled(claim)
            return
        if not self._send_run(slot, claim):
            self.prefetch.unmark(claim)
            self.prefetch.put_back([claim], time.monotonic())

    def _send_run(self, slot: Slot, claim: Claim, queued: bool = False) -> bool:
        """Hand ``claim`` to the slot's horse; False if the horse is gone (it is reaped when
        its end of the socket is read) or, for a job queued behind others, if the bytes
        queued for the horse would pass ``INBOX_BYTES`` (such a job waits for a free horse)."""
        assert slot.horse is not None
        start_by = claim.leased_at + HAND_OUT_WITHIN if queued else 0.0
        data = encode(Run(claim.id, claim.payload, claim.attempts, self.name, claim.timeout,
                          start_by))
        if queued and slot.queued_bytes() + len(data) > INBOX_BYTES:
            return False
        try:
            slot.horse.send_encoded(data)
        except OSError:
            slot.horse.exiting = True
            return False
        self.jobs_started += 1
        slot.push(Op(claim, claim.timeout, size=len(data)), time.monotonic(), time.time())
        return True

    def hook(self, message: Hook | SystemFailure, horse_pid: int | None = None) -> None:
        """Have a hook run: by the horse ``horse_pid`` (it ran the job and holds the
        exception), else by the next free horse."""
        for slot in self.slots:
            if horse_pid is not None and slot.horse is not None and slot.horse.pid == horse_pid:
                # The short form, without a stand-in, so a send to a busy horse never
                # blocks on its socket's buffer.
                short = replace(message, stand_in=None) if isinstance(message, Hook) else None
                self._send_hook(slot, message, short)
                return
        self.hooks.append(message)

    def _send_hook(
        self, slot: Slot, message: Hook | SystemFailure, short: Hook | None = None
    ) -> None:
        """Send ``message`` (or its ``short`` form) to the slot's horse; the whole message
        is kept, to send to another horse if this one dies first."""
        assert slot.horse is not None
        try:
            size = slot.horse.send(short or message)
        except OSError:
            # The horse is gone; its end of the socket is read next and it is reaped.
            slot.horse.exiting = True
            self.hooks.append(message)
            return
        slot.push(Op(None, message.timeout, message, size=size), time.monotonic(), time.time())

    # -- what the supervisor asks ------------------------------------------------------------
    @property
    def idle(self) -> bool:
        """No hook waits for a horse, no job is held ahead and no start mark is owed."""
        return not self.hooks and self.prefetch.empty

    def deadlines(self) -> list[float]:
        """When acks and marks must go out alone, when prefetched jobs' leases are due for
        renewal, and when prefetched jobs go stale."""
        due = (self.flush_at(), self.renew_at(), self.prefetch.stale_at())
        return [t for t in due if t is not None]

    def back_off(self, now: float) -> None:
        """The store failed: reserve nothing for a second."""
        self.reserve_after = now + 1.0

    def horse_freed(self) -> None:
        """A horse finished a job: prefetching may resume."""
        self.prefetch.paused = False

    # -- how much ------------------------------------------------------------------------------
    def _wanted(self, idle: int) -> int:
        """How many jobs to reserve for ``idle`` free horses now."""
        if time.monotonic() < self.reserve_after or self.owing_too_much():
            return 0
        return min(idle, self._room())

    def owing_too_much(self) -> bool:
        return len(self.outcomes) >= OWED_LIMIT

    def _room(self) -> int:
        """Jobs this worker may still take (``--max-jobs``), prefetched ones counted."""
        if self.options.max_jobs is None:
            return 1 << 30
        return self.options.max_jobs - self.jobs_started - len(self.prefetch.ahead)

    def _idle_slots(self, stopping: bool) -> list[Slot]:
        idle = []
        for slot in self.slots:
            # A stopping worker starts no horse, but for hooks still owed.
            if slot.phase == IDLE and slot.horse is None and (not stopping or self.hooks):
                slot.horse = self.spawn()
            if slot.phase == IDLE and slot.horse is not None and not slot.horse.exiting:
                idle.append(slot)
        return idle

    def wait_timeout(self, now: float, limit: float, stopping: bool) -> float | None:
        """How long the supervisor may wait for answers (at most ``limit``) before this
        wants to reserve again; None: only a job pushed to the store can give it work."""
        busy = any(slot.phase != IDLE for slot in self.slots)
        has_idle = any(slot.phase == IDLE for slot in self.slots)
        if stopping or not has_idle or self.owing_too_much():
            return max(limit, 0.0)
        if now < self.reserve_after:
            return max(min(limit, self.reserve_after - now), 0.0)
        if not self.queue_empty:
            return 0.0
        if (not busy and not self.hooks and self.transport.blocking_wait
                and self.prefetch.empty and not self.outcomes.acks
                and not self.outcomes.advancing):
            return None
        sleep = float(self.options.sleep or 1.0)
        poll = min(self.transport.poll_interval, sleep) if busy else sleep
        return max(min(limit, poll), 0.0)

    # -- prefetched jobs' short leases ----------------------------------------------------------
    def unstarted(self) -> list[Claim]:
        """Prefetched jobs under their short lease: held ahead, or queued in a horse."""
        queued = (claim for slot in self.slots for claim in slot.queued_jobs())
        return [claim for claim in (*self.prefetch.claims(), *queued) if not claim.lost]

    def renew_at(self) -> float | None:
        """When the prefetched jobs' leases are due for renewal. Asked every turn, so it
        reads no claim: a renewal confirms every held lease at once, and a reservation
        only adds newer ones, so the oldest is the earlier of the two."""
        if not (self.prefetch.ahead or any(slot.queued_runs() for slot in self.slots)):
            self._oldest_lease = None
        return None if self._oldest_lease is None else self._oldest_lease + RENEW_AHEAD

    def renew_unstarted(self) -> None:
        """Renew the prefetched jobs' short leases once due (and jobs begun whose start
        marks are still owed); forget those another worker took after a stall."""
        due = self.renew_at()
        if due is None or time.monotonic() < due:
            return
        claims = self.unstarted()
        asked = time.monotonic()
        lost = self.transport.renew(
            [*(claim.reserved for claim in claims), *self.prefetch.marks], PREFETCH_LEASE
        )
        for claim in claims:
            claim.leased_at, claim.lost = asked, claim.reserved in lost
        self._oldest_lease = asked
        if lost:
            # A lost job queued in a horse is skipped there (its start_by has passed), and
            # never put back in line.
            self.prefetch.drop(lost)
            for job in lost:
                self.gate.ended(job.id)
                log_event(logger, logging.WARNING, "lease_lost", id=job.id, queue=job.queue,
                          action="renew_prefetched")

    # -- acks and marks ------------------------------------------------------------------------
    def flush_at(self) -> float | None:
        """When owed acks and marks must go out even if no reservation carries them."""
        since = [t for t in (self.outcomes.acks_since, self.prefetch.marks_since,
                             self._advance_at()) if t is not None]
        return min(since) + SETTLE_DELAY if since else None

    def _advance_at(self) -> float | None:
        """When the successes of workflow jobs must be told: a worker with nothing else
        to do tells them without the count's delay, which would only delay the batch's
        end. (Read at every turn of the loop: the slots are looked at only when some
        wait.)"""
        if not self.outcomes.advancing:
            return None
        return self.outcomes.advance_at(at_once=self._nothing_else_to_do())

    def _nothing_else_to_do(self) -> bool:
        return (self.queue_empty and self.prefetch.empty
                and all(slot.phase == IDLE for slot in self.slots))

    def flush(self, force: bool = False) -> None:
        """Send the acks and start marks that no reservation carried in time."""
        due = self.flush_at()
        if due is None or not (force or time.monotonic() >= due):
            return
        self._advance_workflows(force=force, at_once=self._nothing_else_to_do())
        self.transport.exchange(
            self.outcomes.acks, self.prefetch.marks, (), 0, 0, jobqueue_settings.LEASE, ""
        )
        self._sent()

    def _advance_workflows(self, force: bool = False, at_once: bool = False) -> None:
        """Tell finished workflow jobs' workflows once due, so their acks go with this
        exchange; a store that does not answer keeps them (leases renewed) for the next
        one."""
        try:
            self.outcomes.advance_workflows(time.monotonic(), force=force, at_once=at_once)
        except Exception as error:
            log_event(logger, logging.WARNING, "workflow_deferred",
                      count=len(self.outcomes.advancing), error=type(error).__name__,
                      detail=str(error)[:300])

    def _sent(self) -> None:
        self.outcomes.acks_sent()
        self.prefetch.marks_sent()

    def end_cancelled_ahead(self) -> None:
        """Prefetched jobs whose cancel request came while they waited: never started.
        Each is marked started, so its short lease becomes a long one while its end is
        recorded."""
        cancelled = [c for c in self.prefetch.claims() if self.gate.cancelled(c.id, c.document)]
        if cancelled:
            self.prefetch.drop([claim.reserved for claim in cancelled])
        for claim in cancelled:
            self.prefetch.mark(claim, time.monotonic())
            self.gate.end_cancelled(claim)

    # -- taking back -------------------------------------------------------------------------
    def began(self, claim: Claim, now: float) -> None:
        """A job queued in a horse began: it came from the prefetch, and is marked now."""
        self.prefetch.mark(claim, now)

    def not_started(self, claim: Claim, why: str) -> None:
        """A job sent to a horse that never began it goes back to the store uncharged."""
        self.prefetch.unmark(claim)
        self.gate.ended(claim.id)
        self.jobs_started -= 1
        self.hand_back(claim, why)

    def return_queued(self, slot: Slot) -> None:
        """Jobs queued in a horse that will not run them go back first in line."""
        claims = slot.take_queued_runs()
        if claims:
            # Routine when a horse is recycled; worth a line when one died.
            level = logging.DEBUG if slot.horse is not None and slot.horse.exiting else logging.INFO
            log_event(logger, level, "queued_jobs_returned", count=len(claims))
            self.jobs_started -= len(claims)
            self.prefetch.put_back(claims, time.monotonic())

    def hand_back_stale(self) -> None:
        if self.prefetch.stale(time.monotonic()):
            self.prefetch.paused = True
            self.hand_back_prefetched()

    def hand_back_prefetched(self) -> None:
        claims = self.prefetch.take_ahead()
        for claim in claims:
            self.gate.ended(claim.id)
        for n, claim in enumerate(claims):
            try:
                self.transport.release(claim.reserved, 0, undo_attempt=True)
            except TransportError as exc:
                # Not lost: their leases expire and collection puts them back uncharged.
                # One failure is enough to stop asking a store that does not answer.
                log_event(logger, logging.WARNING, "hand_back_failed", count=len(claims) - n,
                          first_id=claim.id, error=exc)
                return

    def hand_back(self, claim: Claim, why: str = "interrupted by shutdown") -> None:
        self.gate.ended(claim.id)
        try:
            self.transport.release(claim.reserved, 0, undo_attempt=True)
            log_event(logger, logging.WARNING, "job_released", id=claim.id, queue=claim.queue,
                      why=why)
        except TransportError as exc:
            # Its lease will expire and another worker will take it.
            log_event(logger, logging.WARNING, "release_failed", id=claim.id,
                      queue=claim.queue, error=exc)
