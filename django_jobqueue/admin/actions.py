"""Changelist actions: retry, purge old, delete. Each needs its own permission, runs only on
POST (Django's action machinery, behind CSRF), works through the selection or, with "select
all", every row matching the changelist's filters, in primary-key batches, reports counts
and writes an admin log entry. The two that delete show a confirmation page first
(:mod:`.confirm`)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, DELETION
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .. import failures
from ..conf import jobqueue_settings
from ..failures.database import row_ids
from . import confirm
from .audit import log_summary
from .confirm import Deletion
from .dates import when

# Changelist parameters that are not filters (ordering, page, facets, popups).
_NOT_FILTERS = {"o", "p", "e", "_changelist_filters", "_to_field", "_popup", "_facets"}
_RANGE = re.compile(r"^(\w+?)__range__(gte|lte)_([01])$")  # django-admin-rangefilter's


class PurgeForm(forms.Form):
    days = forms.IntegerField(min_value=0, max_value=36500, label="Older than (days)")


def plural(count: int) -> str:
    return f"{count} failed job{'' if count == 1 else 's'}"


def report_retry(modeladmin: Any, request: HttpRequest, report: Any, scope: str) -> None:
    """Message and log entry for a finished retry (of rows, a group, or one row)."""
    text = f"Retried {plural(len(report.retried))} ({scope})."
    if report.errors:
        first = next(iter(report.errors.items()))
        text += f" {plural(len(report.errors))} kept: #{first[0]}: {first[1]}"
    level = messages.WARNING if report.errors else messages.SUCCESS
    modeladmin.message_user(request, text, level)
    if report.retried:
        log_summary(request, CHANGE, text)


@admin.action(description="Retry selected failed jobs", permissions=["retry"])
def retry_selected(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> None:
    """Push each row's payload again and delete the row (rows that cannot be retried stay)."""
    report = failures.retry_many(row_ids(queryset))
    report_retry(modeladmin, request, report, _scope(request))


@admin.action(description="Purge old failed jobs…", permissions=["purge"])
def purge_old(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
    """Ask for N days (showing how many rows failed before now minus N days), then delete
    those rows. The cutoff is fixed when the page counts: confirming deletes what it
    counted, and a changed number of days is counted again first."""
    form = PurgeForm(request.POST if "days" in request.POST else None,
                     initial={"days": jobqueue_settings.FAILED_RETENTION_DAYS})
    days = form.cleaned_data["days"] if form.is_valid() else form.initial["days"]
    counted = _counted_cutoff(request, days)
    cutoff = counted or timezone.now() - dt.timedelta(days=days)
    older = queryset.filter(failed_at__lt=cutoff)
    deletion = Deletion.confirmed(request, older) if counted and form.is_valid() else None
    if deletion is not None:
        return _delete(modeladmin, request, deletion, f"Purged {{}} older than {days} days")
    page = _page(request, f"Purge failed jobs older than {days} days",
                 format_html("{}, that failed before {} (older than {} days)",
                             _selection(request), when(cutoff), days),
                 [("counted_days", days), ("cutoff", cutoff.isoformat())], form)
    return confirm.render(modeladmin, request, Deletion.now(older), page)


@admin.action(description="Delete selected failed jobs…", permissions=["delete"])
def delete_selected(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
    """Django's own ``delete_selected`` lists every object first; this one shows a count
    and deletes in batches."""
    deletion = Deletion.confirmed(request, queryset)
    if deletion is not None:
        return _delete(modeladmin, request, deletion, "Deleted {}")
    page = _page(request, "Delete failed jobs", _selection(request), [])
    return confirm.render(modeladmin, request, Deletion.now(queryset), page)


def _delete(modeladmin: Any, request: HttpRequest, deletion: Deletion, summary: str) -> None:
    """Run ``deletion``; report ``summary`` with the count filled in."""
    deleted = deletion.run()
    text = f"{summary.format(plural(deleted))} ({_scope(request)})."
    modeladmin.message_user(request, text, messages.SUCCESS)
    log_summary(request, DELETION, text)


def _counted_cutoff(request: HttpRequest, days: int) -> dt.datetime | None:
    """The cutoff a purge page counted with, when it was counted for ``days`` days."""
    if request.POST.get("counted_days") != str(days):
        return None
    try:
        cutoff = dt.datetime.fromisoformat(request.POST.get("cutoff", ""))
    except ValueError:
        return None
    return cutoff if timezone.is_aware(cutoff) else None


def _page(request: HttpRequest, title: str, scope: Any, hidden: list[tuple[str, Any]],
          form: PurgeForm | None = None) -> confirm.Page:
    """A confirmation page that posts the same action back, selection and filters kept."""
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    fields = [*((helpers.ACTION_CHECKBOX_NAME, pk) for pk in selected),
              ("action", request.POST.get("action", "")),
              ("select_across", "1" if _across(request) else "0"), *hidden]
    return confirm.Page(title=title, scope=scope, cancel_url=request.get_full_path(),
                        hidden=fields, form=form)


def _selection(request: HttpRequest) -> SafeString:
    """The rows an action acts on, in words: the selection, or the changelist's filters."""
    if _across(request):
        return format_html("<strong>every failed job matching the filters</strong> ({}), "
                           "not only this page", describe_filters(request.GET))
    count = len(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))
    return format_html("<strong>the {} selected</strong> failed job{} only", count,
                       "" if count == 1 else "s")


def describe_filters(query: QueryDict) -> str:
    """The changelist's filters and search, from its query string, for people to read."""
    parts, ranges = [], {}
    for key, value in query.items():
        if key in _NOT_FILTERS or not value:
            continue
        bound = _RANGE.match(key)
        if bound:
            ranges.setdefault(bound.group(1, 2), ["", ""])[int(bound.group(3))] = value
        elif key == "q":
            parts.append(f'search "{value}"')
        else:
            parts.append(f"{key.replace('_', ' ')} = {value}")
    for (field, side), (day, time) in ranges.items():
        word = "from" if side == "gte" else "to"
        parts.append(f"{field.replace('_', ' ')} {word} {day} {time}".strip())
    return ", ".join(parts) or "no filter: the whole table"


def _across(request: HttpRequest) -> bool:
    return request.POST.get("select_across") == "1"


def _scope(request: HttpRequest) -> str:
    if _across(request):
        return "everything matching the filters"
    return f"{len(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))} selected"
