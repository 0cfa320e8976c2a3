"""The database transport's worker registry: one ``queue_workers`` row per live supervisor.

Rows carry the worker's details as JSON and two times from the database's clock: the last
heartbeat and when the row expires. Listing leaves expired rows out; deleting them is
maintenance's job (``prune_workers``). Each call tries twice at most (one reconnect): a
registry write is retried by the next heartbeat anyway, and must not hold up the worker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from ..dbutil import now_sql, run_with_retry
from .base import WorkerInfo

T = TypeVar("T")
TABLE = "queue_workers"
_ATTEMPTS = 2


class DatabaseWorkers:
    """Mixin of :class:`~django_jobqueue.transports.database.DatabaseTransport`."""

    name: str
    alias: str
    keeps_worker_registry = True
    _vendor: str
    _execute: Callable[..., int]
    _fetch: Callable[..., list[tuple[Any, ...]]]

    def _quick(self, operation: Callable[[], T]) -> T:
        return run_with_retry(self.alias, operation, attempts=_ATTEMPTS)

    def register_worker(self, info: WorkerInfo, ttl: float) -> None:
        now = now_sql(self._vendor)
        data = json.dumps(info.as_dict(), sort_keys=True)
        update = (
            f"UPDATE {TABLE} SET info = %s, last_heartbeat = {now}, expires_at = {now} + %s"
            " WHERE connection = %s AND name = %s"
        )
        insert = (
            f"INSERT INTO {TABLE} (connection, name, info, last_heartbeat, expires_at)"
            f" VALUES (%s, %s, %s, {now}, {now} + %s)"
        )

        def upsert() -> None:
            # Only this worker writes its row, so update-then-insert cannot race with itself
            # (the portable alternative to three vendors' upsert syntaxes).
            if not self._execute(update, [data, ttl, self.name, info.name]):
                self._execute(insert, [self.name, info.name, data, ttl])

        self._quick(upsert)

    def unregister_worker(self, name: str) -> None:
        sql = f"DELETE FROM {TABLE} WHERE connection = %s AND name = %s"
        self._quick(lambda: self._execute(sql, [self.name, name]))

    def workers(self) -> list[WorkerInfo]:
        now = now_sql(self._vendor)
        sql = (
            f"SELECT info, last_heartbeat, {now} FROM {TABLE}"
            f" WHERE connection = %s AND expires_at > {now} ORDER BY name"
        )
        rows = self._quick(lambda: self._fetch(sql, [self.name]))
        return [_info(*row) for row in rows]

    def prune_workers(self) -> int:
        sql = f"DELETE FROM {TABLE} WHERE connection = %s AND expires_at <= {now_sql(self._vendor)}"
        return self._quick(lambda: self._execute(sql, [self.name]))


def _info(data: str, heartbeat: float, now: float) -> WorkerInfo:
    heartbeat, now = float(heartbeat), float(now)
    return WorkerInfo.from_dict(
        json.loads(data), last_heartbeat=heartbeat, heartbeat_age=max(now - heartbeat, 0.0)
    )

