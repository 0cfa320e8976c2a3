"""What the admin's own pages share: a view function ``view(modeladmin, request, ...)``
made an admin view (login, staff, CSRF, no caching; POST only for buttons), the context
every page starts from, the permission check each view makes first, and what a button does
once allowed (report, log, go back)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from django.contrib import messages
from django.contrib.admin.models import CHANGE
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST

from ..exceptions import JobQueueError
from .audit import log_summary


def own_view(modeladmin: Any, view: Callable[..., HttpResponse], post: bool = False
             ) -> Callable[..., HttpResponse]:
    """``view(modeladmin, request, ...)`` as an admin view; ``post``: POST only."""
    bound = partial(view, modeladmin)

    def call(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return bound(request, *args, **kwargs)

    wrapped = modeladmin.admin_site.admin_view(require_POST(call) if post else call)
    return update_wrapper(wrapped, view)


def page_context(modeladmin: Any, request: HttpRequest, title: str, **extra: Any
                 ) -> dict[str, Any]:
    """The admin's context for a page of ``modeladmin``'s (sidebar, user, ``opts``)."""
    return {**modeladmin.admin_site.each_context(request), "title": title,
            "opts": modeladmin.model._meta, **extra}


def require(allowed: bool) -> None:
    """403 unless ``allowed`` (each view checks its own permission)."""
    if not allowed:
        raise PermissionDenied


def press(modeladmin: Any, request: HttpRequest, verb: str,
          action: Callable[[], tuple[str, bool]], obj: Any, back: str) -> HttpResponse:
    """A button's work once its permission is checked: run ``action`` (it calls a service
    and returns what to say and whether anything changed), report it, log a change about
    ``obj``, go back to ``back``.

    A service error (a store that does not answer, a name gone since the page was shown)
    is said as an error, "Nothing was <verb>: ...". Only a change is logged; an action that
    changed nothing is a warning."""
    try:
        text, changed = action()
    except JobQueueError as exc:
        modeladmin.message_user(request, f"Nothing was {verb}: {exc}", messages.ERROR)
    else:
        modeladmin.message_user(request, text, messages.SUCCESS if changed else messages.WARNING)
        if changed:
            log_summary(request, CHANGE, text, obj=obj)
    return HttpResponseRedirect(back)
