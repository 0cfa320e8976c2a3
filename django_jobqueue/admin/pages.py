"""What the admin's own pages share: a view function ``view(modeladmin, request, ...)``
made an admin view (login, staff, CSRF, no caching; POST only for buttons), the context
every page starts from, and the permission check each view makes first."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST


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
