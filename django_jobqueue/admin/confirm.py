"""The confirmation page in front of everything in the admin that deletes failed jobs
("Purge old", "Delete selected", "Purge this group") or cancels jobs by a filter ("Cancel
all of job class X" on a queue's jobs page).

A first click (or any GET) only shows the page: how many rows will be deleted (jobs
cancelled) and which ones (the selection, the filters, the group, the job class), a Cancel
link and Django's red confirm button. Only that page's POST acts, behind the admin's CSRF
check.

Why the page carries the highest id it counted (``upto``): it promises "N failed jobs will
be deleted", and failures keep arriving while someone reads it. The confirming POST deletes
the rows that matched when the page was shown, never rows recorded since that happen to
match the same filter or group. A POST without that field (an old form, a forged request)
shows the page again instead of deleting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Max, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from .. import failures
from ..failures.database import row_ids

TEMPLATE = "admin/django_jobqueue/failedjob/confirm_action.html"


@dataclass(frozen=True)
class Deletion:
    """The rows of ``queryset`` with an id up to ``upto``: what one confirmation page
    counts and what its confirming POST deletes."""

    queryset: QuerySet[Any]
    upto: int

    @classmethod
    def now(cls, queryset: QuerySet[Any]) -> Deletion:
        """The rows matching ``queryset`` at this moment (its highest id is the mark)."""
        top = queryset.order_by().aggregate(top=Max("pk"))["top"]
        return cls(queryset, top or 0)

    @classmethod
    def confirmed(cls, request: HttpRequest, queryset: QuerySet[Any]) -> Deletion | None:
        """The deletion a confirmation page's POST asks for; ``None`` for anything else (a
        GET, a first click, a "Count again", a POST without the page's fields)."""
        upto = confirmed_mark(request)
        return None if upto is None else cls(queryset, upto)

    def count(self) -> int:
        return self.queryset.filter(pk__lte=self.upto).count()

    def run(self) -> int:
        """Delete the rows in primary-key batches through the failures service; how many
        went (fewer than counted when someone else deleted some meanwhile)."""
        ids = row_ids(self.queryset, upto=self.upto)
        return sum(failures.forget_many(ids).values())


def confirmed_mark(request: HttpRequest) -> int | None:
    """The mark (``upto``) a confirmation page's POST carries back; ``None`` for anything
    else (a GET, a first click, a "Count again", a POST without the page's fields)."""
    if request.method != "POST" or request.POST.get("post") != "yes":
        return None
    if "recount" in request.POST:
        return None
    upto = request.POST.get("upto", "")
    return int(upto) if upto.isdigit() else None


@dataclass(frozen=True)
class Page:
    """What a confirmation page says besides the count: its title, the scope in words
    (HTML-safe text or plain text, escaped by the template), where Cancel goes, the
    breadcrumbs between the changelist and the title, and the fields the form posts back.
    ``promise``: what confirming does, count included (HTML-safe), for a page that does
    not delete failed jobs."""

    title: str
    scope: Any
    cancel_url: str
    hidden: Sequence[tuple[str, Any]] = ()
    crumbs: Sequence[tuple[str, str]] = ()
    form: Any = None
    promise: Any = None


def render(modeladmin: Any, request: HttpRequest, deletion: Deletion,
           page: Page) -> TemplateResponse:
    """The confirmation page for ``deletion``; its form posts to the URL it was shown at."""
    return show(modeladmin, request, page, deletion.count(), deletion.upto)


def show(modeladmin: Any, request: HttpRequest, page: Page, count: int, upto: int
         ) -> TemplateResponse:
    """A confirmation page that counted ``count`` and carries ``upto`` back in its POST
    (:func:`confirmed_mark`); its form posts to the URL it was shown at."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": page.title,
        "page": page,
        "crumbs": page.crumbs,
        "count": count,
        "upto": upto,
    }
    return TemplateResponse(request, TEMPLATE, context)
