"""What operators are told about pauses: ``manage.py pause_queue`` / ``resume_queue`` and
``queue_status`` print these sentences and the admin's Queues page shows them, so both
surfaces say the same thing. Times are to the second in the current time zone, as the
commands and the admin print every time."""

from __future__ import annotations

import datetime as dt
import time

from django.utils import timezone

from ..status import format_age
from .pause import Pause

FORMAT = "%Y-%m-%d %H:%M:%S"
_EFFECT = "Workers take no new jobs from it; running jobs finish."


def paused_message(pause: Pause, asked_at: float) -> str:
    """What to say after :func:`~.pause.pause_queue`; ``asked_at``: when it was called (a
    pause from before then was there already, and stands)."""
    queue, connection = pause.queue, pause.connection
    if paused_before(pause, asked_at):
        return (f"Queue {queue!r} on connection {connection!r} was paused already "
                f"({since_text(pause.paused_at, pause.by)}). {_EFFECT}")
    return f"Paused queue {queue!r} on connection {connection!r}. {_EFFECT}"


def paused_before(pause: Pause, asked_at: float) -> bool:
    """Whether ``pause`` (what :func:`~.pause.pause_queue` returned when called at
    ``asked_at``) was there already: the call changed nothing."""
    return bool(pause.paused_at) and pause.paused_at < asked_at


def resumed_message(queue: str, connection: str, resumed: bool) -> str:
    """What to say after :func:`~.pause.resume_queue` (``resumed``: what it returned)."""
    if not resumed:
        return f"Queue {queue!r} on connection {connection!r} was not paused: nothing changed."
    return f"Resumed queue {queue!r} on connection {connection!r}: workers take jobs from it again."


def since_text(paused_at: float | None, by: str, now: float | None = None) -> str:
    """``since 2026-12-07 14:03:27 (3m 05s ago), by admin:alice``; the time of an unreadable
    pause (``paused_at`` 0.0 or ``None``) is unknown."""
    if not paused_at:
        return "since an unknown time (its stored value could not be read)"
    now = time.time() if now is None else now
    local = timezone.localtime(dt.datetime.fromtimestamp(paused_at, tz=dt.UTC))
    author = f", by {by}" if by else ""
    return f"since {local.strftime(FORMAT)} ({format_age(now - paused_at)} ago){author}"

