"""``job_status(id)``: where one job is, and how far it got.

Three places answer, in this order: the queues (a job queued, delayed, or taken by a
worker), the failed-job store (a job that failed for good, was cancelled or expired: its
record), and the job's status record, which a running job writes with
``self.set_progress(done, total, message)`` and its worker updates when it succeeds (kept
about a day). A job none of them knows is ``"unknown"``: never dispatched, or it
succeeded long enough ago that its status record is gone.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any

from .. import failures
from ..exceptions import FailedJobNotFound
from ..failures.base import Ref
from ..failures.record import FailureRecord
from ..payload import json_object
from ..transports import FoundJob, Transport, get_transport
from .lookup import UNANSWERED, connections_to_search, locate
from .names import FLOW_SCOPE, cancel_name, status_name
from .progress import Progress, from_record

#: Every state :func:`job_status` can tell.
STATES = ("queued", "delayed", "running", "succeeded", "failed", "cancelled", "expired",
          "waiting", "held", "unknown")
# A prefetched job waits for a free work horse of the worker that holds it: still queued.
_FROM_STORE = {"running": "running", "prefetched": "queued", "queued": "queued",
               "delayed": "delayed"}


@dataclass(frozen=True)
class JobStatus:
    """One job's state (one of :data:`STATES`) and what goes with it.

    ``connection`` and ``queue`` say where it is (or was); ``progress`` is its last report,
    while it runs and after it ended; ``due_in`` (seconds, delayed jobs) when it is due;
    ``cancel_requested``: a cancel request waits for the worker that holds it. A failed,
    cancelled or expired job has its record's ``failed_id`` (the failed-job id, or the job
    id in a store without row ids), ``exception_class`` and ``message``.
    """

    id: str
    state: str
    connection: str = ""
    queue: str = ""
    progress: Progress | None = None
    due_in: float | None = None
    cancel_requested: bool = False
    failed_id: Ref | None = None
    exception_class: str = ""
    message: str = ""
    #: A later step of a chain: the job it waits for (``waiting``, ``held``).
    waiting_on: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``progress`` a dict with its ``percent``, or ``None``)."""
        return {**asdict(self),
                "progress": None if self.progress is None else self.progress.as_dict()}


def job_status(job_id: str, connection: str | None = None) -> JobStatus:
    """The state of job ``job_id``, looked for on ``connection`` (every configured one when
    ``None``). An unknown connection is a
    :class:`~django_jobqueue.exceptions.ConfigurationError`; a store that does not answer
    raises its error when no other place knows the job."""
    unanswered: list[Exception] = []
    located = locate(job_id, connection, unanswered)
    if located is not None:
        return _in_queue(*located)
    record = _failure(job_id, connection, unanswered)
    if record is not None:
        return _recorded(record)
    for name in connections_to_search(connection):
        try:
            status, _ = _records(get_transport(name), job_id)
        except UNANSWERED as exc:
            unanswered.append(exc)
            continue
        if status is not None and status.get("state") == "succeeded":
            return JobStatus(job_id, "succeeded", name, str(status.get("queue") or ""),
                             from_record(status))
        if status is not None and status.get("state") == "waiting":
            return _in_chain(job_id, name, status)
    if unanswered:
        raise unanswered[0]
    return JobStatus(job_id, "unknown", connection or "")


def _in_chain(job_id: str, connection: str, record: dict[str, Any]) -> JobStatus:
    """A later step of a chain, not queued yet: ``waiting`` while the step before it runs
    or waits, ``held`` once that step failed for good (its record keeps this one)."""
    after = str(record.get("after") or "")
    before = _failure(after, None, []) if after else None
    held = before is not None and before.outcome == "failed"
    message = (f"held: step {record.get('step', 0)} of chain {record.get('chain')} failed"
               f" for good (failed job {before.id}); retry it to resume the chain"
               if held and before is not None
               else f"waits for job {after} (chain {record.get('chain')})")
    return JobStatus(job_id, "held" if held else "waiting", connection,
                     str(record.get("queue") or ""), failed_id=before.id if held and before
                     else None, message=message, waiting_on=after)


def _in_queue(transport: Transport, job: FoundJob) -> JobStatus:
    status, cancel_requested = _records(transport, job.id)
    state = _FROM_STORE[job.state]
    if status is not None and status.get("state") == "succeeded":
        state = "succeeded"  # it ended; its worker has not removed it yet
    return JobStatus(job.id, state, transport.name, job.queue,
                     from_record(status) if state in ("running", "succeeded") else None,
                     job.due_in, cancel_requested)


def _recorded(record: FailureRecord) -> JobStatus:
    progress = None
    # The record is the answer; its last progress only adds to it, when its connection is
    # still configured and answers.
    with contextlib.suppress(*UNANSWERED):
        status, _ = _records(get_transport(record.connection), record.uuid)
        progress = from_record(status)
    return JobStatus(record.uuid, record.outcome, record.connection, record.queue, progress,
                     failed_id=record.id, exception_class=record.exception_class,
                     message=record.message)


def _failure(
    job_id: str, connection: str | None, unanswered: list[Exception]
) -> FailureRecord | None:
    try:
        record = failures.get(job_id)
    except FailedJobNotFound:
        return None
    except UNANSWERED as exc:  # a status record may still know the job
        unanswered.append(exc)
        return None
    return record if connection is None or record.connection == connection else None


def _records(transport: Transport, job_id: str) -> tuple[dict[str, Any] | None, bool]:
    """The job's status record (``None`` if none, or unreadable) and whether a cancel
    request waits for it: one read."""
    names = [status_name(job_id), cancel_name(job_id)]
    found = transport.coordination.read(FLOW_SCOPE, names)
    return json_object(found.get(names[0])), names[1] in found


__all__ = ["STATES", "JobStatus", "Progress", "job_status"]
