"""The Queues page's Pause and Resume buttons: each a POST (CSRF) of a connection and a queue
under the ``pause_queue`` permission (:class:`~django_jobqueue.models.QueueControl`), that
calls :mod:`django_jobqueue.flow.pause`, reports with a message and writes an admin log
entry about ``<connection>:<queue>``. The page itself is :func:`.views.queues`."""

from __future__ import annotations

import time
from typing import Any

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import reverse

from ..flow.pause import pause_queue, resume_queue
from ..flow.pause_text import paused_before, paused_message, resumed_message
from ..models import QueueControl
from .pages import press, require

PERMISSION = "django_jobqueue.pause_queue"
QUEUES = "admin:django_jobqueue_failedjob_queues"


def can_pause(request: HttpRequest) -> bool:
    """Whether the user may pause and resume queues (and so sees the buttons)."""
    return request.user.has_perm(PERMISSION)


def pause(modeladmin: Any, request: HttpRequest) -> HttpResponse:
    """Pause the POSTed queue: workers take no new jobs from it."""
    require(can_pause(request))
    connection, queue = target(request.POST)
    by = f"admin:{request.user.get_username()}"

    def act() -> tuple[str, bool]:
        asked_at = time.time()
        done = pause_queue(queue, connection, by=by)
        return paused_message(done, asked_at), not paused_before(done, asked_at)

    return press(modeladmin, request, "paused", act, control(connection, queue),
                 reverse(QUEUES))


def resume(modeladmin: Any, request: HttpRequest) -> HttpResponse:
    """Resume the POSTed queue: workers take jobs from it again."""
    require(can_pause(request))
    connection, queue = target(request.POST)

    def act() -> tuple[str, bool]:
        resumed = resume_queue(queue, connection)
        return resumed_message(queue, connection, resumed), resumed

    return press(modeladmin, request, "resumed", act, control(connection, queue),
                 reverse(QUEUES))


def target(data: QueryDict) -> tuple[str, str]:
    """The connection and queue a button posts (or a link names); both are in every form and
    link the pages show."""
    connection, queue = data.get("connection", ""), data.get("queue", "")
    if not connection or not queue:
        # An empty connection would mean DEFAULT_CONNECTION: never guess which one.
        raise BadRequest("a connection and a queue are required")
    return connection, queue


def control(connection: str, queue: str) -> QueueControl:
    """The object admin log entries about ``queue`` of ``connection`` are written against."""
    return QueueControl(name=f"{connection}:{queue}")
