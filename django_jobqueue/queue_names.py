"""Which queue names exist, for the people looking: the ones declared in code and settings,
and the ones the stores hold jobs in. ``runworker defualt`` says at start that nothing knows
that queue instead of idling without a word; ``queue_status`` and the admin's Queues page
list every queue that matters."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Sequence

from django.conf import settings
from django.db import DatabaseError

from .conf import jobqueue_settings
from .exceptions import JobQueueError
from .jobs import registered
from .transports import Transport


def declared_queues() -> set[str]:
    """DEFAULT_QUEUE, every registered job class's ``queue``, and the ``QUEUES`` of our Tasks
    backends (tasks choose their queue by name, not by class)."""
    names = {jobqueue_settings.DEFAULT_QUEUE}
    names |= {cls.queue for cls in registered().values() if cls.queue}
    for config in (getattr(settings, "TASKS", None) or {}).values():
        if str(config.get("BACKEND", "")).startswith("django_jobqueue.tasks"):
            names |= set(config.get("QUEUES") or ["default"])
    return names


def used_queues(transport: Transport) -> set[str]:
    """The queues ``transport`` holds jobs in (whatever queue they were dispatched to) and
    those its live workers serve; none from a store that does not answer."""
    names: set[str] = set()
    with contextlib.suppress(JobQueueError, DatabaseError):
        names |= set(transport.queue_names())
    if transport.keeps_worker_registry:
        with contextlib.suppress(JobQueueError, DatabaseError):
            names |= {queue for info in transport.workers() for queue in info.queues}
    return names


def unknown_queue_warnings(queues: Sequence[str], transport: Transport,
                           effect: str = "this worker may wait for nothing") -> list[str]:
    """A line for each of ``queues`` that nothing declares and that has never held a job on
    ``transport`` (a queue only used through ``dispatch(queue=...)`` is known by its jobs),
    saying what may go wrong (``effect``): a typo is the likely cause."""
    known = declared_queues()
    with contextlib.suppress(JobQueueError, DatabaseError):
        known |= set(transport.queue_names())
    lines = []
    for queue in queues:
        if queue in known:
            continue
        close = difflib.get_close_matches(queue, sorted(known), n=1, cutoff=0.6)
        guess = f" Did you mean {close[0]!r}?" if close else ""
        lines.append(
            f"Warning: no job class declares queue {queue!r} and it holds no jobs on"
            f" connection {transport.name!r}: {effect}.{guess}"
            f" Known queues: {', '.join(sorted(known))}."
        )
    return lines
