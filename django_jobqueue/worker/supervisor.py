"""The supervisor: reserves jobs, hands them to work horses, and settles every outcome.

One loop, each turn a list of named steps: assign work, wait, read horse messages, enforce
timeouts and memory limits, flush acks, retry deferred bookkeeping, heartbeat, maintenance.
Every step catches its own errors, so a store that is down slows the worker but never stops
it, and no job is dropped: a job leaves the store only once its outcome is recorded.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import random
import signal
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait as wait_for_ready
from typing import Any

from ..conf import jobqueue_settings
from ..exceptions import ConfigurationError, TransportError
from ..failures import service
from ..logutil import printable
from ..transports import Reserved, get_transport
from .batch import Batch
from .handlers import build_chain, killed_handler
from .horse import Horse, StopFlag
from .options import WorkerOptions
from .outcome import Bookkeeper
from .registry import Presence
from .slots import (
    HOOK,
    IDLE,
    RECORDING,
    RUNNING,
    Slot,
    call_killed_handler,
    death_details,
    describe,
    enforce_limits,
    timeout_of,
)

logger = logging.getLogger("django_jobqueue.worker")

class Supervisor:
    """Runs jobs from one connection's queues with ``concurrency`` work horses."""

    def __init__(self, options: WorkerOptions) -> None:
        self.options = options.resolved()
        self.name: str = self.options.name or ""
        self.queues = self.options.queues
        self.transport = get_transport(self.options.connection)
        if not self.transport.shareable_between_processes:
            raise ConfigurationError(
                f"connection {self.transport.name!r} keeps jobs in this process only; "
                "run them with django_jobqueue.testing.work() instead of a worker"
            )
        # Fail at start on a bad handler path, not in a horse at the first error.
        build_chain(self.options.exception_handlers, self.options.disable_default_exception_handler)
        self.killed_handler = killed_handler(self.options.work_horse_killed_handler)
        self.books = Bookkeeper(self.transport, self.name)
        self.slots = [Slot() for _ in range(self.options.concurrency)]
        self.hooks: deque[dict[str, Any]] = deque()
        self.deferred: list[Callable[[], None]] = []
        # Retry outcomes the store did not take yet: (job, result, when to try again).
        self.unsettled: list[tuple[Reserved, dict[str, Any], float]] = []
        self.stop_flag = StopFlag()
        self.batch = Batch(self.options.prefetch or 0, float(jobqueue_settings.PREFETCH_HOLD))
        self.stopping = self.force = False
        self.stop_deadline: float | None = None
        self.started = time.monotonic()
        self.jobs_started = 0
        self.reserve_after = 0.0
        self.queue_empty = False
        self.presence = Presence(self.transport, self.name, self.queues, len(self.slots))
        # The first heartbeat is at once: it puts this worker in the registry.
        self.next_heartbeat = self.started
        self.next_maintenance = self.started + random.uniform(0, 1)
        self._tokens = itertools.count()
        self._wakeup_r, self._wakeup_w = os.pipe()

    # -- lifecycle -----------------------------------------------------------------------
    def run(self) -> int:
        """Work until stopped (signal, ``--burst``, ``--max-jobs``, ``--max-time``)."""
        self._install_signals()
        logger.info(
            "worker started: name=%s connection=%s queues=%s concurrency=%d",
            self.name, self.transport.name, ",".join(self.queues), len(self.slots),
        )
        try:
            while not self._finished():
                self._turn()
        finally:
            self._shutdown()
        logger.info("worker stopped: name=%s jobs=%d", self.name, self.jobs_started)
        return 0

    def _install_signals(self) -> None:
        os.set_blocking(self._wakeup_w, False)
        os.set_blocking(self._wakeup_r, False)
        signal.set_wakeup_fd(self._wakeup_w)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Only flags here: the loop logs and acts (logging in a handler can deadlock).
        if self.stopping:
            self.force = True
        else:
            self._begin_stop(time.monotonic())

    def _begin_stop(self, now: float) -> None:
        self.stopping = True
        self.stop_deadline = now + float(self.options.shutdown_timeout or 0)
        self.stop_flag.set()  # horses skip the jobs queued for them

    def _turn(self) -> None:
        for step in (
            self._assign_work,
            self._settle_batch,
            self._wait_and_read,
            self._enforce_limits,
            self._retry_deferred,
            self._heartbeat,
            self._hand_back_stale_prefetch,
            self._maintenance,
        ):
            try:
                step()
            except TransportError as exc:
                logger.warning("store unavailable in %s: %s", step.__name__, exc)
                self.reserve_after = time.monotonic() + 1.0
            except Exception:
                logger.exception("worker step %s failed; carrying on", step.__name__)
                self.reserve_after = time.monotonic() + 1.0

    def _finished(self) -> bool:
        now = time.monotonic()
        if self.force:
            return True
        if self.stopping and self.stop_deadline is not None and now >= self.stop_deadline:
            logger.warning("shutdown timeout reached: interrupting running jobs")
            self.force = True
            return True
        limits = self.options
        if not self.stopping and (
            (limits.max_jobs is not None and self.jobs_started >= limits.max_jobs)
            or (limits.max_time is not None and now - self.started >= limits.max_time)
        ):
            self._begin_stop(now)
        idle = self._all_idle()
        if self.stopping:
            return idle
        return self.options.burst and idle and self.queue_empty and self._queues_drained()

    def _all_idle(self) -> bool:
        busy = any(slot.phase != IDLE for slot in self.slots)
        owed = self.hooks or self.deferred or self.unsettled
        return not busy and not owed and self.batch.empty

    def _queues_drained(self) -> bool:
        # Burst mode waits for delayed jobs (retries in backoff) too; reserved jobs of
        # other workers are theirs to finish.
        sizes = [self.transport.size(queue) for queue in self.queues]
        return all(size.ready == 0 and size.delayed == 0 for size in sizes)

    # -- steps -----------------------------------------------------------------------------
    def _assign_work(self) -> None:
        idle = self._idle_slots()
        while idle and self.hooks:
            self._send_hook(idle.pop(0), self.hooks.popleft())
        if self.stopping:
            self._hand_back_prefetched()
            return
        while idle and (job := self.batch.next_ahead(time.monotonic())) is not None:
            self._start(idle.pop(0), job)
        self._fill_inboxes()
        run = self._wanted(len(idle))
        in_horses = sum(len(slot.queued) for slot in self.slots)
        prefetch = self.batch.wanted(run, self.queue_empty, self._room() - run, in_horses)
        if run + prefetch <= 0:
            return
        token = f"{self.name[:50]}:{next(self._tokens)}"
        jobs = self.transport.exchange(
            self.batch.acks, self.batch.unmarked, self.queues, run, prefetch,
            jobqueue_settings.LEASE, token,
        )
        self.batch.sent()
        self.queue_empty = len(jobs) < run + prefetch
        for slot, job in zip(idle, jobs[:run], strict=False):
            self._start(slot, job)
        self.batch.keep_ahead(jobs[run:], time.monotonic())
        self._fill_inboxes()

    def _fill_inboxes(self) -> None:
        """Queue prefetched jobs in horses busy with short jobs, so each starts its next job
        without waiting for this process (the horse's share of the prefetch at most)."""
        share = self.batch.target // len(self.slots)
        for slot in self.slots:
            room = slot.inbox_room(share)
            while room > 0 and (job := self.batch.take_ahead_one()) is not None:
                timeout = timeout_of(job.payload, float(self.options.timeout or 0))
                if not self._send_run(slot, job, timeout):
                    self.batch.put_back([job], time.monotonic())
                    break
                slot.queued.append((job, timeout))
                room -= 1

    def _wanted(self, idle: int) -> int:
        """How many jobs to reserve for ``idle`` free horses now."""
        if self.stopping or time.monotonic() < self.reserve_after:
            return 0
        return min(idle, self._room())

    def _room(self) -> int:
        """Jobs this worker may still take (``--max-jobs``), prefetched ones counted."""
        if self.options.max_jobs is None:
            return 1 << 30
        return self.options.max_jobs - self.jobs_started - len(self.batch.ahead)

    def _idle_slots(self) -> list[Slot]:
        idle = []
        for slot in self.slots:
            if slot.phase == IDLE and slot.horse is None and not self.stopping:
                slot.horse = self._spawn()
            if slot.phase == IDLE and slot.horse is not None and not slot.horse.exiting:
                idle.append(slot)
        return idle

    def _spawn(self) -> Horse:
        others = [s.horse.conn.fileno() for s in self.slots if s.horse is not None]
        config = {
            "exception_handlers": self.options.exception_handlers,
            "disable_default": self.options.disable_default_exception_handler,
            "max_jobs": self.options.horse_max_jobs,
            "max_memory_mb": self.options.horse_max_memory_mb,
        }
        return Horse.spawn(config, [*others, self._wakeup_r, self._wakeup_w], self.stop_flag)

    def _start(self, slot: Slot, job: Reserved) -> None:
        timeout = timeout_of(job.payload, float(self.options.timeout or 0))
        if self._send_run(slot, job, timeout):
            slot.begin(job, timeout, time.monotonic(), time.time())
        else:
            self.batch.unmark(job)
            self.batch.put_back([job], time.monotonic())

    def _send_run(self, slot: Slot, job: Reserved, timeout: float) -> bool:
        """Hand ``job`` to the slot's horse; False if the horse is gone (it is reaped when
        its end of the socket is read)."""
        assert slot.horse is not None
        try:
            slot.horse.send({
                "op": "run", "id": job.id, "queue": job.queue, "payload": job.payload,
                "attempts": job.attempts, "worker": self.name, "timeout": timeout,
            })
        except OSError:
            slot.horse.exiting = True
            return False
        self.jobs_started += 1
        return True

    def _next(self, slot: Slot, now: float) -> None:
        """The horse is done with its job: it takes up the next one queued for it, if any."""
        slot.result = None
        if slot.queued and slot.horse is not None:
            job, timeout = slot.queued.popleft()
            self.batch.mark(job, now)
            slot.begin(job, timeout, now, time.time())
        else:
            slot.phase, slot.job, slot.deadline = IDLE, None, None

    def _return_queued(self, slot: Slot) -> None:
        """Jobs queued in a horse that will not run them go back first in line."""
        jobs = slot.take_queued()
        if jobs:
            logger.info("%d jobs queued in a work horse that will not run them: back in line",
                        len(jobs))
            self.jobs_started -= len(jobs)
            self.batch.put_back(jobs, time.monotonic())

    def _send_hook(self, slot: Slot, hook: dict[str, Any]) -> None:
        assert slot.horse is not None
        hook["worker"] = self.name
        hook.setdefault("timeout", self.options.timeout)
        slot.phase, slot.job, slot.kill_reason = HOOK, None, None
        grace = jobqueue_settings.TIMEOUT_GRACE
        slot.deadline = time.monotonic() + float(hook["timeout"] or 0) + grace
        slot.horse.send(hook)

    def _wait_and_read(self) -> None:
        conns = {slot.horse.conn: slot for slot in self.slots if slot.horse is not None}
        timeout = self._wait_timeout()
        if timeout is None:
            # Fully idle with a transport that can wake us: block in the store itself.
            self.transport.wait(self.queues, min(float(self.options.sleep or 1.0), 0.5))
            timeout = 0.0
        ready = wait_for_ready([*conns, self._wakeup_r], timeout)
        if self._wakeup_r in ready:
            self._drain_wakeup()
        for conn in ready:
            slot = conns.get(conn)  # type: ignore[call-overload]
            if slot is not None:
                self._read_all(slot)

    def _read_all(self, slot: Slot) -> None:
        # A horse with queued jobs may have sent several results since the last turn.
        for _ in range(64):
            self._read(slot)
            if slot.horse is None or not slot.horse.conn.poll():
                return

    def _wait_timeout(self) -> float | None:
        now = time.monotonic()
        busy = any(slot.phase != IDLE for slot in self.slots)
        has_idle = any(s.phase == IDLE for s in self.slots)
        limit = min(self.next_heartbeat, self.next_maintenance, *self._batch_deadlines()) - now
        deadlines = [s.deadline - now for s in self.slots if s.deadline and s.phase != IDLE]
        if deadlines:
            limit = min(limit, *deadlines)
        if busy and self.options.memory_limit_mb:
            limit = min(limit, 0.1)
        if self.stopping or not has_idle:
            return max(limit, 0.0)
        if now < self.reserve_after:
            return max(min(limit, self.reserve_after - now), 0.0)
        if not self.queue_empty:
            return 0.0
        if not busy and not self.hooks and self.transport.blocking_wait and self.batch.empty:
            return None
        sleep = float(self.options.sleep or 1.0)
        poll = min(self.transport.poll_interval, sleep) if busy else sleep
        return max(min(limit, poll), 0.0)

    def _batch_deadlines(self) -> list[float]:
        """When owed acks and marks are due, and when prefetched jobs go stale."""
        settle = self.batch.settle_at()
        stale = self.batch.stale_at()
        return [t for t in (settle, stale) if t is not None]

    def _drain_wakeup(self) -> None:
        try:
            while os.read(self._wakeup_r, 512):
                pass
        except BlockingIOError:
            pass

    def _read(self, slot: Slot) -> None:
        assert slot.horse is not None
        try:
            message = slot.horse.recv()
        except (EOFError, OSError):
            self._horse_ended(slot)
            return
        op = message["op"]
        if op == "hook_done":
            self._next(slot, time.monotonic())
        elif op == "result":
            self._on_result(slot, message)
        elif op == "skipped":
            self._on_skipped(slot)

    def _on_result(self, slot: Slot, result: dict[str, Any]) -> None:
        assert slot.horse is not None and slot.job is not None
        now = time.monotonic()
        slot.finished(now)
        if result.get("recycle"):
            slot.horse.exiting = True
            self._return_queued(slot)
        self.batch.paused = False  # a horse is free: prefetching may resume
        if result["status"] == "failed":
            # The horse waits for the record before it runs the failed() hook.
            slot.result, slot.phase, slot.deadline = result, RECORDING, None
            self._settle(slot)
            return
        if result["status"] == "ok":
            self.batch.ack(slot.job, now)
        else:
            self._settle_retry(slot.job, result)
        self._next(slot, now)

    def _on_skipped(self, slot: Slot) -> None:
        """The horse did not start its job (the worker is stopping): hand it back."""
        assert slot.job is not None
        self.batch.unmark(slot.job)
        self.jobs_started -= 1
        self._hand_back(slot.job, "skipped: the worker is stopping")
        self._next(slot, time.monotonic())

    def _settle_retry(self, job: Reserved, result: dict[str, Any]) -> None:
        try:
            self.books.settle(job, result)
        except TransportError as exc:
            logger.warning("cannot record outcome of id=%s yet: %s", printable(job.id), exc)
            self.unsettled.append((job, result, time.monotonic() + 2.0))

    def _settle(self, slot: Slot) -> None:
        assert slot.job is not None and slot.result is not None
        try:
            failed_job = self.books.settle(slot.job, slot.result)
        except TransportError as exc:
            logger.warning("cannot record outcome of id=%s yet: %s", printable(slot.job.id), exc)
            slot.retry_at = time.monotonic() + 2.0
            return
        if failed_job is not None and slot.horse is not None:
            slot.horse.send({"op": "hook", "failed_job": failed_job})
            slot.phase, slot.job, slot.result = HOOK, None, None
            slot.deadline = time.monotonic() + slot.timeout + jobqueue_settings.TIMEOUT_GRACE
        else:
            self._next(slot, time.monotonic())

    def _horse_ended(self, slot: Slot) -> None:
        assert slot.horse is not None
        horse, slot.horse = slot.horse, None
        status, rusage = horse.reap()
        self._return_queued(slot)  # results come in order: the queued ones never began
        if slot.phase == RUNNING and slot.job is not None:
            self._horse_killed(slot, horse.pid, status, rusage)
        elif slot.phase == HOOK:
            logger.warning("work horse pid=%d died in a failed() hook or handler", horse.pid)
            slot.phase = IDLE
        elif slot.phase == IDLE and not horse.exiting:
            logger.warning("idle work horse pid=%d ended: %s", horse.pid, describe(status))
        # RECORDING keeps its job and result: bookkeeping goes on without the horse.

    def _horse_killed(self, slot: Slot, pid: int, status: int, rusage: Any) -> None:
        job = slot.job
        assert job is not None
        kind, message = slot.kill_reason or ("WorkHorseKilled", describe(status, pid))
        call_killed_handler(self.killed_handler, job, pid, status, rusage)
        slot.phase, slot.job, slot.deadline = IDLE, None, None
        self._system_failure(job, kind, message, death_details(status, rusage))

    def _system_failure(
        self, job: Reserved, kind: str, message: str, death: dict[str, Any] | None = None
    ) -> None:
        def settle() -> None:
            hook = self.books.system_failure(job, kind, message, **(death or {}))
            hook["timeout"] = timeout_of(job.payload, float(self.options.timeout or 0))
            self.hooks.append(hook)

        try:
            settle()
        except TransportError as exc:
            logger.warning("cannot record outcome of id=%s yet: %s", printable(job.id), exc)
            self.deferred.append(settle)

    def _enforce_limits(self) -> None:
        enforce_limits(self.slots, self.options.memory_limit_mb, time.monotonic())

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
        for job in self.batch.take_ahead():
            try:
                self.transport.release(job, 0, undo_attempt=True)
            except TransportError as exc:
                # Not lost: its lease expires and collection puts it back uncharged.
                logger.warning("could not hand back prefetched id=%s: %s", printable(job.id), exc)

    def _retry_deferred(self, force: bool = False) -> None:
        now = float("inf") if force else time.monotonic()
        for slot in self.slots:
            if slot.phase == RECORDING and now >= slot.retry_at:
                self._settle(slot)
        pending, self.deferred = self.deferred, []
        for settle in pending:
            try:
                settle()
            except TransportError:
                self.deferred.append(settle)
        unsettled, self.unsettled = self.unsettled, []
        for job, result, retry_at in unsettled:
            if now >= retry_at:
                self._settle_retry(job, result)
            else:
                self.unsettled.append((job, result, retry_at))

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now < self.next_heartbeat:
            return
        self.next_heartbeat = now + jobqueue_settings.HEARTBEAT
        held = [s.job for s in self.slots if s.job is not None and s.phase in (RUNNING, RECORDING)]
        held += [job for slot in self.slots for job, _ in slot.queued]
        held += [job for job, _, _ in self.unsettled]
        held += self.batch.held()
        running = [(s.job, s.started_at) for s in self.slots if s.job and s.phase == RUNNING]
        try:
            if held:
                for job in self.transport.renew(held, jobqueue_settings.LEASE):
                    logger.warning("lease lost: id=%s queue=%s (it may run twice)",
                                   printable(job.id), job.queue)
        finally:
            # Never raises; after the renewal, which matters more to the running jobs.
            self.presence.publish(self.jobs_started - len(running), running)

    def _maintenance(self) -> None:
        now = time.monotonic()
        if now < self.next_maintenance:
            return
        interval = jobqueue_settings.MAINTENANCE_INTERVAL
        self.next_maintenance = now + interval * random.uniform(0.8, 1.2)
        self.presence.prune()
        token = f"{self.name[:50]}:m{next(self._tokens)}"
        for job in self.transport.collect(self.queues, 100, jobqueue_settings.LEASE, token):
            logger.warning("abandoned job collected: id=%s queue=%s attempt=%d",
                           printable(job.id), job.queue, job.attempts)
            self._system_failure(
                job, "AbandonedJobError",
                f"the job's lease expired: its worker stopped without finishing it"
                f" (collected by {self.name})",
            )
        moved = service.move_fallback()
        if moved:
            logger.info("moved %d failed jobs from the redis fallback to the database", moved)

    # -- shutdown --------------------------------------------------------------------------
    def _shutdown(self) -> None:
        for slot in self.slots:
            if slot.horse is not None and slot.phase in (RUNNING, HOOK):
                slot.horse.kill()
            if slot.phase == RUNNING and slot.job is not None:
                self._hand_back(slot.job)
            self._return_queued(slot)
        self._guarded(self._hand_back_prefetched)
        self._guarded(lambda: self._settle_batch(force=True))
        self._guarded(lambda: self._retry_deferred(force=True))
        for slot in self.slots:
            if slot.phase == RECORDING and slot.job is not None:
                self._hand_back(slot.job)
        self._stop_horses()
        self.presence.withdraw()
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        os.close(self._wakeup_r)
        os.close(self._wakeup_w)

    def _hand_back(self, job: Reserved, why: str = "interrupted by shutdown") -> None:
        try:
            self.transport.release(job, 0, undo_attempt=True)
            logger.warning("job %s, released: id=%s", why, printable(job.id))
        except TransportError as exc:
            logger.warning(
                "could not release id=%s (its lease will expire): %s", printable(job.id), exc
            )

    def _stop_horses(self) -> None:
        horses = [slot.horse for slot in self.slots if slot.horse is not None]
        for horse in horses:
            with contextlib.suppress(OSError):
                horse.send({"op": "stop"})
        deadline = time.monotonic() + 5.0
        for horse in horses:
            while time.monotonic() < deadline and os.waitpid(horse.pid, os.WNOHANG) == (0, 0):
                time.sleep(0.01)
            horse.kill()
            horse.reap()

    @staticmethod
    def _guarded(step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:
            logger.warning("during shutdown: %s", exc)

