"""How many jobs wait, are delayed or run, per connection and queue (``queue_status``)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.db import DatabaseError

from .conf import jobqueue_settings
from .exceptions import JobQueueError
from .failures import service
from .jobs import registered
from .transports import get_transport


@dataclass(frozen=True)
class QueueStatus:
    """One queue of one connection; ``error`` is set (and counts are 0) when its store did
    not answer."""

    connection: str
    queue: str
    ready: int = 0
    delayed: int = 0
    reserved: int = 0
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def known_queues() -> list[str]:
    """``DEFAULT_QUEUE``, the queues job classes name, and those seen in failed jobs."""
    names = {jobqueue_settings.DEFAULT_QUEUE}
    names.update(cls.queue for cls in registered().values() if cls.queue)
    # A failed-job store that is down hides its queues; the other sources still count.
    with contextlib.suppress(JobQueueError, DatabaseError):
        names.update(service.queues_seen())
    return sorted(names)


def shared_connections() -> list[str]:
    """Connections whose jobs other processes can see (not the in-process memory one)."""
    return [name for name in jobqueue_settings.CONNECTIONS
            if get_transport(name).shareable_between_processes]


def queue_status(
    connections: Sequence[str] | None = None, queues: Sequence[str] | None = None
) -> list[QueueStatus]:
    """Sizes of ``queues`` (default :func:`known_queues`) on ``connections`` (default
    :func:`shared_connections`). Unknown connection names raise ``ConfigurationError``."""
    names = list(connections) if connections else shared_connections()
    wanted = list(dict.fromkeys(queues)) if queues else known_queues()
    result = []
    for name in names:
        transport = get_transport(name)
        for queue in wanted:
            try:
                size = transport.size(queue)
            except JobQueueError as exc:
                result.append(QueueStatus(name, queue, error=str(exc)))
                continue
            result.append(QueueStatus(name, queue, size.ready, size.delayed, size.reserved))
    return result
