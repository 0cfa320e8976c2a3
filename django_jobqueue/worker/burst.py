"""What a ``--burst`` worker owes the person who started it, beyond running jobs: saying what
it is waiting for, and giving up on a store that does not answer.

A burst worker runs from cron, CI or a deploy script: it must end. It waits for delayed jobs
(retries in backoff), which can take minutes, so it says which jobs and when they are due
instead of going silent; and when its store has not answered for ``store_wait`` seconds it
stops with an error, where a long-running worker would wait for the store to come back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from ..logutil import log_event
from ..transports import DelayedJob, Transport

logger = logging.getLogger("django_jobqueue.worker")

#: Seconds between two "still waiting" lines of a burst worker.
REPORT_EVERY = 15.0
#: Delayed jobs named in each of those lines.
NAMED = 3


class StoreGaveUp(Exception):
    """The store of a burst worker did not answer for its whole ``store_wait``."""


class BurstWatch:
    """Tracks how long the store has failed, and when the worker last said what it waits for."""

    def __init__(self, transport: Transport, queues: Sequence[str], worker: str,
                 store_wait: float) -> None:
        self.transport, self.queues, self.worker = transport, list(queues), worker
        self.store_wait = store_wait
        self.down_since: float | None = None
        self.last_error: BaseException | None = None
        self.next_report = 0.0
        self.reported_at_jobs = 0

    def store_failed(self, now: float, error: BaseException) -> None:
        """A step could not reach the store; the streak starts at the first such step."""
        if self.down_since is None:
            self.down_since = now
        self.last_error = error

    def store_answered(self) -> None:
        """The store served a reservation or a size: the streak of failures is over."""
        self.down_since = None

    def check_store(self, now: float) -> None:
        """Raise :class:`StoreGaveUp` (after logging why) once the store has failed for
        longer than ``store_wait``."""
        if self.down_since is None or now - self.down_since < self.store_wait:
            return
        error = self.last_error
        reason = f"{type(error).__name__}: {error}" if error is not None else "no answer"
        message = (f"the store of connection {self.transport.name!r} has not answered for"
                   f" {self.store_wait:g} s ({reason}); a --burst worker gives up")
        log_event(logger, logging.ERROR, "burst_gave_up", worker=self.worker,
                  connection=self.transport.name, waited=round(now - self.down_since, 1),
                  error=reason)
        raise StoreGaveUp(message)

    def report_waiting(self, now: float, jobs_started: int) -> None:
        """Say which delayed jobs the worker waits for and when they are due: at once when a
        wait begins (no line yet, or jobs ran since the last one), then every
        ``REPORT_EVERY`` seconds while it keeps waiting."""
        if now < self.next_report and jobs_started == self.reported_at_jobs:
            return
        self.next_report, self.reported_at_jobs = now + REPORT_EVERY, jobs_started
        upcoming = [job for queue in self.queues for job in self.transport.upcoming(queue, NAMED)]
        upcoming.sort(key=lambda job: job.due_in)
        delayed = sum(self.transport.size(queue).delayed for queue in self.queues)
        if not delayed:
            return
        log_event(logger, logging.INFO, "burst_waiting", worker=self.worker, delayed=delayed,
                  next_due_in=f"{max(upcoming[0].due_in, 0):.1f}s" if upcoming else "-",
                  jobs=", ".join(_describe(job) for job in upcoming[:NAMED]))


def _describe(job: DelayedJob) -> str:
    try:
        name = str(json.loads(job.payload).get("job") or "?")
    except (ValueError, AttributeError):
        name = "unreadable payload"
    return f"{name} {job.id[:12]} due in {max(job.due_in, 0):.1f}s"
