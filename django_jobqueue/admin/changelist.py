"""``FailedJobAdmin``: the changelist (columns, filters, search, cheap counts), read-only
detail page, permissions, and the URLs of the admin's own pages."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .. import failures
from ..failures.criteria import as_q
from ..failures.database import row_ids
from . import batch_page, detail, job_page, queue_control, queue_jobs, source, views, workflow
from .actions import delete_selected, purge_old, retry_selected
from .dates import when
from .display import breakable, cut, outcome_badge
from .filters import (
    BatchFilter,
    FingerprintFilter,
    HeldChainFilter,
    OutcomeFilter,
    failed_at_filter,
    values_filter,
)
from .pages import own_view
from .paginator import EstimatedCountPaginator

_JOB_ID = re.compile(r"^[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
# Columns the changelist never shows: not read for a page of rows.
_HEAVY = ("payload", "exception", "errors")
PERMISSION = "django_jobqueue.{}_failedjob"
EXCEPTION_CHARS = 100  # about three lines of the exception column at 1280 px


class FailedJobChangeList(ChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> Any:
        # Whether a row is a chain step holding the rest: a test of its payload made in
        # the query (for the page's rows only), the payload itself left unread.
        holds = ExpressionWrapper(as_q(chain_held=True, outcome="failed"),
                                  output_field=BooleanField())
        return super().get_queryset(request, exclude_parameters).defer(*_HEAVY).annotate(
            holds_chain=holds)


class FailedJobAdmin(admin.ModelAdmin):
    """Failed jobs: browse, filter, inspect, retry, purge. Read-only: no add, no edit."""

    list_display = ("id", "job_class_cell", "queue", "connection", "exception_cell",
                    "attempts", "failed_at_local")
    list_display_links = ("id", "job_class_cell")
    list_filter = (
        values_filter("queue", "queue"), values_filter("connection", "connection"),
        values_filter("job_class", "job class"),
        values_filter("exception_class", "exception class"), OutcomeFilter,
        FingerprintFilter, BatchFilter, HeldChainFilter, failed_at_filter(),
    )
    # Only columns an index can sort: no filesort of a million rows by a text column.
    sortable_by = ("id", "failed_at_local")
    ordering = ("-failed_at", "-id")
    search_fields = ("job_class", "exception_class")  # shows the box; see get_search_results
    search_help_text = ("A failed-job id, a job id, or the start of a job class or "
                        "exception class (e.g. shop.jobs).")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a COUNT per filter choice on every page load
    paginator = EstimatedCountPaginator
    list_per_page = 50
    actions = (retry_selected, purge_old, delete_selected)
    readonly_fields = ("id", "uuid", "job_class", "queue", "connection", "attempts",
                       "failed_at_local", "worker", detail.outcome, *detail.FIELDS,
                       workflow.workflow)
    fieldsets = (
        (None, {"fields": (detail.outcome, "id", "uuid", "job_class", "queue", "connection",
                           "attempts", "failed_at_local", "worker")}),
        *detail.FIELDSETS,
    )
    change_list_template = "admin/django_jobqueue/failedjob/change_list.html"
    change_form_template = "admin/django_jobqueue/failedjob/change_form.html"

    # -- data ---------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """The failed-job store's table, newest first."""
        return source.rows().order_by(*self.ordering)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if (why := source.missing_table()) is not None:
            self.message_user(request, why, messages.WARNING)
        return super().changelist_view(request, extra_context)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return FailedJobChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Exact id, exact job id, or a class-name prefix: each an index lookup, never a
        ``LIKE '%...%'`` over the table."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(pk=int(term)), False
        if _JOB_ID.match(term):
            return queryset.filter(uuid=term.replace("-", "").lower()), False
        prefix = Q(job_class__startswith=term) | Q(exception_class__startswith=term)
        return queryset.filter(prefix), False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        failures.forget(obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        failures.forget_many(row_ids(queryset))

    # -- columns --------------------------------------------------------------------------

    @admin.display(description="job class")
    def job_class_cell(self, obj: Any) -> SafeString:
        if not getattr(obj, "holds_chain", False):
            return breakable(obj.job_class)
        # A failed chain step: its retry resumes a chain, its deletion cancels the rest.
        return format_html('{} <span class="jq-outcome jq-chain-held" title="A failed chain '
                           'step: it holds the steps after it. Retrying it resumes the chain;'
                           ' deleting it cancels them.">holds chain</span>',
                           breakable(obj.job_class))

    @admin.display(description="exception")
    def exception_cell(self, obj: Any) -> SafeString | str:
        """The exception's first line, cut to fit a 1280 px screen; all of its text (the
        whole message) on hover."""
        full = f"{obj.exception_class}: {obj.message}" if obj.message else obj.exception_class
        # A cancelled or expired job is kept here too: labelled, so it is not read as a
        # failure.
        return format_html("{}{}", outcome_badge(obj.exception_class),
                           cut(detail.exception_summary(obj), full, EXCEPTION_CHARS))

    @admin.display(description="failed at", ordering="failed_at")
    def failed_at_local(self, obj: Any) -> str:
        return when(obj.failed_at)

    # -- permissions ----------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # read-only: the detail page is a view, retries are their own button

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION.format("retry"))

    def has_purge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION.format("purge"))

    def has_raw_payload_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION.format("view_raw_payload"))

    # -- pages ----------------------------------------------------------------------------

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"can_retry": self.has_retry_permission(request),
                 "can_view_raw": self.has_raw_payload_permission(request),
                 **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """The sections of the detail page; a job of a chain or a batch has a Workflow
        section after its own columns (what retrying or deleting it does to the rest)."""
        if obj is None or not workflow.marks_of(obj):
            return self.fieldsets
        first, *rest = self.fieldsets
        return (first, ("Workflow", {"fields": (workflow.workflow,)}), *rest)

    def get_urls(self) -> list[URLPattern]:
        name = "django_jobqueue_failedjob_"
        own = [
            path("overview/", own_view(self, views.overview), name=name + "overview"),
            path("groups/", own_view(self, views.groups), name=name + "groups"),
            path("groups/<str:fingerprint>/retry/", own_view(self, views.retry_group, post=True),
                 name=name + "retry_group"),
            # GET shows the confirmation page; only its POST deletes.
            path("groups/<str:fingerprint>/purge/", own_view(self, views.purge_group),
                 name=name + "purge_group"),
            path("queues/", own_view(self, views.queues), name=name + "queues"),
            path("queues/pause/", own_view(self, queue_control.pause, post=True),
                 name=name + "pause_queue"),
            path("queues/resume/", own_view(self, queue_control.resume, post=True),
                 name=name + "resume_queue"),
            # Connection, queue and job id go in the query string: any queue name works.
            path("queues/jobs/", own_view(self, queue_jobs.jobs), name=name + "queue_jobs"),
            path("queues/jobs/cancel/", own_view(self, queue_jobs.cancel_selected_jobs,
                                                 post=True), name=name + "cancel_jobs"),
            # GET (or a first POST) shows the confirmation page; only its POST cancels.
            path("queues/jobs/cancel-class/", own_view(self, queue_jobs.cancel_job_class),
                 name=name + "cancel_job_class"),
            path("queues/job/", own_view(self, job_page.job), name=name + "job"),
            path("batch/", own_view(self, batch_page.find), name=name + "find_batch"),
            path("batch/<str:batch_id>/", own_view(self, batch_page.batch),
                 name=name + "batch"),
            # GET shows the confirmation page; only its POST retries, or cancels.
            path("batch/<str:batch_id>/retry/", own_view(self, batch_page.retry_children),
                 name=name + "retry_batch_children"),
            path("batch/<str:batch_id>/cancel/", own_view(self, batch_page.cancel_rest),
                 name=name + "cancel_batch"),
            path("<int:pk>/retry/", own_view(self, views.retry_one, post=True),
                 name=name + "retry"),
            path("<int:pk>/raw-payload/", own_view(self, views.raw_payload),
                 name=name + "raw_payload"),
        ]
        # Before the model admin's own: its "<path:object_id>/" would match these.
        return own + super().get_urls()
