"""Changelist actions: retry, purge old, delete. Each needs its own permission, runs only on
POST (Django's action machinery, behind CSRF), works through the selection or, with "select
all", every row matching the changelist's filters, in primary-key batches, reports counts
and writes an admin log entry."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, DELETION
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from ..conf import jobqueue_settings
from ..failures import service
from .audit import log_summary

CONFIRM_TEMPLATE = "admin/django_jobqueue/failedjob/confirm_action.html"


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
    report = service.retry_many(service.iter_queryset_ids(queryset))
    report_retry(modeladmin, request, report, _scope(request))


@admin.action(description="Purge old failed jobs…", permissions=["purge"])
def purge_old(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
    """Ask for N days (showing how many rows are older), then delete those rows."""
    form = PurgeForm(request.POST if "days" in request.POST else None,
                     initial={"days": jobqueue_settings.FAILED_RETENTION_DAYS})
    days = form.cleaned_data["days"] if form.is_valid() else form.initial["days"]
    older = queryset.filter(failed_at__lt=timezone.now() - dt.timedelta(days=days))
    if request.POST.get("post") == "yes" and form.is_valid():
        return _delete(modeladmin, request, older, f"Purged {{}} older than {days} days")
    return _confirm(modeladmin, request, "purge_old", older.count(), form,
                    f"Purge failed jobs older than {days} days")


@admin.action(description="Delete selected failed jobs…", permissions=["delete"])
def delete_selected(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
    """Django's own ``delete_selected`` lists every object first; this one shows a count
    and deletes in batches."""
    if request.POST.get("post") == "yes":
        return _delete(modeladmin, request, queryset, "Deleted {}")
    return _confirm(modeladmin, request, "delete_selected", queryset.count(), None,
                    "Delete failed jobs")


def _delete(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any],
            summary: str) -> None:
    """Delete ``queryset``'s rows in batches; report ``summary`` with the count filled in."""
    deleted = sum(service.forget_many(service.iter_queryset_ids(queryset)).values())
    text = f"{summary.format(plural(deleted))} ({_scope(request)})."
    modeladmin.message_user(request, text, messages.SUCCESS)
    log_summary(request, DELETION, text)


def _across(request: HttpRequest) -> bool:
    return request.POST.get("select_across") == "1"


def _scope(request: HttpRequest) -> str:
    if _across(request):
        return "everything matching the filters"
    return f"{len(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))} selected"


def _confirm(modeladmin: Any, request: HttpRequest, action: str, count: int,
             form: PurgeForm | None, title: str) -> TemplateResponse:
    """The intermediate page: what the action acts on, how many rows, and a form that
    posts the same action back with ``post=yes``."""
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": opts,
        "action": action,
        "count": count,
        "form": form,
        "across": _across(request),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "verb": "Purge" if action == "purge_old" else "Delete",
    }
    return TemplateResponse(request, CONFIRM_TEMPLATE, context)
