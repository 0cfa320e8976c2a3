"""What a running job can ask and tell about itself: whether it was cancelled, and how far
it got.

A worker gives each attempt a :class:`RunContext` (``job._jq_run``). The cancel probe is
cheap: in a work horse it reads a page of memory the supervisor writes when it sees the
job's cancel request; in-process (``testing.work()``) it reads the request from the store.
Progress is a status record in the connection's coordination store
(:func:`~.names.status_name`), kept ``STATUS_TTL`` seconds; a job that reported progress
has it rewritten as succeeded when it succeeds, so :func:`~django_jobqueue.job_status` can
tell. A store that does not answer is logged, never raised into the job: progress is worth
less than the work it reports on.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..conf import jobqueue_settings
from ..exceptions import JobQueueError
from ..logutil import log_event
from .names import FLOW_SCOPE, cancel_name, status_name

logger = logging.getLogger("django_jobqueue.worker")

RUNNING, SUCCEEDED = "running", "succeeded"


@dataclass
class RunContext:
    """One attempt of job ``job_id`` on ``queue`` of ``connection``."""

    job_id: str
    queue: str
    connection: str
    probe: Callable[[], bool]
    last: dict[str, Any] | None = None  # the last status written, once one was
    # The payload's workflow marks: the batch of a child, the batch of a callback.
    batch: Any = None
    callback: Any = None
    batch_ref: Any = None  # made on first use: it counts the jobs this run added

    def cancel_requested(self) -> bool:
        return self.probe()

    def report(self, done: int, total: int | None, message: str) -> None:
        """Write the running job's progress."""
        self._write({"state": RUNNING, "done": int(done),
                     "total": None if total is None else int(total),
                     "message": str(message)[:500]})

    def succeeded(self) -> None:
        """The attempt succeeded: a job that reported progress says so in its record."""
        if self.last is not None:
            self._write({**self.last, "state": SUCCEEDED})

    def _write(self, record: dict[str, Any]) -> None:
        self.last = {**record, "at": time.time(), "queue": self.queue}
        from ..transports import get_transport

        try:
            get_transport(self.connection).coordination.write(
                FLOW_SCOPE, status_name(self.job_id), json.dumps(self.last),
                ttl=float(jobqueue_settings.STATUS_TTL))
        except (JobQueueError, NotImplementedError) as exc:
            log_event(logger, logging.WARNING, "progress_not_saved", id=self.job_id,
                      error=exc)


def store_probe(connection: str, job_id: str) -> Callable[[], bool]:
    """A cancel probe that asks the store (for jobs run in-process): at most once a second."""
    from ..transports import get_transport

    seen = {"at": 0.0, "cancelled": False}

    def probe() -> bool:
        now = time.monotonic()
        if not seen["cancelled"] and now - seen["at"] >= 1.0:
            seen["at"] = now
            try:
                found = get_transport(connection).coordination.read(
                    FLOW_SCOPE, [cancel_name(job_id)])
            except (JobQueueError, NotImplementedError):
                found = {}
            seen["cancelled"] = bool(found)
        return bool(seen["cancelled"])

    return probe


def never() -> bool:
    return False
