"""The failed-job admin's own pages: failure overview, fingerprint groups, queues and live
workers, and the POST endpoints behind the detail page's and the groups page's buttons.

Each view is wrapped by ``admin_site.admin_view`` (login, staff, CSRF, no caching; and
``require_POST`` for the buttons) in :meth:`FailedJobAdmin.get_urls`, and checks its own
permission here.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.contrib import messages
from django.contrib.admin.models import CHANGE, DELETION
from django.db.models import Max, Min
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from .. import failures, status
from ..exceptions import JobQueueError
from ..failures import estimates
from ..transports import WorkerInfo
from . import confirm, queue_control, source
from .actions import plural, report_retry
from .audit import log_summary
from .charts import bar_chart
from .confirm import Deletion
from .dates import when
from .display import breakable, outcome_badge, progress_view
from .pages import page_context, require
from .queue_jobs import job_url, jobs_url
from .summary import forget as forget_summaries
from .summary import summary

TOP = 10
GROUPS_SHOWN = 100
TEMPLATES = "admin/django_jobqueue/failedjob/"


def overview(modeladmin: Any, request: HttpRequest) -> TemplateResponse:
    """Failures by queue, job class and exception class (last 30 days, top 10 each), per
    hour for 24 hours and per day for 30 days, with first and last seen."""
    require(modeladmin.has_view_permission(request))
    now = timezone.localtime()
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    first_hour, first_day = this_hour - dt.timedelta(hours=23), now.date() - dt.timedelta(days=29)
    since = timezone.make_aware(dt.datetime.combine(first_day, dt.time.min))
    (result, per_day, kept), as_of = summary(
        ("overview", since, first_hour),
        lambda: (failures.stats(since=since, hours_since=first_hour),
                 estimates.per_day(source.rows(), since),
                 estimates.not_failures(source.rows(), since)))
    hours = {timezone.localtime(row["hour"]).replace(tzinfo=None): row["count"]
             for row in result["by_hour"]}
    days = {row["day"]: row["count"] for row in per_day}
    hour_points = [(f"{h:%H}h", hours.get(h.replace(tzinfo=None), 0)) for h in
                   (first_hour + dt.timedelta(hours=i) for i in range(24))]
    day_points = [(f"{d:%m-%d}", days.get(d, 0)) for d in
                  (first_day + dt.timedelta(days=i) for i in range(30))]
    groups = result["by_queue"]
    base = reverse("admin:django_jobqueue_failedjob_changelist")
    context = page_context(
        modeladmin, request, "Failure overview",
        total=result["total"], fallback=result.get("fallback"), as_of=_as_of(as_of),
        not_failures=[(n, outcome, f"{base}?{urlencode({'outcome': outcome})}")
                      for outcome, n in sorted(kept.items())],
        first_seen=when(min((g["first"] for g in groups), default=None)),
        last_seen=when(max((g["last"] for g in groups), default=None)),
        tables=[(heading, _linked(result[f"by_{field}"][:TOP], field)) for heading, field in
                (("Queue", "queue"), ("Job class", "job_class"),
                 ("Exception class", "exception_class"))],
        hour_chart=bar_chart("Failures per hour, last 24 hours", hour_points, label_every=3),
        day_chart=bar_chart("Failures per day, last 30 days", day_points, label_every=5),
    )
    return TemplateResponse(request, TEMPLATES + "overview.html", context)


def _linked(groups: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """Stats groups with their value under ``value`` (and as ``label``, wrapping at dots), a
    link to the filtered changelist and their first and last failure as text."""
    base = reverse("admin:django_jobqueue_failedjob_changelist")
    return [{**_dated(group), "value": group[field], "label": _label(group[field], field),
             "url": f"{base}?{urlencode({field: group[field]})}"} for group in groups]


def _label(value: str, field: str) -> SafeString:
    # Cancelled and expired jobs are kept as records too: their class says so.
    if field != "exception_class":
        return breakable(value)
    return format_html("{}{}", outcome_badge(value), breakable(value))


def _dated(group: dict[str, Any]) -> dict[str, Any]:
    """A stats or fingerprint group with ``first`` and ``last`` in the admin's date format."""
    return {**group, "first": when(group["first"]), "last": when(group["last"])}


def _as_of(computed_at: dt.datetime | None) -> str:
    """When a big table's summary was computed ("" when it is live)."""
    return when(computed_at) if computed_at is not None else ""


def groups(modeladmin: Any, request: HttpRequest) -> TemplateResponse:
    """The largest fingerprint groups, each with retry and purge buttons."""
    require(modeladmin.has_view_permission(request))
    found, as_of = summary(("groups", GROUPS_SHOWN),
                           lambda: estimates.groups(source.rows(), GROUPS_SHOWN))
    context = page_context(
        modeladmin, request, "Failures grouped by fingerprint",
        groups=[{**_dated(group), "exception_class": breakable(group["exception_class"])}
                for group in found],
        limit=GROUPS_SHOWN, as_of=_as_of(as_of),
        can_retry=modeladmin.has_retry_permission(request),
        can_purge=modeladmin.has_purge_permission(request),
    )
    return TemplateResponse(request, TEMPLATES + "groups.html", context)


