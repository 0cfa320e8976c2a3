"""The page of one batch (``batch/<id>/``): its name, when it was created, its progress bar
(succeeded, failed, cancelled, pending), its callbacks, whether its rest was cancelled and
the table of its failed children, each linked to its failed-job page; reached from a
failed child's Workflow section, the Queues page's "Find a batch" box, or its URL.

It needs ``view_failedjob``, as the Queues page does. Its two buttons each show a
confirmation page first and need their own permission (:class:`~django_jobqueue.models.
QueueControl`): "Retry failed children" (``retry_batch_children``) and "Cancel the rest"
(``cancel_batch``). The confirming POST (CSRF) calls :mod:`django_jobqueue.workflows.
operate`, reports what it did and writes an admin log entry about ``batch:<id>``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from ..failures.criteria import is_job_id
from ..failures.record import FailureRecord
from ..flow.lookup import UNANSWERED
from ..models import QueueControl
from ..workflows.operate import (
    cancel_batch,
    count_failed_children,
    failed_children,
    retry_failed_children,
)
from ..workflows.status import BatchStatus, batch_status
from ..workflows.text import cancel_text, retry_text, title, unknown_batch
from . import confirm
from .batch_view import batch_url, children_url, progress
from .dates import when
from .display import breakable, cut
from .pages import page_context, press, require
from .queue_control import QUEUES

TEMPLATE = "admin/django_jobqueue/failedjob/batch.html"
RETRY_PERMISSION = "django_jobqueue.retry_batch_children"
CANCEL_PERMISSION = "django_jobqueue.cancel_batch"
#: Failed children listed on the page; the changelist (filtered by batch) has the rest.
SHOWN = 100
MESSAGE_CHARS = 120


def can_retry_children(request: HttpRequest) -> bool:
    return request.user.has_perm(RETRY_PERMISSION)


def can_cancel_batch(request: HttpRequest) -> bool:
    return request.user.has_perm(CANCEL_PERMISSION)


def find(modeladmin: Any, request: HttpRequest) -> HttpResponse:
    """The "Find a batch" box: its ``?id=`` (with or without dashes) to the batch's page."""
    require(modeladmin.has_view_permission(request))
    raw = request.GET.get("id", "").strip()
    batch_id = _normal(raw)
    if is_job_id(batch_id):
        return HttpResponseRedirect(batch_url(batch_id))
    return _page(modeladmin, request, raw, None,
                 f"{raw!r} is not a batch id (32 hex digits, as batch(...).dispatch() "
                 "returns it).")


def batch(modeladmin: Any, request: HttpRequest, batch_id: str) -> HttpResponse:
    """The batch's page; a batch no store knows says so (404), as does a store that does
    not answer."""
    require(modeladmin.has_view_permission(request))
    status, error = _status(batch_id)
    return _page(modeladmin, request, batch_id, status, error)


def retry_children(modeladmin: Any, request: HttpRequest, batch_id: str) -> HttpResponse:
    """"Retry failed children": a GET (the page's button is a link) shows how many, its
    confirming POST retries them."""
    require(can_retry_children(request))
    status, error = _status(batch_id)
    if status is None:
        return _page(modeladmin, request, batch_id, None, error)
    if confirm.confirmed_mark(request) is None:
        count = count_failed_children(status.id)
        return confirm.show(modeladmin, request, _retry_page(status, count), count, count)

    def act() -> tuple[str, bool]:
        report = retry_failed_children(status.id)
        return retry_text(status.id, report), bool(report.retried)

    return press(modeladmin, request, "retried", act, _logged(status), batch_url(status.id))


def cancel_rest(modeladmin: Any, request: HttpRequest, batch_id: str) -> HttpResponse:
    """"Cancel the rest": a GET shows how many jobs have not ended, its confirming POST
    cancels them (by ``admin:<username>``)."""
    require(can_cancel_batch(request))
    status, error = _status(batch_id)
    if status is None:
        return _page(modeladmin, request, batch_id, None, error)
    if confirm.confirmed_mark(request) is None:
        return confirm.show(modeladmin, request, _cancel_page(status), status.pending,
                            status.pending)
    by = f"admin:{request.user.get_username()}"

    def act() -> tuple[str, bool]:
        try:
            report = cancel_batch(status.id, by=by, connection=status.home)
        except LookupError:  # forgotten since the page was shown
            return unknown_batch(status.id), False
        # The batch's cancel request is written even when no job was left to find.
        return cancel_text(report), True

    return press(modeladmin, request, "cancelled", act, _logged(status), batch_url(status.id))


