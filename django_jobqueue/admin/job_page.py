"""The page of one job: :func:`~django_jobqueue.job_status` of an id (from a queue's jobs
page, a worker's current job on the Queues page, or the Queues page's "Find a job" box).

It needs ``view_failedjob``, as the Queues page does. A job still in its queue has a
"Cancel this job" button for users with ``cancel_job`` (:mod:`.queue_jobs` does the work);
a failed, cancelled or expired one links to its record.
"""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from ..failures.criteria import is_job_id
from ..flow.lookup import UNANSWERED
from ..flow.status import JobStatus, job_status
from ..status import format_age
from .display import breakable, progress_view
from .pages import page_context, require
from .queue_control import QUEUES
from .queue_jobs import can_cancel, job_url, jobs_url

TEMPLATE = "admin/django_jobqueue/failedjob/job.html"
# States in which the job is still in its queue, so a cancel can reach it.
CANCELLABLE = ("queued", "delayed", "running")
RECORDED = ("failed", "cancelled", "expired")


def job(modeladmin: Any, request: HttpRequest) -> TemplateResponse:
    """The state of the job ``?id=`` names (looked for on ``?connection=`` when given, else
    on every connection), and what goes with it."""
    require(modeladmin.has_view_permission(request))
    raw = request.GET.get("id", "").strip()
    job_id = raw.replace("-", "").lower()  # ids are shown with and without dashes
    connection = request.GET.get("connection", "") or None
    status, error = None, ""
    if not is_job_id(job_id):
        error = f"{raw!r} is not a job id (32 hex digits, as dispatch returns them)."
    else:
        try:
            status = job_status(job_id, connection)
        except UNANSWERED as exc:  # an unknown connection, or a store that does not answer
            error = str(exc)
    crumbs = [("Queues", reverse(QUEUES))]
    if status is not None and status.state in CANCELLABLE:
        crumbs.append((f"Jobs in queue {status.queue!r}",
                       jobs_url(status.connection, status.queue)))
    context = page_context(
        modeladmin, request, f"Job {job_id}" if status is not None else "Find a job",
        raw=raw, error=error, status=status, crumbs=crumbs,
        facts=_facts(status) if status is not None else {},
        can_cancel=can_cancel(request) and status is not None
        and status.state in CANCELLABLE and not status.cancel_requested,
        here=job_url(job_id, connection or ""),
    )
    return TemplateResponse(request, TEMPLATE, context)


def _facts(status: JobStatus) -> dict[str, Any]:
    """What the template shows besides the status's own fields, as text and links."""
    return {
        "progress": progress_view(status.progress, time.time()),
        "due": "" if status.due_in is None else format_age(max(status.due_in, 0.0)),
        "exception_class": breakable(status.exception_class),
        "recorded": status.state in RECORDED,
        # Only a store with a table has a detail page (see .detail's retry lineage).
        "record_url": (reverse("admin:django_jobqueue_failedjob_change",
                               args=[status.failed_id])
                       if isinstance(status.failed_id, int) else ""),
        "jobs_url": (jobs_url(status.connection, status.queue)
                     if status.state in CANCELLABLE else ""),
        # A chain's later step: the job it waits on, and (held) the record to retry.
        "waiting_url": job_url(status.waiting_on) if status.waiting_on else "",
    }
