"""How an idle worker of the database transport waits for a job.

PostgreSQL wakes it with NOTIFY (see :mod:`.pg_wakeup`), and it wakes early for a delayed
job that falls due. SQLite and MySQL/MariaDB have nothing like it: it looks for a ready
job with one index probe every ``idle_poll`` seconds (the connection's
``OPTIONS["IDLE_POLL"]``), its pickup latency and its cost (docs/performance.md). Only a
fully idle worker waits here: a busy one pays nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from django.db import connections

from ..dbutil import fetch, now_sql, placeholders, run_with_retry
from .pg_wakeup import Listener

TABLE = "queue_jobs"


class IdleWait:
    """The idle wait of one database transport (database ``alias``)."""

    def __init__(self, alias: str, idle_poll: float) -> None:
        self.alias = alias
        self.idle_poll = idle_poll
        self.listener = Listener(alias)
        self._looked_at = 0.0

    @property
    def notifies(self) -> bool:
        """PostgreSQL wakes idle workers; the others are looked for every ``idle_poll``."""
        return connections[self.alias].vendor == "postgresql"

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Block up to ``timeout`` seconds or until a job of ``queues`` may be ready."""
        if not self.notifies:
            self._look_often(queues, timeout)
            return
        # Wake early for a delayed job that falls due before the timeout.
        due_in = self._next_due_in(queues)
        if due_in is not None:
            timeout = min(timeout, due_in)
        if timeout >= 0.001:
            self.listener.wait(queues, timeout, lambda: self._any_ready(queues))

    def close(self) -> None:
        self.listener.close()

    def _look_often(self, queues: Sequence[str], timeout: float) -> None:
        """Return once a job is ready, new or a delayed one fallen due (one probe every
        ``idle_poll`` seconds, across calls), or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            next_look = self._looked_at + self.idle_poll
            if next_look > deadline:
                time.sleep(max(deadline - time.monotonic(), 0.0))
                return
            time.sleep(max(next_look - time.monotonic(), 0.0))
            self._looked_at = time.monotonic()
            if self._any_ready(queues):
                return

    def _any_ready(self, queues: Sequence[str]) -> bool:
        return bool(self._fetch(
            f"SELECT 1 FROM {TABLE} WHERE queue IN ({placeholders(len(queues))})"
            f" AND reserved_until IS NULL AND available_at <= {self._now} LIMIT 1",
            list(queues)))

    def _next_due_in(self, queues: Sequence[str]) -> float | None:
        now = self._now
        rows = self._fetch(
            f"SELECT MIN(available_at) - {now} FROM {TABLE}"
            f" WHERE queue IN ({placeholders(len(queues))}) AND reserved_until IS NULL"
            f" AND available_at > {now}", list(queues))
        value = rows[0][0] if rows else None
        return max(float(value), 0.0) if value is not None else None

    @property
    def _now(self) -> str:
        return now_sql(connections[self.alias].vendor)

    def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return run_with_retry(self.alias, lambda: fetch(self.alias, sql, params))
