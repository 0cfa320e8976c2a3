"""Prometheus metrics of the worker (the ``metrics`` extra: ``django-jobqueue[metrics]``).

A supervisor started with ``METRICS_PORT`` (or ``runworker --metrics-port``) counts what it
settles in plain dictionaries: a few hundred nanoseconds per job, so the hot path stays as
fast as without metrics. Nothing is converted to Prometheus objects until a scrape asks: the
collector in :mod:`.collector` reads the counts, and :mod:`.server` answers the scrape from
the supervisor's own loop (no thread: the supervisor forks its work horses, and forking a
process with a running thread is asking for deadlocks).

When metrics are off, every ``record_*`` call is one ``None`` check.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

# Seconds: from the empty job (tens of microseconds) to the long report (minutes).
DURATION_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)
OUTCOMES = ("succeeded", "retried", "failed")
_STATUS = {"ok": "succeeded", "retry": "retried", "failed": "failed"}


@dataclass
class Durations:
    """A histogram's state: one count per bucket (plus +Inf), and the sum."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.total += seconds


class Counts:
    """Everything one worker process counted since it started."""

    def __init__(self, connection: str) -> None:
        self.connection = connection
        # (queue, job class, outcome) -> attempts
        self.attempts: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.durations: defaultdict[tuple[str, str], Durations] = defaultdict(Durations)
        # (queue, kind) -> attempts ended by the worker (WorkHorseKilled, JobTimeout, ...)
        self.system: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.fallbacks = 0


_counts: Counts | None = None


def activate(connection: str) -> Counts:
    """Start counting in this process (the supervisor calls it when metrics are on)."""
    global _counts
    _counts = Counts(connection)
    return _counts


def deactivate() -> None:
    global _counts
    _counts = None


def current() -> Counts | None:
    """The counts of this process, or ``None`` when metrics are off."""
    return _counts


def record_attempt(queue: str, job_class: str, status: str, seconds: float | None) -> None:
    """An attempt ended with ``status`` ("ok", "retry" or "failed") after ``seconds``."""
    counts = _counts
    if counts is None:
        return
    counts.attempts[(queue, job_class, _STATUS.get(status, status))] += 1
    if seconds is not None:
        counts.durations[(queue, job_class)].observe(seconds)


def record_system_failure(queue: str, job_class: str, kind: str, retried: bool) -> None:
    """The worker ended an attempt itself: a killed horse, a hard timeout, an abandoned job."""
    counts = _counts
    if counts is None:
        return
    counts.attempts[(queue, job_class, "retried" if retried else "failed")] += 1
    counts.system[(queue, kind)] += 1


def record_fallbacks(count: int) -> None:
    """``count`` failures went to the Redis fallback because the table did not answer."""
    counts = _counts
    if counts is not None:
        counts.fallbacks += count


__all__ = [
    "DURATION_BUCKETS",
    "Counts",
    "activate",
    "current",
    "deactivate",
    "record_attempt",
    "record_fallbacks",
    "record_system_failure",
]
