"""What reads the horses' answers, and notices the horses that die.

A horse answers its messages in the order they were sent (see ``slots.Slot``), so each
answer is matched to the first op of its slot. A result becomes an outcome (``outcomes``):
a success to ack, a failure the store must take. A job a horse skipped, or never began
because its horse died, goes back to the store uncharged. A horse that died running a job
(killed for its timeout or memory, or by the system) ends that attempt: the supervisor
decides it as a horse would, and it is settled like any other failure.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from multiprocessing.connection import wait as wait_for_ready
from typing import TYPE_CHECKING, Any

from .. import metrics
from ..failures.record import outcome_of
from ..logutil import log_event
from .claim import Claim
from .feeder import Feeder
from .gate import Gate
from .handlers import WorkHorseKilledHandler
from .outcomes import Ended, Outcomes, Owed
from .protocol import Hook, HookDone, Result, Skipped, SystemFailure
from .slots import HOOK, Op, Slot, call_killed_handler, death_details, describe

if TYPE_CHECKING:
    from ..metrics.server import MetricsServer

logger = logging.getLogger("django_jobqueue.worker")

# Answers read from one horse in a turn before the loop moves on.
_READ_AT_ONCE = 64
# How log lines name the answers (as the wire named them before it was typed).
_NAMES = {Result: "result", Skipped: "skipped", HookDone: "hook_done"}


class Reader:
    """Reads the answers of the horses in ``slots`` for worker ``worker``."""

    def __init__(
        self, slots: list[Slot], feeder: Feeder, outcomes: Outcomes, worker: str,
        killed_handler: WorkHorseKilledHandler | None, wakeup_fd: int,
        metrics_server: MetricsServer | None, gate: Gate,
    ) -> None:
        self.slots, self.feeder, self.outcomes, self.worker = slots, feeder, outcomes, worker
        self.gate = gate
        self.killed_handler = killed_handler
        self.wakeup_fd, self.metrics_server = wakeup_fd, metrics_server

    def read(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for answers (or a signal, or a metrics scrape) and
        read every answer that came."""
        conns = {slot.horse.conn: slot for slot in self.slots if slot.horse is not None}
        server = self.metrics_server
        scrapes = [server] if server is not None and server.listening(time.monotonic()) else []
        ready = wait_for_ready([*conns, self.wakeup_fd, *scrapes], timeout)
        if self.wakeup_fd in ready:
            self._drain_wakeup()
        if scrapes and scrapes[0] in ready:
            scrapes[0].serve_ready()
        for conn in ready:
            slot = conns.get(conn)  # type: ignore[call-overload]
            if slot is not None:
                self._read_all(slot)

    def _drain_wakeup(self) -> None:
        try:
            while os.read(self.wakeup_fd, 512):
                pass
        except BlockingIOError:
            pass

    def _read_all(self, slot: Slot) -> None:
        # A horse with queued work may have answered several times since the last turn.
        for _ in range(_READ_AT_ONCE):
            self._read(slot)
            if slot.horse is None or not slot.horse.conn.poll():
                return

    def _read(self, slot: Slot) -> None:
        assert slot.horse is not None
        try:
            answer = slot.horse.recv()
        except (EOFError, OSError):
            self._horse_ended(slot)
            return
        claim = slot.job
        if isinstance(answer, Result) and claim is not None and answer.id == claim.id:
            self._on_result(slot, claim, answer)
        elif isinstance(answer, Skipped) and claim is not None and answer.id == claim.id:
            self._on_skipped(slot, claim, answer.late)
        elif isinstance(answer, HookDone) and slot.phase == HOOK:
            self._advance(slot, time.monotonic())
        else:
            # Never expected: the books no longer match the horse. Killing it is safe (what
            # it ran is settled as killed, what was queued goes back); going on is not.
            log_event(logger, logging.ERROR, "unexpected_answer", pid=slot.horse.pid,
                      op=_NAMES[type(answer)], id=answer.id, phase=slot.phase, action="kill")
            slot.kill(("WorkHorseKilled", "its answers did not match what it was sent"))

    def _on_result(self, slot: Slot, claim: Claim, result: Result) -> None:
        assert slot.horse is not None
        now = time.monotonic()
        if result.recycle:
            slot.horse.exiting = True
            self.feeder.return_queued(slot)
        self.feeder.horse_freed()
        metrics.record_attempt(claim.queue, result.job, result.status, now - slot.began)
        if result.failure is None:
            self.outcomes.succeeded(claim, now)
        elif (self.gate.cancelled(claim.id, claim.document)
              and outcome_of(result.failure.exception_class) == "failed"):
            # Cancelled while it ran, then failed: kept as cancelled, never retried, and no
            # failed(). One failed for good has its horse await a hook: that horse gets it,
            # and sends job_cancelled instead.
            ended = Ended("JobCancelled", f"cancelled while it ran; the attempt then failed"
                          f" with {result.failure.exception_class}: {result.failure.message}")
            owed = Owed.ended_by(claim, ended, self.worker)
            if not result.failure.retry:
                owed.ended, owed.horse_pid = None, slot.horse.pid
            self.outcomes.add(owed)
        else:
            self.outcomes.add(Owed.failed(claim, result.failure, result.job, slot.horse.pid))
        self.gate.ended(claim.id)
        self._advance(slot, now)

    def _on_skipped(self, slot: Slot, claim: Claim, late: bool) -> None:
        """The horse did not start its job (the worker is stopping, or the job waited in
        the horse's inbox past its lease's known end): hand it back."""
        why = "skipped: it waited too long behind another job" if late else (
            "skipped: the worker is stopping")
        self.feeder.not_started(claim, why)
        self._advance(slot, time.monotonic(), ran=False)

    def _advance(self, slot: Slot, now: float, ran: bool = True) -> None:
        """The horse answered its first op; a job queued behind it begins now."""
        slot.pop(now, time.time(), ran)
        if slot.job is not None:
            self.feeder.began(slot.job, now)  # queued jobs came from the prefetch

    # -- horses that end ---------------------------------------------------------------------
    def _horse_ended(self, slot: Slot) -> None:
        assert slot.horse is not None
        horse, slot.horse = slot.horse, None
        status, rusage = horse.reap()
        self.feeder.return_queued(slot)  # answers come in order: the queued jobs never began
        kill_reason, killed_op = slot.kill_reason, slot.killed_op
        first, queued = slot.take_all()
        for op in queued:  # hooks sent but not reached: any horse can call them
            if op.message is not None:
                self.feeder.hook(op.message)
        if first is not None and killed_op is not None and first is not killed_op:
            # Killed for an op whose answer was still in the socket: this one is not to
            # blame (it began at most an instant before the kill).
            self._not_to_blame(first)
        elif first is not None and first.job is not None:
            self._horse_killed(first.job, kill_reason, horse.pid, status, rusage)
        elif first is not None:
            self._hook_died(first.message, kill_reason, horse.pid)
        elif not horse.exiting:
            log_event(logger, logging.WARNING, "idle_horse_ended", pid=horse.pid,
                      status=describe(status))

    def _not_to_blame(self, op: Op) -> None:
        if op.job is not None:
            self.feeder.not_started(op.job, "not started: its horse was killed for the job before")
        elif op.message is not None:
            self.feeder.hook(op.message)

    def _hook_died(
        self, message: Hook | SystemFailure | None, kill_reason: tuple[str, str] | None,
        pid: int,
    ) -> None:
        # Called once more in another horse, unless the hook itself overran or had its
        # second chance: a hook that kills its horse must not loop.
        if message is None or kill_reason is not None or message.again:
            log_event(logger, logging.WARNING, "horse_died_in_hook", pid=pid, again=False)
            return
        log_event(logger, logging.WARNING, "horse_died_in_hook", pid=pid, again=True)
        self.feeder.hook(replace(message, again=True))

    def _horse_killed(
        self, claim: Claim, kill_reason: tuple[str, str] | None, pid: int, status: int,
        rusage: Any,
    ) -> None:
        kind, message = kill_reason or ("WorkHorseKilled", describe(status, pid))
        self.gate.ended(claim.id)
        if kind != "JobCancelled":  # a stop that was asked for is no crash
            call_killed_handler(self.killed_handler, claim, pid, status, rusage)
        ended = Ended(kind, message, death_details(status, rusage))
        self.outcomes.add(Owed.ended_by(claim, ended, self.worker))
