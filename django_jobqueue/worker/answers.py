"""The supervisor's side of its horses' answers: results, skipped jobs, finished hooks and
horses that died, and the outcomes (retries, failures) those answers leave it owing.

A horse answers its ops in the order they were sent (see ``slots.Slot``). An outcome is
settled by the supervisor, never by a horse: a retry is released, a failure is recorded and
the job removed, and only then does the horse that ran it call its ``failed()`` hook. A store
that does not answer leaves the outcome owed, its lease renewed, until it does.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait as wait_for_ready
from typing import TYPE_CHECKING, Any

from .. import metrics
from ..exceptions import TransportError
from ..logutil import exception_for_log, log_event
from ..transports import Reserved, Transport
from .batch import Batch
from .bookkeeper import Bookkeeper
from .handlers import WorkHorseKilledHandler
from .options import WorkerOptions
from .owed import Outcomes, Owed
from .slots import (
    HOOK,
    Op,
    Slot,
    call_killed_handler,
    death_details,
    describe,
    timeout_of,
)

if TYPE_CHECKING:
    from ..metrics.server import MetricsServer


logger = logging.getLogger("django_jobqueue.worker")

# Answers read from one horse in a turn before the loop moves on.
_READ_AT_ONCE = 64
# Seconds before an outcome the store refused is tried again.
_RETRY_OWED = 2.0


class Answers:
    """Reads horse answers and settles what they leave owed (mixed into ``Supervisor``)."""

    name: str
    options: WorkerOptions
    transport: Transport
    books: Bookkeeper
    slots: list[Slot]
    batch: Batch
    owed: Outcomes
    hooks: deque[dict[str, Any]]
    deferred: list[tuple[Reserved, Callable[[], None]]]
    jobs_started: int
    killed_handler: WorkHorseKilledHandler | None
    _wakeup_r: int
    metrics_server: MetricsServer | None

    if TYPE_CHECKING:  # defined by the other parts of Supervisor
        def _wait_timeout(self) -> float | None: ...
        def _drain_wakeup(self) -> None: ...
        def _hand_back(self, job: Reserved, why: str = ...) -> None: ...

    def _wait_and_read(self) -> None:
        conns = {slot.horse.conn: slot for slot in self.slots if slot.horse is not None}
        timeout = self._wait_timeout()
        if timeout is None:
            # Fully idle with a transport that can wake us: block in the store itself.
            self.transport.wait(self.options.queues, min(float(self.options.sleep or 1.0), 0.5))
            timeout = 0.0
        metrics_server = self.metrics_server
        scrapes = ([metrics_server] if metrics_server is not None
                   and metrics_server.listening(time.monotonic()) else [])
        ready = wait_for_ready([*conns, self._wakeup_r, *scrapes], timeout)
        if self._wakeup_r in ready:
            self._drain_wakeup()
        if scrapes and scrapes[0] in ready:
            scrapes[0].serve_ready()
        for conn in ready:
            slot = conns.get(conn)  # type: ignore[call-overload]
            if slot is not None:
                self._read_all(slot)

    def _read_all(self, slot: Slot) -> None:
        # A horse with queued work may have answered several times since the last turn.
        for _ in range(_READ_AT_ONCE):
            self._read(slot)
            if slot.horse is None or not slot.horse.conn.poll():
                return

    def _read(self, slot: Slot) -> None:
        assert slot.horse is not None
        try:
            message = slot.horse.recv()
        except (EOFError, OSError):
            self._horse_ended(slot)
            return
        op = message["op"]
        job = slot.job
        if op in ("result", "skipped") and job is not None and message.get("id") == job.id:
            if op == "result":
                self._on_result(slot, message)
            else:
                self._on_skipped(slot)
        elif op == "hook_done" and slot.phase == HOOK:
            self._advance(slot, time.monotonic())
        else:
            # Never expected: the books no longer match the horse. Killing it is safe (what
            # it ran is settled as killed, what was queued goes back); going on is not.
            log_event(logger, logging.ERROR, "unexpected_answer", pid=slot.horse.pid, op=op,
                      id=message.get("id"), phase=slot.phase, action="kill")
            slot.kill(("WorkHorseKilled", "its answers did not match what it was sent"))

    def _on_result(self, slot: Slot, result: dict[str, Any]) -> None:
        assert slot.horse is not None and slot.job is not None
        now, job = time.monotonic(), slot.job
        if result.get("recycle"):
            slot.horse.exiting = True
            self._return_queued(slot)
        self.batch.paused = False  # a horse is free: prefetching may resume
        metrics.record_attempt(job.queue, result.get("job", "unknown"), result["status"],
                               now - slot.began)
        if result["status"] == "ok":
            self.batch.ack(job, now)
        else:
            self.owed.add(Owed(job, result, slot.horse.pid))
        self._advance(slot, now)

    def _on_skipped(self, slot: Slot) -> None:
        """The horse did not start its job (the worker is stopping): hand it back."""
        assert slot.job is not None
        job = slot.job
        self.batch.unmark(job)
        self.jobs_started -= 1
        self._hand_back(job, "skipped: the worker is stopping")
        self._advance(slot, time.monotonic(), ran=False)

    def _advance(self, slot: Slot, now: float, ran: bool = True) -> None:
        """The horse answered its first op; a job queued behind it begins now."""
        slot.pop(now, time.time(), ran)
        if slot.job is not None:
            self.batch.mark(slot.job, now)  # queued jobs came from the prefetch

    def _return_queued(self, slot: Slot) -> None:
        """Jobs queued in a horse that will not run them go back first in line."""
        jobs = slot.take_queued_runs()
        if jobs:
            # Routine when a horse is recycled; worth a line when one died.
            level = logging.DEBUG if slot.horse is not None and slot.horse.exiting else logging.INFO
            log_event(logger, level, "queued_jobs_returned", count=len(jobs))
            self.jobs_started -= len(jobs)
            self.batch.put_back(jobs, time.monotonic())

    # -- outcomes ----------------------------------------------------------------------------
    def _settle_owed(self) -> None:
        """Release retries and record failures; a failure's hook is queued once recorded."""
        now = time.monotonic()
        due = self.owed.take_due(now)
        retries = [item for item in due if item.result["status"] == "retry"]
        for n, item in enumerate(retries):
            if not self._settle_now([item], now, self._release_retry):
                self._later(retries[n + 1:], now)  # the store does not answer: no more asks
                break
        failures = [item for item in due if item.result["status"] != "retry"]
        alone = [item for item in failures if item.alone]
        together = [item for item in failures if not item.alone]
        for item in alone:
            self._settle_now([item], now, self._record_failures)
        if together and not self._settle_now(together, now, self._record_failures):
            for item in together:  # waiting already; next time each is tried by itself
                item.alone = len(together) > 1

    def _release_retry(self, items: list[Owed]) -> None:
        for item in items:
            self.books.settle(item.job, item.result)

    def _record_failures(self, failures: list[Owed]) -> None:
        unrecorded = [item for item in failures if item.info is None]
        if unrecorded:
            infos = self.books.record_failures([(i.job, i.result, {}) for i in unrecorded])
            for item, info in zip(unrecorded, infos, strict=True):
                item.info = info
        self.books.remove([item.job for item in failures])
        for item in failures:
            assert item.info is not None
            self._queue_hook(item, item.info)

    def _settle_now(
        self, items: list[Owed], now: float, settle: Callable[[list[Owed]], None]
    ) -> bool:
        """``settle(items)``; if that fails, they wait and try again (never dropped: an error
        that is not the store's is logged with its traceback and retried all the same)."""
        try:
            settle(items)
            return True
        except TransportError as exc:
            log_event(logger, logging.WARNING, "outcome_deferred", count=len(items),
                      first_id=items[0].job.id, error=exc)
        except Exception as error:
            log_event(logger, logging.ERROR, "outcome_deferred", count=len(items),
                      first_id=items[0].job.id, error=type(error).__name__,
                      traceback=exception_for_log(error))
        self._later(items, now)
        return False

    def _later(self, items: list[Owed], now: float) -> None:
        for item in items:
            item.due = now + _RETRY_OWED
            self.owed.add(item)

    def _queue_hook(self, item: Owed, failed_job: dict[str, Any]) -> None:
        """Have ``failed()`` called: by the horse that ran the job (it holds the exception),
        else by any free horse with a stand-in exception."""
        result, job = item.result, item.job
        timeout = timeout_of(job.payload, float(self.options.timeout or 0))
        hook = {
            "op": "hook", "id": job.id, "failed_job": failed_job, "payload": result["payload"],
            "attempts": job.attempts, "worker": self.name,
            "exception_class": result["exception_class"], "message": result["message"],
            "timeout": timeout,
        }
        for slot in self.slots:
            if slot.horse is not None and slot.horse.pid == item.horse_pid:
                # The horse has the job and its exception: a short message, so a send to a
                # busy horse never blocks on its socket's buffer.
                short = {"op": "hook", "id": job.id, "failed_job": failed_job,
                         "timeout": timeout}
                self._send_hook(slot, hook, short)
                return
        self.hooks.append(hook)

    def _send_hook(
        self, slot: Slot, hook: dict[str, Any], short: dict[str, Any] | None = None
    ) -> None:
        """Send ``hook`` (or its ``short`` form) to the slot's horse; the whole message is
        kept, to send to another horse if this one dies first."""
        assert slot.horse is not None
        hook["worker"] = self.name
        hook.setdefault("timeout", self.options.timeout)
        try:
            size = slot.horse.send(short or hook)
        except OSError:
            # The horse is gone; its end of the socket is read next and it is reaped.
            slot.horse.exiting = True
            self.hooks.append(hook)
            return
        op = Op(None, float(hook["timeout"] or 0), hook, size=size)
        slot.push(op, time.monotonic(), time.time())

    # -- horses that end ---------------------------------------------------------------------
    def _horse_ended(self, slot: Slot) -> None:
        assert slot.horse is not None
        horse, slot.horse = slot.horse, None
        status, rusage = horse.reap()
        self._return_queued(slot)  # answers come in order: the queued jobs never began
        kill_reason, killed_op = slot.kill_reason, slot.killed_op
        first, queued = slot.take_all()
        for op in queued:  # hooks sent but not reached: any horse can call them
            if op.message is not None:
                self.hooks.append(op.message)
        if first is not None and killed_op is not None and first is not killed_op:
            # Killed for an op whose answer was still in the socket: this one is not to
            # blame (it began at most an instant before the kill).
            self._not_to_blame(first)
        elif first is not None and first.job is not None:
            self._horse_killed(first.job, kill_reason, horse.pid, status, rusage)
        elif first is not None:
            self._hook_died(first, kill_reason, horse.pid)
        elif not horse.exiting:
            log_event(logger, logging.WARNING, "idle_horse_ended", pid=horse.pid,
                      status=describe(status))

    def _not_to_blame(self, op: Op) -> None:
        if op.job is not None:
            self.batch.unmark(op.job)
            self.jobs_started -= 1
            self._hand_back(op.job, "not started: its horse was killed for the job before")
        elif op.message is not None:
            self.hooks.append(op.message)

    def _hook_died(self, op: Op, kill_reason: tuple[str, str] | None, pid: int) -> None:
        # Called once more in another horse, unless the hook itself overran or had its
        # second chance: a hook that kills its horse must not loop.
        message = op.message
        if message is None or kill_reason is not None or message.get("again"):
            log_event(logger, logging.WARNING, "horse_died_in_hook", pid=pid, again=False)
            return
        log_event(logger, logging.WARNING, "horse_died_in_hook", pid=pid, again=True)
        message["again"] = True
        self.hooks.append(message)

    def _horse_killed(
        self, job: Reserved, kill_reason: tuple[str, str] | None, pid: int, status: int,
        rusage: Any,
    ) -> None:
        kind, message = kill_reason or ("WorkHorseKilled", describe(status, pid))
        call_killed_handler(self.killed_handler, job, pid, status, rusage)
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
            log_event(logger, logging.WARNING, "outcome_deferred", count=1, first_id=job.id,
                      error=exc)
            self.deferred.append((job, settle))

    def _send_hooks(self, idle: list[Slot]) -> None:
        """Hooks waiting for a free horse go first."""
        while idle and self.hooks:
            self._send_hook(idle.pop(0), self.hooks.popleft())


__all__ = ["Answers"]
