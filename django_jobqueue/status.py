"""What the queues hold and who works on them (``queue_status`` and the admin's queue page).

Per connection and queue: ready, delayed and reserved counts, the oldest waiting job's age
and whether it is paused (:mod:`django_jobqueue.flow.pause`); per connection: the live
workers from the worker registry, with their last heartbeat and current jobs, and the
progress those jobs reported (:mod:`django_jobqueue.flow.progress`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import DatabaseError

from . import failures
from .conf import jobqueue_settings
from .exceptions import JobQueueError
from .flow.pause import Pause, paused
from .flow.progress import Progress, reported
from .queue_names import declared_queues, used_queues
from .transports import Transport, WorkerInfo, get_transport


@dataclass(frozen=True)
class QueueStatus:
    """One queue of one connection; ``error`` is set (and counts are 0) when its store did
    not answer."""

    connection: str
    queue: str
    ready: int = 0
    delayed: int = 0
    reserved: int = 0
    #: Seconds the longest-waiting ready job has waited; ``None``: none ready, or a
    #: transport that does not report it.
    oldest_age: float | None = None
    error: str = ""
    #: Workers take no new jobs from it (:func:`django_jobqueue.flow.pause.pause_queue`).
    paused: bool = False
    #: When it was paused (epoch seconds); ``None`` when not paused, or when its stored
    #: pause could not be read.
    paused_at: float | None = None
    #: Who paused it (``"admin:alice"``, ``"command"``); ``""`` when unknown.
    paused_by: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConnectionWorkers:
    """The live workers of one connection. ``tracked`` is False for a transport without a
    worker registry; ``error`` is set when the store did not answer. ``progress``: what
    their current jobs reported, by job id (those that reported nothing are absent)."""

    connection: str
    workers: tuple[WorkerInfo, ...] = ()
    tracked: bool = True
    error: str = ""
    progress: Mapping[str, Progress] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: each current job of each worker with its ``progress`` (``None``
        when it reported none)."""
        workers = []
        for info in self.workers:
            data = info.as_dict()
            for job in data["current"]:
                found = self.progress.get(job["id"])
                job["progress"] = None if found is None else found.as_dict()
            workers.append(data)
        return {"connection": self.connection, "tracked": self.tracked, "error": self.error,
                "workers": workers}


def known_queues() -> list[str]:
    """The declared queues (:func:`~django_jobqueue.queue_names.declared_queues`) and those
    seen in failed jobs."""
    names = declared_queues()
    # A failed-job store that is down hides its queues; the other sources still count.
    with contextlib.suppress(JobQueueError, DatabaseError):
        names.update(failures.queues())
    return sorted(names)


def queues_of(transport: Transport, declared: Sequence[str] = ()) -> list[str]:
    """The queues worth showing on one connection: ``declared`` (default
    :func:`known_queues`) and :func:`~django_jobqueue.queue_names.used_queues` there."""
    return sorted(set(declared or known_queues()) | used_queues(transport))


def shared_connections() -> list[str]:
    """Connections whose jobs other processes can see (not the in-process memory one)."""
    return [name for name in jobqueue_settings.CONNECTIONS
            if get_transport(name).shareable_between_processes]


def queue_status(
    connections: Sequence[str] | None = None, queues: Sequence[str] | None = None
) -> list[QueueStatus]:
    """Sizes of ``queues`` (default: :func:`queues_of` each connection) on ``connections``
    (default :func:`shared_connections`). Unknown connection names raise
    ``ConfigurationError``."""
    names = list(connections) if connections else shared_connections()
    declared = known_queues()
    result = []
    for name in names:
        transport = get_transport(name)
        wanted = list(dict.fromkeys(queues)) if queues else queues_of(transport, declared)
        result += _connection_rows(transport, name, wanted)
    return result


def _connection_rows(transport: Transport, connection: str, queues: list[str]
                     ) -> list[QueueStatus]:
    try:
        pauses = paused(connection, queues)
    except JobQueueError as exc:
        # Not "not paused": unknown. A store that does not answer this will not answer the
        # sizes either, so they are not asked (each would wait for its timeout).
        return [QueueStatus(connection, queue, error=str(exc)) for queue in queues]
    return [_queue_row(transport, connection, queue, pauses.get(queue)) for queue in queues]


def _queue_row(transport: Transport, connection: str, queue: str, pause: Pause | None
               ) -> QueueStatus:
    marks: dict[str, Any] = {} if pause is None else {
        "paused": True, "paused_at": pause.paused_at or None, "paused_by": pause.by}
    try:
        size = transport.size(queue)
        oldest = transport.oldest_ready_age(queue)
    except JobQueueError as exc:
        return QueueStatus(connection, queue, error=str(exc), **marks)
    age = None if oldest is None else round(oldest, 3)
    return QueueStatus(connection, queue, size.ready, size.delayed, size.reserved, age,
                       **marks)


def worker_status(connections: Sequence[str] | None = None) -> list[ConnectionWorkers]:
    """Live workers of ``connections`` (default :func:`shared_connections`), by name."""
    result = []
    for name in list(connections) if connections else shared_connections():
        transport = get_transport(name)
        if not transport.keeps_worker_registry:
            result.append(ConnectionWorkers(name, tracked=False))
            continue
        try:
            workers = tuple(transport.workers())
        except JobQueueError as exc:
            result.append(ConnectionWorkers(name, error=str(exc)))
            continue
        # One read of the store for every current job of the connection.
        progress, _ = reported(transport, [job.id for info in workers for job in info.current])
        result.append(ConnectionWorkers(name, workers, progress=progress))
    return result


def format_age(seconds: float | None) -> str:
    """A short duration for people: ``0.4s``, ``42s``, ``3m 05s``, ``2h 10m``, ``4d 01h``;
    ``-`` for ``None``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f}s"
    whole = int(seconds)
    for unit, size, small, small_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60),
                                          ("m", 60, "s", 1)):
        if whole >= size:
            return f"{whole // size}{unit} {whole % size // small_size:02d}{small}"
    return f"{whole}s"
