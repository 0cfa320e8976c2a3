"""PostgreSQL's LISTEN/NOTIFY as the database transport's wake-up call.

A push sends ``NOTIFY`` on each of its queues' channels in the pushing transaction, so a
rolled-back dispatch wakes nobody and a committed one wakes the idle workers of its queues
at once, instead of at their next poll. An idle worker waits on its own connection (not
Django's: that one runs the worker's queries and may be inside a transaction), LISTENing on
the channels of the queues it serves.

A notification can be lost (the listening connection dropped, a server restart): ``wait``
always returns by its timeout, so the worker's ordinary poll picks the job up then.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections

from ..logutil import log_event

logger = logging.getLogger(__name__)

#: Seconds between attempts to listen again after listening failed.
RETRY_QUIET = 5.0


def channel(queue: str) -> str:
    """The channel of ``queue``: a fixed-length identifier, whatever the queue's name."""
    return "jobqueue_" + hashlib.sha1(queue.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def with_notify(insert: str, params: list[Any], queues: Sequence[str]) -> tuple[str, list[Any]]:
    """``insert`` (an ``INSERT`` and its ``params``) made into one statement that also
    NOTIFYs the channels of ``queues``: delivered when its transaction commits, never if it
    rolls back. ``insert`` unchanged when ``queues`` is empty."""
    if not queues:
        return insert, params
    # A data-modifying WITH runs to completion whatever the outer SELECT reads of it.
    select, channels = notify_sql(queues)
    return f"WITH pushed AS ({insert}) {select}", [*params, *channels]


def notify_sql(queues: Sequence[str]) -> tuple[str, list[str]]:
    """A ``SELECT`` that NOTIFYs the channels of ``queues`` (not empty), and its params."""
    names = sorted(set(queues))
    return "SELECT " + ", ".join(["pg_notify(%s, '')"] * len(names)), [channel(n) for n in names]


class Listener:
    """One process's LISTENing connection to ``alias``, opened on first use."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._connection: Any = None
        self._pid = 0
        self._channels: set[str] = set()
        self._quiet_until = 0.0

    def wait(self, queues: Sequence[str], timeout: float,
             ready: Callable[[], bool] = lambda: False) -> bool:
        """Block up to ``timeout`` seconds or until a push to one of ``queues`` commits;
        True if woken by one. ``ready`` is asked once a queue is newly listened to: a job
        pushed between the worker's last look and the LISTEN sent no notification it
        could hear. Any error of the listening connection drops it (the next wait opens
        another) and ends this wait early, without raising."""
        deadline = time.monotonic() + timeout
        if time.monotonic() < self._quiet_until:
            time.sleep(timeout)  # listening failed a moment ago: poll for now
            return False
        try:
            connection, new = self._listening(queues)
            if new and ready():
                return True
            self._quiet_until = 0.0
            for _ in connection.notifies(timeout=max(deadline - time.monotonic(), 0.0),
                                         stop_after=1):
                return True
            return False
        except Exception as exc:
            # Logged once a streak: a listener that cannot connect (a pooler that refuses
            # LISTEN, a server that is down) is tried again only every RETRY_QUIET seconds.
            if not self._quiet_until:
                log_event(logger, logging.WARNING, "wakeup_listener_lost",
                          database=self.alias, error=exc)
            self._quiet_until = time.monotonic() + RETRY_QUIET
            self.close()
            # The caller's poll still runs after this wait: sleep out what is left so that
            # a server that is down is not asked again at once.
            time.sleep(max(deadline - time.monotonic(), 0.0))
            return False

    def _listening(self, queues: Sequence[str]) -> tuple[Any, bool]:
        """The listening connection, and whether it listens to a queue for the first time."""
        if self._connection is None or self._pid != os.getpid() or self._connection.closed:
            self._connection, self._pid, self._channels = self._connect(), os.getpid(), set()
        new = {channel(queue) for queue in queues} - self._channels
        for name in sorted(new):
            self._connection.execute(f'LISTEN "{name}"')
        self._channels |= new
        return self._connection, bool(new)

    def _connect(self) -> Any:
        import psycopg

        params = connections[self.alias].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        return psycopg.connect(**params, autocommit=True)

    def close(self) -> None:
        """Close the listening connection (of this process only: a forked child's copy
        belongs to its parent)."""
        if self._connection is not None and self._pid == os.getpid():
            # Already broken, maybe: nothing left to release then.
            with contextlib.suppress(Exception):
                self._connection.close()
        self._connection, self._channels = None, set()

    def backend_pid(self) -> int | None:
        """The server process of the listening connection (tests drop it to lose a
        notification on purpose)."""
        return self._connection.info.backend_pid if self._connection is not None else None
