"""One supervisor's entry in its transport's worker registry: publish, prune, withdraw.

The supervisor calls :meth:`Presence.publish` at start and on each heartbeat, :meth:`prune`
in maintenance and :meth:`withdraw` at a clean exit; nothing here runs per job. An entry
not refreshed for ``STALE_HEARTBEATS`` heartbeats counts as a dead worker. The registry is
for operators only, so every call swallows its errors: a store that is down is logged once
(and its recovery once), and the worker goes on with its jobs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from ..conf import jobqueue_settings
from ..logutil import log_event
from ..transports import CurrentJob, Transport, WorkerInfo
from .claim import Claim

logger = logging.getLogger("django_jobqueue.worker")

T = TypeVar("T")

#: Heartbeats an entry outlives its last refresh by: one late heartbeat is not a death.
STALE_HEARTBEATS = 3
#: Longest job class name kept (it comes from the payload, which is user data).
CLASS_CHARS = 200


def stale_after() -> float:
    """Seconds after its last heartbeat that a worker's entry expires."""
    return STALE_HEARTBEATS * float(jobqueue_settings.HEARTBEAT)


class Presence:
    """What the registry knows about one supervisor, and the calls that keep it current."""

    def __init__(
        self, transport: Transport, name: str, queues: Sequence[str], concurrency: int
    ) -> None:
        self.transport = transport
        self.info = WorkerInfo(
            name=name, host=socket.gethostname(), pid=os.getpid(), connection=transport.name,
            queues=tuple(queues), concurrency=concurrency, started_at=time.time(),
        )
        self._failing = False

    def publish(self, jobs_processed: int, running: Sequence[tuple[Claim, float]]) -> None:
        """Write this worker's entry: ``running`` is each busy horse's job and start time."""
        current = tuple(
            CurrentJob(job.id, job.name[:CLASS_CHARS], started) for job, started in running
        )
        info = dataclasses.replace(self.info, jobs_processed=jobs_processed, current=current)
        self._guard("register", lambda: self.transport.register_worker(info, stale_after()))

    def prune(self) -> None:
        """Delete the entries of workers that died without withdrawing (maintenance)."""
        removed = self._guard("prune", self.transport.prune_workers)
        if removed:
            log_event(logger, logging.INFO, "dead_workers_removed", count=removed,
                      connection=self.transport.name)

    def withdraw(self) -> None:
        """Remove this worker's entry (a clean exit)."""
        self._guard("unregister", lambda: self.transport.unregister_worker(self.info.name))

    def _guard(self, operation: str, call: Callable[[], T]) -> T | None:
        try:
            result = call()
        except Exception as exc:
            if not self._failing:
                log_event(logger, logging.WARNING, "registry_unavailable", op=operation,
                          worker=self.info.name, connection=self.transport.name, error=exc)
            self._failing = True
            return None
        if self._failing:
            log_event(logger, logging.INFO, "registry_available", worker=self.info.name,
                      connection=self.transport.name)
            self._failing = False
        return result
