"""Cancelling jobs: one by its id (:func:`cancel`), some of a queue (:func:`cancel_selected`),
or the jobs of a queue, of one job class or all (:func:`cancel_jobs`).

A job that waits (queued, or delayed: a later start or a retry's backoff) is taken out of
its queue and kept as a cancelled record in the failed-job store, under
:class:`~django_jobqueue.exceptions.JobCancelled`: visible, never silently gone, and not a
failure (no retry, no ``failed()``, no ``job_failed``; ``job_cancelled`` instead). A job a
worker holds (running, or prefetched ahead of its work horses) is asked to stop: a cancel
request the worker sees within about a second; it ends the job as cancelled.

For one job the steps are: find it, write its cancel request, then try to take it out. The
request comes first so that a worker taking the job in between finds it; once the job is
out and recorded, the request is deleted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .. import failures, job_ends, signals
from ..conf import jobqueue_settings
from ..exception_text import class_path, error_entry, exception_text
from ..exceptions import JobCancelled, PayloadError
from ..failures.base import Ref
from ..failures.record import FailureRecord
from ..jobs import Job, resolve
from ..logutil import log_event
from ..payload import json_object
from ..transports import FoundJob, PushItem, Transport, get_transport
from .lookup import UNANSWERED, locate, searchable
from .names import CANCEL_KEPT, FLOW_SCOPE, cancel_name

logger = logging.getLogger(__name__)

#: What :func:`cancel` can do to a job (see :class:`Cancelled`).
OUTCOMES = ("cancelled", "requested", "not_found")
#: Jobs :func:`cancel_jobs` reads per page.
BATCH = 500
# Times cancel_jobs walks a queue: workers taking and finishing jobs shift the pages under
# it, so a job can be stepped over; a second walk finds it (what was handled is skipped).
_WALKS = 3


@dataclass(frozen=True)
class Cancelled:
    """What :func:`cancel` did to job ``job_id``.

    ``outcome``: ``"cancelled"`` (it was waiting: it is out of its queue and kept as the
    cancelled record ``failed_id``), ``"requested"`` (a worker holds it: it was asked to
    stop, and ends as cancelled), or ``"not_found"`` (in no queue: never queued, or it
    ended already). ``state`` is where it stood when found (see
    :data:`~django_jobqueue.transports.JOB_STATES`).
    """

    job_id: str
    outcome: str
    connection: str = ""
    queue: str = ""
    state: str = ""
    failed_id: Ref | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class CancelReport:
    """What :func:`cancel_jobs` did (``dry_run``: would do) on ``queue`` of
    ``connection``: jobs ``cancelled`` (taken out and recorded), ``requested`` (held by a
    worker, asked to stop) and ``not_found`` (listed, but ended before their turn)."""

    connection: str
    queue: str
    cancelled: int = 0
    requested: int = 0
    not_found: int = 0
    dry_run: bool = False

    @property
    def total(self) -> int:
        """Jobs cancelled or asked to stop."""
        return self.cancelled + self.requested

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the ``total``."""
        return {**asdict(self), "total": self.total}


def cancel(job_id: str, connection: str | None = None, *, by: str = "") -> Cancelled:
    """Cancel job ``job_id``, found on ``connection`` (every configured connection when
    ``None``); ``by`` says who, in the record and the logs (``"admin:alice"``).

    An unknown connection is a :class:`~django_jobqueue.exceptions.ConfigurationError`; a
    store that does not answer raises its error, and nothing is cancelled there.
    """
    located = locate(job_id, connection)
    if located is None:
        return Cancelled(job_id, "not_found", connection or "")
    transport, job = located
    return cancel_found(transport, job, by)


def cancel_found(transport: Transport, job: FoundJob, by: str = "") -> Cancelled:
    """Cancel ``job`` as ``transport`` holds it: the steps of :func:`cancel` once found."""
    request(transport, job.id, by)
    # A waiting job can be taken by a worker at any moment: then the request applies. (A
    # job taken and handed back each time it is tried is left to the request too.)
    for _ in range(3):
        if not job.waiting:
            break
        payload = transport.remove(job.id, job.queue)
        if payload is not None:
            try:
                failed_id = _keep(transport, job, payload, by)
            except Exception:
                # Not cancelled after all (the job is back in its queue): no request may
                # stop it later behind the caller's back.
                with contextlib.suppress(*UNANSWERED):
                    forget_request(transport, job.id)
                raise
            forget_request(transport, job.id)
            return Cancelled(job.id, "cancelled", transport.name, job.queue, job.state,
                             failed_id)
        found = transport.find(job.id, [job.queue])
        if found is None:  # it ended meanwhile
            forget_request(transport, job.id)
            return Cancelled(job.id, "not_found", transport.name, job.queue, job.state)
        job = found
    log_event(logger, logging.INFO, "cancel_requested", id=job.id, queue=job.queue,
              connection=transport.name, by=by, state=job.state)
    return Cancelled(job.id, "requested", transport.name, job.queue, job.state)


