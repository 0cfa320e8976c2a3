"""Work-horse slots and the limits a supervisor enforces on them.

A slot is one horse and what it is doing. The supervisor kills a horse that overruns its
job's timeout plus ``TIMEOUT_GRACE`` or passes the memory limit, and turns a horse's wait
status and rusage into the death details stored with the failure.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..conf import jobqueue_settings
from ..logutil import exception_for_log, log_event
from .claim import Claim
from .execute import rebuild
from .handlers import WorkHorseKilledHandler
from .horse import Horse, resident_kb
from .protocol import Hook, SystemFailure

logger = logging.getLogger("django_jobqueue.worker")

IDLE, RUNNING, HOOK = "idle", "running", "hook"

# A horse is handed jobs ahead of the one it runs only while its jobs are short: so many that
# together they are expected to take at most this long (seconds). A job that turns out long
# makes those queued behind it wait for it, so the budget stays small.
INBOX_BUDGET = 0.02
# And never more than this many, whatever the prefetch: the rest wait in the supervisor,
# where PREFETCH_HOLD can still hand them back.
INBOX_MAX = 16
# Nor more bytes of messages than this: far below a socket's buffer, so a send to a busy
# horse never blocks (a horse blocked sending a large result while the supervisor is
# blocked sending to it would hang both).
INBOX_BYTES = 64 * 1024
# Weight of the newest duration in a slot's running average.
_NEWEST = 0.2


@dataclass
class Op:
    """Something sent to a horse: a job to run, or a hook to call (a failed job's
    ``failed()``, or the handlers and hooks of a failure the supervisor saw)."""

    job: Claim | None  # None for a hook
    timeout: float
    message: Hook | SystemFailure | None = None  # a hook, to send again if need be
    size: int = 0  # bytes sent


@dataclass
class Slot:
    """One work horse and what it was sent. A horse works through its ops in the order they
    were sent and answers each in that order, so the first op is what it does now."""

    horse: Horse | None = None
    ops: deque[Op] = field(default_factory=deque)
    deadline: float | None = None  # for the first op: its timeout plus the grace
    # Why the supervisor killed the horse, and the op it killed it for: answers already
    # in the socket may be read after the kill, and must not pin it on the next op.
    kill_reason: tuple[str, str] | None = None
    killed_op: Op | None = None
    started_at: float = 0.0  # wall clock, for the worker registry
    began: float = 0.0  # monotonic, when the horse took up the first op
    # When the running job, cancelled, is killed unless it ended (monotonic; None: not).
    cancel_at: float | None = None
    typical: float | None = None  # running average of this slot's job durations (s)

    @property
    def phase(self) -> str:
        if not self.ops:
            return IDLE
        return RUNNING if self.ops[0].job is not None else HOOK

    @property
    def job(self) -> Claim | None:
        """The job the horse runs now, if it runs one."""
        return self.ops[0].job if self.ops else None

    @property
    def timeout(self) -> float:
        return self.ops[0].timeout if self.ops else 0.0

    def jobs(self) -> list[Claim]:
        """Every job sent to the horse and not answered, the running one first."""
        return [op.job for op in self.ops if op.job is not None]

    def queued_runs(self) -> int:
        return sum(1 for op in itertools.islice(self.ops, 1, None) if op.job is not None)

    def queued_jobs(self) -> list[Claim]:
        """Prefetched jobs queued behind the first op: not started yet."""
        return [op.job for op in itertools.islice(self.ops, 1, None) if op.job is not None]

    def queued_bytes(self) -> int:
        return sum(op.size for op in itertools.islice(self.ops, 1, None))

    def inbox_room(self, cap: int, now: float) -> int:
        """How many more jobs the horse may be handed ahead of the one it runs."""
        if self.phase != RUNNING or self.horse is None or self.horse.exiting:
            return 0
        # Nothing known yet, or the job it runs is already long: queue nothing behind it.
        if self.typical is None or now - self.began > INBOX_BUDGET:
            return 0
        depth = min(cap, INBOX_MAX, int(INBOX_BUDGET / max(self.typical, 1e-6)))
        return max(depth - self.queued_runs(), 0)

    def kill(self, reason: tuple[str, str]) -> None:
        """Kill the horse for its first op."""
        assert self.horse is not None
        self.kill_reason, self.killed_op = reason, self.ops[0] if self.ops else None
        self.horse.kill()

    def push(self, op: Op, now: float, wall: float) -> None:
        """``op`` was sent to the horse; a horse with nothing to do takes it up at once."""
        self.ops.append(op)
        if len(self.ops) == 1:
            self._begin(now, wall)

    def pop(self, now: float, wall: float, ran: bool = True) -> Op:
        """The horse answered its first op (``ran``: a job that ran, not one it skipped);
        returns it. The next op, if any, begins now."""
        done = self.ops.popleft()
        if done.job is not None and ran:
            took = now - self.began
            self.typical = took if self.typical is None else (
                (1 - _NEWEST) * self.typical + _NEWEST * took
            )
        if self.ops:
            self._begin(now, wall)
        else:
            self.deadline = self.cancel_at = None
        return done

    def _begin(self, now: float, wall: float) -> None:
        self.cancel_at = None
        self.deadline = now + self.ops[0].timeout + jobqueue_settings.TIMEOUT_GRACE
        self.started_at, self.began = wall, now

    def take_queued_runs(self) -> list[Claim]:
        """Remove the jobs queued behind the first op (the horse will not run them: it
        died, exits or the worker stops) and return them; queued hooks stay."""
        if len(self.ops) < 2:
            return []
        first, rest = self.ops[0], list(itertools.islice(self.ops, 1, None))
        self.ops = deque([first, *(op for op in rest if op.job is None)])
        return [op.job for op in rest if op.job is not None]

    def take_all(self) -> tuple[Op | None, list[Op]]:
        """Empty the slot (its horse is gone): the first op and the ones behind it. The
        kill, if any, is forgotten: the next horse starts clean."""
        ops = list(self.ops)
        self.ops.clear()
        self.deadline, self.kill_reason, self.killed_op = None, None, None
        self.cancel_at = None
        return (ops[0] if ops else None), ops[1:]


def enforce_limits(slots: list[Slot], memory_limit_mb: float | None, now: float) -> None:
    """Kill horses past their deadline (timeout + grace) or over the memory limit; the
    reason is kept on the slot for the failure record."""
    limit_kb = (memory_limit_mb or 0) * 1024
    for slot in slots:
        if slot.horse is None or slot.phase not in (RUNNING, HOOK) or slot.kill_reason:
            continue
        if slot.deadline is not None and now >= slot.deadline:
            grace = jobqueue_settings.TIMEOUT_GRACE
            slot.kill((
                "JobTimeout",
                f"job exceeded its timeout of {slot.timeout:g}s and did not stop within"
                f" {grace:g}s: work horse killed",
            ))
        elif limit_kb and slot.phase == RUNNING:
            rss = resident_kb(slot.horse.pid)
            if rss > limit_kb:
                slot.kill((
                    "WorkHorseKilled",
                    f"work horse used {rss // 1024} MB, over the memory limit of"
                    f" {memory_limit_mb:g} MB: killed",
                ))


def call_killed_handler(
    handler: WorkHorseKilledHandler | None, job: Claim, pid: int, status: int, rusage: Any
) -> None:
    """RQ's work-horse-killed handler: ``(job, retpid, ret_val, rusage)``, in the supervisor
    (the horse is gone). ``job`` is rebuilt from the payload (job code gets a copy of its
    own, never the claim's), or None if it cannot be."""
    if handler is None:
        return
    try:
        _, instance = rebuild(job.payload)
        instance.attempt, instance.job_id = job.attempts, job.id
    except Exception:
        instance = None
    try:
        handler(instance, pid, status, rusage)
    except Exception as error:
        log_event(logger, logging.ERROR, "killed_handler_raised", id=job.id,
                  error=type(error).__name__, traceback=exception_for_log(error))


def death_details(status: int, rusage: Any) -> dict[str, Any]:
    """Exit code, signal and peak memory of a dead horse, as failure records keep them."""
    return {
        "exit_code": os.waitstatus_to_exitcode(status) if status else None,
        "term_signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "max_rss_kb": getattr(rusage, "ru_maxrss", None),
    }


def describe(status: int, pid: int | None = None) -> str:
    who = f"work horse pid {pid}" if pid else "work horse"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
        return f"{who} was killed by signal {sig} ({name})"
    if os.WIFEXITED(status):
        return f"{who} exited unexpectedly with code {os.WEXITSTATUS(status)}"
    return f"{who} ended (status {status})"
