"""The jobs of one queue on one connection (linked from each row of the Queues page), a page
at a time, and its cancel buttons: "Cancel selected" and "Cancel all of job class X"
(confirmed first, on the page :mod:`.confirm` draws).

The page needs ``view_failedjob``, as the Queues page does; the buttons need ``cancel_job``
(:class:`~django_jobqueue.models.QueueControl`) and are shown only to who has it. Each is a
POST (CSRF) that calls :mod:`django_jobqueue.flow.cancel` with ``by="admin:<username>"``,
reports how many jobs were cancelled, asked to stop and not found, and writes an admin log
entry about ``<connection>:<queue>`` when it changed anything.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib import messages
from django.contrib.admin.models import CHANGE
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from ..flow.cancel import CancelReport, cancel_jobs, cancel_selected
from ..flow.cancel_text import report_text
from ..flow.listing import PAGE_SIZE, JobPage, ListedJob, queue_jobs
from ..flow.lookup import UNANSWERED
from ..status import format_age
from . import confirm
from .audit import log_summary
from .dates import when
from .display import breakable, progress_view
from .pages import page_context, require
from .queue_control import QUEUES, control, target

PERMISSION = "django_jobqueue.cancel_job"
TEMPLATE = "admin/django_jobqueue/failedjob/queue_jobs.html"
JOBS = "admin:django_jobqueue_failedjob_queue_jobs"
JOB = "admin:django_jobqueue_failedjob_job"


def can_cancel(request: HttpRequest) -> bool:
    """Whether the user may cancel jobs (and so sees the checkboxes and buttons)."""
    return request.user.has_perm(PERMISSION)


def jobs_url(connection: str, queue: str, page: int = 1) -> str:
    """The jobs page of ``queue`` on ``connection``; names go in the query string, so any
    queue name (slashes, spaces) makes a link."""
    query = {"connection": connection, "queue": queue, **({"page": page} if page > 1 else {})}
    return f"{reverse(JOBS)}?{urlencode(query)}"


def job_url(job_id: str, connection: str = "") -> str:
    """The page of one job (:mod:`.job_page`), looked for on ``connection`` when given."""
    query = {"id": job_id, **({"connection": connection} if connection else {})}
    return f"{reverse(JOB)}?{urlencode(query)}"


def jobs(modeladmin: Any, request: HttpRequest) -> TemplateResponse:
    """``PAGE_SIZE`` jobs of the queue, running ones first with their progress."""
    require(modeladmin.has_view_permission(request))
    connection, queue = target(request.GET)
    number = _page_number(request.GET.get("page", ""))
    try:
        page, error = queue_jobs(queue, connection, limit=PAGE_SIZE,
                                 offset=(number - 1) * PAGE_SIZE), ""
    except UNANSWERED as exc:  # an unknown connection, or a store that does not answer
        page, error = None, str(exc)
    context = page_context(
        modeladmin, request, f"Jobs in queue {queue!r} on connection {connection!r}",
        connection=connection, queue=queue, error=error, listing=page, number=number,
        rows=_rows(page) if page is not None else [],
        shown=(page.offset + 1, page.offset + len(page.jobs)) if page is not None else (),
        classes=sorted({job.job_class for job in page.jobs if job.job_class}) if page else [],
        previous_url=jobs_url(connection, queue, number - 1) if number > 1 else "",
        next_url=jobs_url(connection, queue, number + 1) if page and page.more else "",
        here=jobs_url(connection, queue, number), can_cancel=can_cancel(request),
        crumbs=[("Queues", reverse(QUEUES))],
    )
    return TemplateResponse(request, TEMPLATE, context)


def _page_number(text: str) -> int:
    # A page number from a link; anything else is the first page, not an error.
    return int(text) if text.isdigit() and 0 < int(text) < 10**6 else 1


def _rows(page: JobPage) -> list[dict[str, Any]]:
    now = time.time()
    return [_row(job, page.connection, now) for job in page.jobs]


def _row(job: ListedJob, connection: str, now: float) -> dict[str, Any]:
    """One job for the template: the job, its class wrapping at dots, its times as text."""
    due = "" if job.due_in is None else format_age(max(job.due_in, 0.0))
    return {"job": job, "url": job_url(job.id, connection), "job_class": breakable(job.job_class),
            "due": due, "dispatched": when(job.dispatched_at or None),
            "progress": progress_view(job.progress, now)}


def cancel_selected_jobs(modeladmin: Any, request: HttpRequest) -> HttpResponse:
    """"Cancel selected": the POSTed job ids of the POSTed queue (at most a page of them)."""
    require(can_cancel(request))
    connection, queue = target(request.POST)
    back = _back(request, connection, queue)
    ids = request.POST.getlist("job")[:PAGE_SIZE]  # a page's worth; a forged POST no more
    if not ids:
        modeladmin.message_user(request, "No job was selected: nothing was cancelled.",
                                messages.WARNING)
        return HttpResponseRedirect(back)
    try:
        report = cancel_selected(ids, queue, connection, by=_by(request))
    except UNANSWERED as exc:
        return _stopped(modeladmin, request, exc, back)
    _report(modeladmin, request, report, None)
    return HttpResponseRedirect(back)


def cancel_job_class(modeladmin: Any, request: HttpRequest) -> HttpResponse:
    """"Cancel all of job class X in this queue": a first POST (or a GET) shows how many
    jobs that is, on a confirmation page; its "Yes" cancels them, at most that many."""
    require(can_cancel(request))
    data = request.POST if request.method == "POST" else request.GET
    connection, queue = target(data)
    job_class = data.get("job_class", "").strip()
    back = jobs_url(connection, queue)
    if not job_class:
        modeladmin.message_user(request, "Name a job class: nothing was cancelled.",
                                messages.WARNING)
        return HttpResponseRedirect(back)
    upto = confirm.confirmed_mark(request)
    try:
        if upto is None:
            counted = cancel_jobs(queue, connection, job_class=job_class, dry_run=True)
            return confirm.show(modeladmin, request, _class_page(counted, job_class, back),
                                counted.total, counted.total)
        # At most what the page counted: it promised that number.
        report = cancel_jobs(queue, connection, job_class=job_class, by=_by(request),
                             limit=upto)
    except UNANSWERED as exc:
        return _stopped(modeladmin, request, exc, back)
    _report(modeladmin, request, report, job_class)
    return HttpResponseRedirect(back)


def _class_page(counted: CancelReport, job_class: str, back: str) -> confirm.Page:
    """The filter's confirmation: the job class and queue as its scope, the count split into
    waiting jobs (taken out) and held ones (asked to stop)."""
    total = counted.total
    return confirm.Page(
        title="Cancel the jobs of a job class",
        scope=format_html(
            "the jobs of job class <code class=\"jq-wrap\">{}</code> in queue "
            "<code class=\"jq-wrap\">{}</code> on connection <code>{}</code>",
            job_class, counted.queue, counted.connection),
        cancel_url=back,
        hidden=[("connection", counted.connection), ("queue", counted.queue),
                ("job_class", job_class)],
        crumbs=[("Queues", reverse(QUEUES)), (f"Jobs in queue {counted.queue!r}", back)],
        promise=format_html(
            "Are you sure? <strong>{}</strong> job{} will be cancelled: {} waiting (taken out "
            "of the queue and kept as cancelled records) and {} held by workers (asked to "
            "stop). No more than {} are cancelled, even if more are queued meanwhile.",
            total, "" if total == 1 else "s", counted.cancelled, counted.requested, total),
    )


def _by(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


def _back(request: HttpRequest, connection: str, queue: str) -> str:
    """Where a button goes back to: the page it was pressed on (its ``next``, when that is
    a page of this site), else the queue's jobs page."""
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, {request.get_host()},
                                                require_https=request.is_secure()):
        return back
    return jobs_url(connection, queue)


def _report(modeladmin: Any, request: HttpRequest, report: CancelReport,
            job_class: str | None) -> None:
    """Say what was done; log it against the queue when it changed anything (a cancel that
    found nothing to cancel is a warning, not logged)."""
    text = report_text(report, job_class)
    modeladmin.message_user(request, text, messages.SUCCESS if report.total else
                            messages.WARNING)
    if report.total:
        log_summary(request, CHANGE, text, obj=control(report.connection, report.queue))


def _stopped(modeladmin: Any, request: HttpRequest, exc: Exception, back: str
             ) -> HttpResponse:
    # Jobs are cancelled one at a time: those before the error stay cancelled, and the
    # list the user goes back to shows what is left.
    modeladmin.message_user(
        request, f"Cancelling stopped: {exc} (jobs cancelled before the error stay cancelled).",
        messages.ERROR)
    return HttpResponseRedirect(back)
