"""A page of a queue's jobs as an operator reads it (the admin's jobs page of a queue): each
job's state, class, attempts, when it was dispatched and, while it runs, its progress.

The store lists the jobs (:meth:`~django_jobqueue.transports.Transport.jobs`, running and
prefetched first, then ready ones in the order workers take them, then delayed ones by due
time); what the payload says is read from each one; the running ones' progress comes from
one read of the coordination store for the whole page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..payload import json_object
from ..transports import FoundJob, QueueSize, get_transport
from .lookup import searchable
from .progress import Progress, reported

#: Jobs a page shows unless asked otherwise.
PAGE_SIZE = 100


@dataclass(frozen=True)
class ListedJob:
    """One job of a queue. ``state`` is the store's (running, prefetched, queued, delayed);
    ``due_in`` (seconds) for a delayed one. From its payload: ``job_class`` (its registry
    name, ``""`` when the payload cannot be read), ``dispatched_at`` (ISO 8601 text, ``""``
    when unknown) and ``attempts``: attempts made so far, the one a running job is in
    included, as the payload's error history tells them (``None`` when it keeps none).
    ``progress``: what a running job last reported."""

    id: str
    queue: str
    state: str
    due_in: float | None
    job_class: str
    dispatched_at: str
    attempts: int | None
    progress: Progress | None = None


@dataclass(frozen=True)
class JobPage:
    """Jobs ``offset`` to ``offset + len(jobs)`` of ``queue`` on ``connection``; ``more``:
    a next page has jobs; ``size`` what the queue holds (its counts can move while the page
    is read). ``progress_error``: why the running jobs show no progress (a store that did
    not answer that read), else ``""``."""

    connection: str
    queue: str
    jobs: tuple[ListedJob, ...]
    offset: int
    limit: int
    more: bool
    size: QueueSize
    progress_error: str = ""


def queue_jobs(queue: str, connection: str | None = None, *, limit: int = PAGE_SIZE,
               offset: int = 0) -> JobPage:
    """The page of ``queue``'s jobs on ``connection`` (the default one when ``None``) that
    starts after ``offset`` jobs, at most ``limit``. A connection whose transport cannot
    list jobs is a ``ConfigurationError``; a store that does not answer raises its error."""
    if limit < 1 or offset < 0:
        raise ValueError(f"a page is at least one job from offset 0 up, not {limit} at {offset}")
    transport = get_transport(connection)
    searchable(transport.name, named=True)
    size = transport.size(queue)
    found = transport.jobs(queue, limit + 1, offset)  # one more: is there a next page?
    shown = found[:limit]
    progress, error = reported(transport, [job.id for job in shown if job.state == "running"])
    return JobPage(transport.name, queue, tuple(_listed(job, progress.get(job.id))
                                                for job in shown),
                   offset, limit, len(found) > limit, size, error)


def _listed(job: FoundJob, progress: Progress | None) -> ListedJob:
    body = json_object(job.payload) or {}
    name, dispatched = body.get("job"), body.get("dispatched_at")
    return ListedJob(job.id, job.queue, job.state, job.due_in,
                     name if isinstance(name, str) else "",
                     dispatched if isinstance(dispatched, str) else "",
                     _attempts(body, running=job.state == "running"), progress)


def _attempts(body: dict[str, Any], running: bool) -> int | None:
    """Attempts made so far. Each failed attempt left an entry in ``errors`` (the last
    ``MAX_ERRORS_KEPT`` of them, numbered), so the last entry's number counts them all."""
    errors = body.get("errors")
    if not isinstance(errors, list):
        return None
    ended = len(errors)
    if errors and isinstance(errors[-1], dict):
        number = errors[-1].get("attempt")
        if isinstance(number, int) and not isinstance(number, bool):
            ended = max(ended, number)
    return ended + running


__all__ = ["PAGE_SIZE", "JobPage", "ListedJob", "queue_jobs"]