# -- the page ------------------------------------------------------------------------------
def _page(modeladmin: Any, request: HttpRequest, batch_id: str, status: BatchStatus | None,
          error: str) -> TemplateResponse:
    context = page_context(
        modeladmin, request, f"Batch {batch_id}" if status is not None else "Find a batch",
        raw=batch_id, error=error, status=status, crumbs=[("Queues", reverse(QUEUES))],
        **(_facts(request, status) if status is not None else {}),
    )
    # An unknown batch, or a malformed id, is a page that says so: not a server error.
    return TemplateResponse(request, TEMPLATE, context, status=200 if status else 404)


def _facts(request: HttpRequest, status: BatchStatus) -> dict[str, Any]:
    """What the template shows of a batch found: its bar, its failed children (at most
    ``SHOWN``, with how many there are) and the buttons the user may press."""
    failed = failed_children(status.id, SHOWN) if status.failed else []
    total = count_failed_children(status.id) if len(failed) == SHOWN else len(failed)
    return {
        "bar": progress(status), "failed": [_child(record) for record in failed],
        "failed_total": total, "children_url": children_url(status.id),
        "can_retry": can_retry_children(request) and bool(failed),
        "can_cancel": can_cancel_batch(request) and status.pending > 0,
    }


def _child(record: FailureRecord) -> dict[str, Any]:
    """One failed child for the table: its record's page (rows of the table have one),
    class, exception (cut, all of it on hover) and when it failed."""
    text = f"{record.exception_class}: {record.message}" if record.message else (
        record.exception_class)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return {"record": record, "job_class": breakable(record.job_class),
            "exception": cut(first, text, MESSAGE_CHARS), "failed_at": when(record.failed_at),
            "url": (reverse("admin:django_jobqueue_failedjob_change", args=[record.id])
                    if isinstance(record.id, int) else "")}


def _status(batch_id: str) -> tuple[BatchStatus | None, str]:
    """The batch, or why there is none to show."""
    if not is_job_id(batch_id):
        return None, f"{batch_id!r} is not a batch id (32 hex digits)."
    try:
        status = batch_status(batch_id)
    except UNANSWERED as exc:  # a store that does not answer: say which, not a 500
        return None, f"The batch could not be read: {exc}"
    return status, "" if status is not None else unknown_batch(batch_id)


def _normal(raw: str) -> str:
    # Ids are shown with and without dashes.
    return raw.replace("-", "").lower()


def _logged(status: BatchStatus) -> QueueControl:
    """The object admin log entries about the batch are written against."""
    return QueueControl(name=f"batch:{status.id}")


# -- confirmation pages --------------------------------------------------------------------
def _confirmation(status: BatchStatus, title_text: str, which: str, promise: Any
                  ) -> confirm.Page:
    """A button's confirmation page: the batch's ``which`` jobs as its scope; Cancel and
    the breadcrumbs lead back to the batch."""
    return confirm.Page(
        title=title_text,
        scope=format_html("the jobs of {} {}",
                          format_html('<span class="jq-wrap">{}</span>', title(status)), which),
        cancel_url=batch_url(status.id), promise=promise,
        crumbs=[("Queues", reverse(QUEUES)), (f"Batch {status.id}", batch_url(status.id))])


def _retry_page(status: BatchStatus, count: int) -> confirm.Page:
    one = count == 1
    promise = format_html(
        "Are you sure? <strong>{}</strong> failed job{} will be pushed again and {} "
        "failed-job record{} deleted. The batch counts them as pending until they end, "
        "then fires the callbacks due (on_success once every job has succeeded).",
        count, "" if one else "s", "its" if one else "their", "" if one else "s")
    return _confirmation(status, "Retry the failed jobs of a batch", "that failed for good",
                         promise)


def _cancel_page(status: BatchStatus) -> confirm.Page:
    one = status.pending == 1
    promise = format_html(
        "Are you sure? <strong>{}</strong> job{} of {} ha{} not ended: waiting ones are "
        "taken out of their queues and kept as cancelled records, running ones are asked "
        "to stop. Each is counted as cancelled, so the batch completes and fires on_failure "
        "and on_complete. A job of the batch retried since runs under a new id: a worker "
        "stops it when it takes it.",
        status.pending, "" if one else "s", status.total, "s" if one else "ve")
    return _confirmation(status, "Cancel the rest of a batch", "that have not ended", promise)
