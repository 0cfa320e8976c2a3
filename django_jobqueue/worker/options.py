"""Worker options: the command line's and the settings', resolved once at start."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from ..conf import jobqueue_settings


@dataclass
class WorkerOptions:
    """Everything ``runworker`` can set; ``None`` means "use the setting"."""

    queues: list[str] = field(default_factory=list)
    connection: str | None = None
    burst: bool = False
    max_jobs: int | None = None
    max_time: float | None = None
    sleep: float | None = None
    concurrency: int = 1
    timeout: float | None = None
    exception_handlers: list[str] = field(default_factory=list)
    disable_default_exception_handler: bool | None = None
    work_horse_killed_handler: str | None = None
    name: str | None = None
    shutdown_timeout: float | None = None
    memory_limit_mb: float | None = None
    horse_max_jobs: int | None = None
    horse_max_memory_mb: float | None = None
    prefetch: int | None = None
    metrics_port: int | None = None
    store_wait: float | None = None
    #: Fire the schedule's periodic jobs (never in a ``--burst`` worker).
    scheduler: bool = True

    def resolved(self) -> WorkerOptions:
        """A copy with every ``None`` filled in from settings."""
        s = jobqueue_settings
        return WorkerOptions(
            queues=list(self.queues) or [s.DEFAULT_QUEUE],
            connection=self.connection or s.DEFAULT_CONNECTION,
            burst=self.burst,
            max_jobs=self.max_jobs,
            max_time=self.max_time,
            sleep=s.SLEEP if self.sleep is None else self.sleep,
            concurrency=max(1, self.concurrency),
            timeout=self.timeout or s.DEFAULT_TIMEOUT,
            exception_handlers=list(self.exception_handlers),
            disable_default_exception_handler=(
                not s.DEFAULT_EXCEPTION_HANDLER
                if self.disable_default_exception_handler is None
                else self.disable_default_exception_handler
            ),
            work_horse_killed_handler=self.work_horse_killed_handler
            or s.WORK_HORSE_KILLED_HANDLER,
            name=self.name or f"{socket.gethostname()[:40]}.{os.getpid()}",
            shutdown_timeout=(
                s.SHUTDOWN_TIMEOUT if self.shutdown_timeout is None else self.shutdown_timeout
            ),
            memory_limit_mb=self.memory_limit_mb or s.HORSE_MEMORY_LIMIT_MB,
            horse_max_jobs=self.horse_max_jobs or s.HORSE_MAX_JOBS,
            horse_max_memory_mb=self.horse_max_memory_mb or s.HORSE_MAX_MEMORY_MB,
            prefetch=_prefetch(self.prefetch, s.PREFETCH, max(1, self.concurrency)),
            metrics_port=s.METRICS_PORT if self.metrics_port is None else self.metrics_port,
            store_wait=BURST_STORE_WAIT if self.store_wait is None else self.store_wait,
            scheduler=self.scheduler and not self.burst,
        )


PREFETCH_PER_HORSE = 32
#: Seconds a ``--burst`` worker waits for a store that does not answer before it gives up.
BURST_STORE_WAIT = 30.0


def _prefetch(flag: int | None, setting: int | None, concurrency: int) -> int:
    # 32 per horse: a horse busy with short jobs keeps up to 16 of them queued (INBOX_MAX)
    # and a refill is asked for when half are left, so the horse still has 16 jobs to run
    # while the supervisor waits for the store (bench/drain.py, Redis, one horse: 4 per
    # horse gave ~7,200 jobs/s, 16 ~12,300, 32 ~17,000 on a quiet machine). Long jobs are not
    # queued in horses, and prefetched ones are handed back after PREFETCH_HOLD.
    for value in (flag, setting):
        if value is not None:
            return max(int(value), 0)
    return PREFETCH_PER_HORSE * concurrency


def number_type(
    kind: type[int] | type[float], *, minimum: float, strict: bool = False,
    maximum: float | None = None,
) -> Callable[[str], float]:
    """An argparse ``type`` accepting ``kind`` values >= ``minimum`` (> with ``strict``), so
    ``--concurrency 0`` is refused with a message instead of silently meaning something."""
    word = "a whole number" if kind is int else "a number"
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
    if maximum is not None:
        bound += f" and <= {maximum:g}"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {word} {bound}, not {text!r}") from None
        too_big = maximum is not None and value > maximum
        if value < minimum or (strict and value == minimum) or too_big:
            raise argparse.ArgumentTypeError(f"must be {word} {bound}, not {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


POSITIVE_INT = number_type(int, minimum=1)
NON_NEGATIVE_INT = number_type(int, minimum=0)
POSITIVE = number_type(float, minimum=0, strict=True)
NON_NEGATIVE = number_type(float, minimum=0)
