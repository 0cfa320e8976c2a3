"""The admin's Schedules page: every schedule entry with what ``manage.py schedule`` lists,
and per entry "Run now" and "Enable" / "Disable" buttons, each a POST (CSRF) under its own
permission that calls :mod:`django_jobqueue.schedule.service`, reports with a message and
writes an admin log entry.

``Schedule`` has no table, so this admin has no Django changelist, detail or delete pages:
its changelist URL is the Schedules page and its other URLs are the buttons.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from ..exceptions import JobQueueError
from ..models import Schedule
from ..schedule import listing, service
from ..schedule.listing import Moment, Row
from .dates import when
from .display import breakable
from .pages import own_view, page_context, press, require

PERMISSION = "django_jobqueue.{}_schedule"
TEMPLATE = "admin/django_jobqueue/schedule/schedules.html"
CHANGELIST = "admin:django_jobqueue_schedule_changelist"


class ScheduleAdmin(admin.ModelAdmin):
    """The Schedules page and its buttons. View: ``view_schedule`` (or ``change_schedule``);
    Enable / Disable: ``change_schedule``; Run now: ``run_schedule``."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # entries are declared in settings and on job classes

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION.format("run"))

    def get_urls(self) -> list[URLPattern]:
        # Only these: Django's own pages would query a table that does not exist.
        name = "django_jobqueue_schedule_"
        return [
            path("", own_view(self, schedules), name=name + "changelist"),
            path("run/", own_view(self, run_now, post=True), name=name + "run"),
            path("enable/", own_view(self, enable, post=True), name=name + "enable"),
            path("disable/", own_view(self, disable, post=True), name=name + "disable"),
        ]


def schedules(modeladmin: ScheduleAdmin, request: HttpRequest) -> TemplateResponse:
    """Every entry: job, when, queue, enabled, last run, last outcome, next run, buttons."""
    require(modeladmin.has_view_permission(request))
    try:
        found, error = listing.rows(now=time.time()), ""
    except JobQueueError as exc:  # a job class or connection gone since start-up: say so
        found, error = [], str(exc)
    context = page_context(
        modeladmin, request, "Schedules", error=error, rows=[_cells(row) for row in found],
        can_run=modeladmin.has_run_permission(request),
        can_change=modeladmin.has_change_permission(request),
        can_view_failed=request.user.has_perm("django_jobqueue.view_failedjob"),
        tz_name=timezone.get_current_timezone_name(),
    )
    return TemplateResponse(request, TEMPLATE, context)


def _cells(row: Row) -> dict[str, Any]:
    """One entry for the template: the row, its times as text (the template escapes)."""
    return {"row": row, "job": breakable(row.job), "last_run": _when(row.last_run),
            "outcome_at": _when(row.outcome_at), "next_run": _when(row.next_run)}


def _when(moment: Moment | None) -> dict[str, str] | None:
    return None if moment is None else {"at": when(moment.at), "relative": moment.relative}


def run_now(modeladmin: ScheduleAdmin, request: HttpRequest) -> HttpResponse:
    """Queue the entry's job now (a unique job whose key is held is not queued)."""
    return _act(modeladmin, request, modeladmin.has_run_permission(request), "run", _run)


def enable(modeladmin: ScheduleAdmin, request: HttpRequest) -> HttpResponse:
    """Fire the entry from its next slot on."""
    return _act(modeladmin, request, modeladmin.has_change_permission(request), "enabled",
                lambda name: (listing.enabled_message(service.enable(name)), True))


def disable(modeladmin: ScheduleAdmin, request: HttpRequest) -> HttpResponse:
    """Stop firing the entry until it is enabled again."""
    return _act(modeladmin, request, modeladmin.has_change_permission(request), "disabled",
                _disable)


def _run(name: str) -> tuple[str, bool]:
    result = service.run_now(name)
    return listing.run_message(name, result), not result.duplicate


def _disable(name: str) -> tuple[str, bool]:
    service.disable(name)
    return listing.disabled_message(name), True


def _act(modeladmin: ScheduleAdmin, request: HttpRequest, allowed: bool, verb: str,
         action: Callable[[str], tuple[str, bool]]) -> HttpResponse:
    """Check the button's permission, run ``action`` on the POSTed entry name (it returns
    what to say and whether anything changed), report, log a change, go back to the page.

    An unknown name (an entry removed since the page was shown), a store that does not
    answer, a job that cannot be built: said as an error, nothing logged. A run that queued
    nothing (its unique job's key is held) is a warning, not logged either."""
    require(allowed)
    name = request.POST.get("name", "")
    return press(modeladmin, request, verb, lambda: action(name), Schedule(name=name),
                 reverse(CHANGELIST))