def request(transport: Transport, job_id: str, by: str = "") -> None:
    """Write job ``job_id``'s cancel request (kept ``CANCEL_KEPT`` seconds): the worker
    holding the job, or the one taking it next, ends it as cancelled."""
    value = json.dumps({"at": time.time(), "by": by})
    transport.coordination.write(FLOW_SCOPE, cancel_name(job_id), value, ttl=CANCEL_KEPT)


def forget_request(transport: Transport, job_id: str) -> None:
    """Delete job ``job_id``'s cancel request (its job is out of the queue)."""
    transport.coordination.write(FLOW_SCOPE, cancel_name(job_id), None)


def cancel_selected(job_ids: Sequence[str], queue: str, connection: str | None = None, *,
                    by: str = "") -> CancelReport:
    """Cancel the jobs ``job_ids`` of ``queue`` on ``connection`` (the default connection
    when ``None``), as :func:`cancel` does each: what an operator selected in a list of the
    queue's jobs. Each is looked for in ``queue`` only; one that is not there (it ended, or
    it never was) counts as ``not_found``. A store that does not answer raises its error;
    the jobs handled before it stay cancelled."""
    transport = get_transport(connection)
    searchable(transport.name, named=True)
    counts = dict.fromkeys(OUTCOMES, 0)
    for job_id in dict.fromkeys(job_ids):
        job = transport.find(job_id, [queue])
        outcome = "not_found" if job is None or job.queue != queue else (
            cancel_found(transport, job, by).outcome)
        counts[outcome] += 1
    return CancelReport(transport.name, queue, counts["cancelled"], counts["requested"],
                        counts["not_found"])


