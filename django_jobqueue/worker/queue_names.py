"""Which queue names a worker can expect jobs on, so ``runworker defualt`` says at start that
nothing declares that queue instead of idling without a word."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from django.conf import settings

from ..conf import jobqueue_settings
from ..jobs import registered
from ..transports import Transport


def known_queues() -> set[str]:
    """DEFAULT_QUEUE, every registered job class's ``queue``, and the ``QUEUES`` of our Tasks
    backends (tasks choose their queue by name, not by class)."""
    names = {jobqueue_settings.DEFAULT_QUEUE}
    names |= {cls.queue for cls in registered().values() if cls.queue}
    for config in (getattr(settings, "TASKS", None) or {}).values():
        if str(config.get("BACKEND", "")).startswith("django_jobqueue.tasks"):
            names |= set(config.get("QUEUES") or ["default"])
    return names


def unknown_queue_warnings(queues: Sequence[str], transport: Transport) -> list[str]:
    """A line for each of ``queues`` that nothing declares and that holds no job now (a queue
    only ever used through ``dispatch(queue=...)`` is known by its jobs, when it has some)."""
    known = known_queues()
    lines = []
    for queue in queues:
        if queue in known or _holds_jobs(transport, queue):
            continue
        close = difflib.get_close_matches(queue, sorted(known), n=1, cutoff=0.6)
        guess = f" Did you mean {close[0]!r}?" if close else ""
        lines.append(
            f"Warning: no job class declares queue {queue!r} and it holds no jobs on"
            f" connection {transport.name!r}: this worker may wait for nothing.{guess}"
            f" Known queues: {', '.join(sorted(known))}."
        )
    return lines


def _holds_jobs(transport: Transport, queue: str) -> bool:
    try:
        return transport.size(queue).total > 0
    except Exception:  # a store that is down at start: the worker copes, so warn and go on
        return False
