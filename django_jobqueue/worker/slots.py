"""Work-horse slots and the limits a supervisor enforces on them.

A slot is one horse and what it is doing. The supervisor kills a horse that overruns its
job's timeout plus ``TIMEOUT_GRACE`` or passes the memory limit, and turns a horse's wait
status and rusage into the death details stored with the failure.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any

from ..conf import jobqueue_settings
from ..logutil import exception_for_log
from ..transports import Reserved
from .execute import rebuild
from .handlers import WorkHorseKilledHandler
from .horse import Horse, resident_kb

logger = logging.getLogger("django_jobqueue.worker")

IDLE, RUNNING, RECORDING, HOOK = "idle", "running", "recording", "hook"


@dataclass
class Slot:
    """One work horse and what it is doing."""

    horse: Horse | None = None
    phase: str = IDLE
    job: Reserved | None = None
    timeout: float = 0.0
    deadline: float | None = None
    kill_reason: tuple[str, str] | None = None
    result: dict[str, Any] | None = None
    retry_at: float = 0.0
    started_at: float = 0.0  # wall clock, for the worker registry


def enforce_limits(slots: list[Slot], memory_limit_mb: float | None, now: float) -> None:
    """Kill horses past their deadline (timeout + grace) or over the memory limit; the
    reason is kept on the slot for the failure record."""
    limit_kb = (memory_limit_mb or 0) * 1024
    for slot in slots:
        if slot.horse is None or slot.phase not in (RUNNING, HOOK) or slot.kill_reason:
            continue
        if slot.deadline is not None and now >= slot.deadline:
            grace = jobqueue_settings.TIMEOUT_GRACE
            slot.kill_reason = (
                "JobTimeout",
                f"job exceeded its timeout of {slot.timeout:g}s and did not stop within"
                f" {grace:g}s: work horse killed",
            )
            slot.horse.kill()
        elif limit_kb and slot.phase == RUNNING:
            rss = resident_kb(slot.horse.pid)
            if rss > limit_kb:
                slot.kill_reason = (
                    "WorkHorseKilled",
                    f"work horse used {rss // 1024} MB, over the memory limit of"
                    f" {memory_limit_mb:g} MB: killed",
                )
                slot.horse.kill()


def call_killed_handler(
    handler: WorkHorseKilledHandler | None, job: Reserved, pid: int, status: int, rusage: Any
) -> None:
    """RQ's work-horse-killed handler: ``(job, retpid, ret_val, rusage)``, in the supervisor
    (the horse is gone). ``job`` is rebuilt from the payload, or None if it cannot be."""
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
        logger.error("work-horse-killed handler raised: %s", exception_for_log(error))


def death_details(status: int, rusage: Any) -> dict[str, Any]:
    """Exit code, signal and peak memory of a dead horse, as failure records keep them."""
    return {
        "exit_code": os.waitstatus_to_exitcode(status) if status else None,
        "term_signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "max_rss_kb": getattr(rusage, "ru_maxrss", None),
    }


def timeout_of(raw: str, default: float) -> float:
    try:
        value = json.loads(raw).get("timeout")
    except (ValueError, AttributeError, RecursionError):
        value = None
    try:
        timeout = float(value or default)
    except (TypeError, ValueError):
        return default
    return timeout if 0 < timeout < float("inf") else default


def describe(status: int, pid: int | None = None) -> str:
    who = f"work horse pid {pid}" if pid else "work horse"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
        return f"{who} was killed by signal {sig} ({name})"
    if os.WIFEXITED(status):
        return f"{who} exited unexpectedly with code {os.WEXITSTATUS(status)}"
    return f"{who} ended (status {status})"