def cancel_jobs(
    queue: str,
    connection: str | None = None,
    *,
    job_class: str | None = None,
    by: str = "",
    limit: int | None = None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> CancelReport:
    """Cancel the jobs of ``queue`` on ``connection`` (the default connection when
    ``None``), only those of ``job_class`` (its registered name, as payloads say it) when
    given, at most ``limit``: each one as :func:`cancel` does, read ``BATCH`` at a time.
    ``progress`` is told the running count of jobs cancelled or asked to stop;
    ``dry_run`` counts what would be done and changes nothing.

    It cancels the jobs the queue holds as it starts; jobs pushed meanwhile may be
    cancelled too, or not.
    """
    transport = get_transport(connection)
    searchable(transport.name, named=True)
    walk = _Walk(transport, queue, job_class, by, limit, progress)
    for _ in range(1 if dry_run else _WALKS):
        if not walk.once(dry_run) or walk.full:
            break
    counts = walk.counts
    return CancelReport(transport.name, queue, counts["cancelled"], counts["requested"],
                        counts["not_found"], dry_run)


class _Walk:
    """One :func:`cancel_jobs` run: the queue read a page at a time, from the front, as
    many times as it takes; what was handled is counted once."""

    def __init__(self, transport: Transport, queue: str, job_class: str | None, by: str,
                 limit: int | None, progress: Callable[[int], None] | None) -> None:
        self.transport, self.queue, self.job_class, self.by = transport, queue, job_class, by
        self.limit, self.progress = limit, progress
        self.counts = dict.fromkeys(OUTCOMES, 0)
        # Jobs asked to stop stay in the queue: the next walk must not count them again.
        self.requested: set[str] = set()

    @property
    def full(self) -> bool:
        return self.limit is not None and self.counts["cancelled"] + len(self.requested) \
            >= self.limit

    def once(self, dry_run: bool) -> bool:
        """Walk the queue once; whether anything was cancelled or asked to stop."""
        offset, handled = 0, 0
        # The jobs there as the walk begins: one pushed faster than they go cannot hold
        # it forever.
        budget = self.transport.size(self.queue).total
        while budget > 0 and not self.full:
            page = self.transport.jobs(self.queue, min(BATCH, budget), offset)
            if not page:
                break
            budget -= len(page)
            for job in page:
                if self.full or job.id in self.requested or not self._matches(job):
                    offset += 1
                    continue
                outcome = ("cancelled" if job.waiting else "requested") if dry_run else (
                    cancel_found(self.transport, job, self.by).outcome)
                self._count(job.id, outcome)
                handled += outcome != "not_found"
                # What is still listed moves the next page on; what left shifted it back.
                offset += 1 if dry_run or outcome == "requested" else 0
        return handled > 0

    def _matches(self, job: FoundJob) -> bool:
        if self.job_class is None:
            return True
        body = json_object(job.payload)
        return body is not None and body.get("job") == self.job_class

    def _count(self, job_id: str, outcome: str) -> None:
        if outcome == "requested":
            self.requested.add(job_id)
        self.counts[outcome] += 1
        if self.progress is not None and outcome != "not_found":
            self.progress(self.counts["cancelled"] + self.counts["requested"])


# -- keeping a cancelled job -------------------------------------------------------------------
def _keep(transport: Transport, job: FoundJob, payload: str, by: str) -> Ref:
    """Record the job taken out as cancelled, then end it as a cancelled job ends: its
    unique key and schedule entry told, ``job_cancelled`` sent, logged."""
    body = json_object(payload)
    record = cancelled_record(job, transport.name, payload, body, by)
    try:
        stored = failures.record(record)
    except UNANSWERED:
        # Nothing keeps it: put it back rather than lose it (its attempt count starts again,
        # and its priority is the payload's), and let the caller know.
        priority = body.get("priority", 0) if body is not None else 0
        transport.push(PushItem(job.id, job.queue, payload, max(job.due_in or 0.0, 0.0),
                                priority if isinstance(priority, int) else 0))
        raise
    _tell_workflow(body, job.id, payload)
    job_ends.cancelled(body, job.id)
    instance = _rebuilt(payload, job.id)
    signals.job_cancelled.send_robust(
        sender=type(instance) if instance is not None else Job, job=instance, job_id=job.id,
        queue=job.queue, connection=transport.name, running=False)
    log_event(logger, logging.INFO, "job_cancelled", job=record.job_class, id=job.id,
              queue=job.queue, connection=transport.name, by=by, running=False,
              failed_id=stored.id)
    return stored.id


def _tell_workflow(body: dict[str, Any] | None, job_id: str, payload: str) -> None:
    """A chain step cancelled cancels the rest; a batch child is counted cancelled."""
    from ..workflows.advance import End, advance
    from ..workflows.marks import matters

    if not matters(body):
        return
    try:
        advance([End(body, job_id, "cancelled", payload)])
    except Exception as error:
        # The job is out of its queue and recorded: its workflow is told when the record is
        # retried or deleted; say loudly that it was not told now.
        log_event(logger, logging.ERROR, "workflow_not_told", id=job_id,
                  error=type(error).__name__, detail=str(error)[:300])


def cancelled_record(
    job: FoundJob, connection: str, payload: str, body: dict[str, Any] | None, by: str,
    message: str = "",
) -> FailureRecord:
    """The record of a waiting job cancelled before it ran: ``JobCancelled`` with who did it
    (or ``message``), the attempts its payload tells of (earlier failed attempts of a
    retrying job) and their errors, then this one."""
    message = message or (f"cancelled by {by} before it ran" if by
                          else "cancelled before it ran")
    exc = JobCancelled(message)
    earlier = body.get("errors") if body is not None else None
    earlier = [entry for entry in earlier if isinstance(entry, dict)] if isinstance(
        earlier, list) else []
    entry = error_entry(exc, len(earlier), "", message)
    return FailureRecord(
        uuid=job.id, connection=connection, queue=job.queue, payload=payload,
        exception=exception_text(exc, None, message), exception_class=class_path(JobCancelled),
        message=message, job_class=_label(body), attempts=len(earlier),
        errors=[*earlier, entry][-max(jobqueue_settings.MAX_ERRORS_KEPT, 1):],
    )


def _label(body: dict[str, Any] | None) -> str:
    from ..worker.execute import label_of

    name = body.get("job") if body is not None else None
    try:
        cls = resolve(name) if isinstance(name, str) else None
    except PayloadError:
        cls = None
    return label_of(cls, body)


def _rebuilt(payload: str, job_id: str) -> Job | None:
    """The job instance for ``job_cancelled`` receivers, through the registry only; ``None``
    when the payload no longer builds one."""
    from ..worker.execute import rebuild

    try:
        _, job = rebuild(payload)
    except Exception:  # an __init__ that raises, too: receivers get no job
        return None
    job.job_id = job_id
    return job


__all__ = ["OUTCOMES", "CancelReport", "Cancelled", "cancel", "cancel_found", "cancel_jobs",
           "cancel_selected", "cancelled_record", "forget_request", "request"]