def queues(modeladmin: Any, request: HttpRequest) -> TemplateResponse:
    """Ready, delayed and reserved jobs, the oldest waiting job's age and any pause per
    connection and queue (its name links to its jobs), with Pause / Resume buttons for who
    may use them; the live workers of each connection, with their current jobs' progress;
    a box that finds a job by its id."""
    require(modeladmin.has_view_permission(request))
    try:
        rows, groups, error = status.queue_status(), status.worker_status(), ""
    except JobQueueError as exc:  # a misconfigured connection: say so, do not crash
        rows, groups, error = [], [], str(exc)
    now = time.time()
    context = page_context(
        modeladmin, request, "Queues", error=error, can_pause=queue_control.can_pause(request),
        rows=[{"row": row, "oldest": status.format_age(row.oldest_age),
               "paused": _paused(row, now), "jobs_url": jobs_url(row.connection, row.queue)}
              for row in rows],
        workers=[_worker_row(group, info, now) for group in groups for info in group.workers],
        worker_notes=[(group.connection, group.error or "keeps no worker registry")
                      for group in groups if group.error or not group.tracked],
    )
    return TemplateResponse(request, TEMPLATES + "queues.html", context)


def _paused(row: status.QueueStatus, now: float) -> dict[str, str] | None:
    """A paused queue's pause for the template: when (and how long ago) and who; ``at`` is
    "" when its stored value could not be read."""
    if not row.paused:
        return None
    if row.paused_at is None:
        return {"at": "", "relative": "", "by": row.paused_by}
    return {"at": when(_at(row.paused_at)), "by": row.paused_by,
            "relative": f"{status.format_age(now - row.paused_at)} ago"}


def _worker_row(group: status.ConnectionWorkers, info: WorkerInfo, now: float
                ) -> dict[str, Any]:
    """One worker for the template: its entry and ages as text (the template escapes), and
    each current job's page and progress (read for the whole connection at once)."""
    return {
        "connection": group.connection, "info": info, "queues": ", ".join(info.queues),
        "heartbeat": f"{status.format_age(info.heartbeat_age)} ago",
        "heartbeat_at": when(_at(info.last_heartbeat)), "started_at": when(_at(info.started_at)),
        "current": [{"job": job, "job_class": breakable(job.job_class),
                     "running": status.format_age(now - job.started_at),
                     "url": job_url(job.id, group.connection),
                     "progress": progress_view(group.progress.get(job.id), now)}
                    for job in info.current],
    }


def _at(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def retry_one(modeladmin: Any, request: HttpRequest, pk: int) -> HttpResponse:
    """The detail page's Retry button."""
    require(modeladmin.has_retry_permission(request))
    obj = get_object_or_404(modeladmin.get_queryset(request), pk=pk)
    try:
        new_id = failures.retry(obj.pk)
    except JobQueueError as exc:
        modeladmin.message_user(request, f"Failed job #{obj.pk} was kept: {exc}",
                                messages.ERROR)
        return HttpResponseRedirect(reverse("admin:django_jobqueue_failedjob_change",
                                            args=[obj.pk]))
    text = f"Retried failed job #{obj.pk} as job {new_id}."
    modeladmin.message_user(request, text, messages.SUCCESS)
    log_summary(request, CHANGE, text, obj=obj)
    return HttpResponseRedirect(reverse("admin:django_jobqueue_failedjob_changelist"))


def raw_payload(modeladmin: Any, request: HttpRequest, pk: int) -> HttpResponse:
    """The stored payload, unmasked, as plain text (its own permission)."""
    require(modeladmin.has_raw_payload_permission(request))
    obj = get_object_or_404(modeladmin.get_queryset(request), pk=pk)
    response = HttpResponse(obj.payload, content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"  # never sniffed into HTML
    return response


def retry_group(modeladmin: Any, request: HttpRequest, fingerprint: str) -> HttpResponse:
    """Retry every failed job of a fingerprint group, oldest first, in batches."""
    require(modeladmin.has_retry_permission(request))
    report = failures.retry_matching(fingerprint=fingerprint)
    forget_summaries()  # the groups page shows the change at once, big table or not
    report_retry(modeladmin, request, report, f"group {fingerprint[:12]}")
    return HttpResponseRedirect(reverse("admin:django_jobqueue_failedjob_groups"))


def purge_group(modeladmin: Any, request: HttpRequest, fingerprint: str) -> HttpResponse:
    """Delete every failed job of a fingerprint group, in batches, once confirmed: a GET
    (the groups page's button is a link) shows the confirmation page."""
    require(modeladmin.has_purge_permission(request))
    rows = modeladmin.get_queryset(request).filter(fingerprint=fingerprint)
    deletion = Deletion.confirmed(request, rows)
    if deletion is None:
        return confirm.render(modeladmin, request, Deletion.now(rows),
                              _group_page(rows, fingerprint))
    deleted = deletion.run()
    forget_summaries()
    text = f"Purged {plural(deleted)} (group {fingerprint[:12]})."
    modeladmin.message_user(request, text, messages.SUCCESS)
    if deleted:
        log_summary(request, DELETION, text)
    return HttpResponseRedirect(reverse("admin:django_jobqueue_failedjob_groups"))


def _group_page(rows: Any, fingerprint: str) -> confirm.Page:
    """The group purge's confirmation: the group's kind and time span as its scope."""
    span = rows.order_by().aggregate(first=Min("failed_at"), last=Max("failed_at"))
    sample = rows.order_by("-failed_at", "-id").values("exception_class", "message").first()
    kind = f"{sample['exception_class']}: {sample['message']}" if sample else "no rows left"
    groups_url = reverse("admin:django_jobqueue_failedjob_groups")
    return confirm.Page(
        title="Purge a group of failed jobs",
        scope=format_html(
            "every failed job of group <code>{}</code> (<span class=\"jq-wrap\">{}</span>), "
            "first seen {}, last seen {}",
            fingerprint[:12], Truncator(kind).chars(200), when(span["first"]),
            when(span["last"])),
        cancel_url=f"{groups_url}#fp-{fingerprint}",
        crumbs=[("Failures grouped by fingerprint", groups_url)],
    )
