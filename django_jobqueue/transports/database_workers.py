"""The database transport's worker registry: one ``queue_workers`` row per live supervisor.

Rows carry the worker's details as JSON and two times from the database's clock: the last
heartbeat and when the row expires. Listing leaves expired rows out; deleting them is
maintenance's job (``prune_workers``). Each call tries twice at most (one reconnect): a
registry write is retried by the next heartbeat anyway, and must not hold up the worker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connections

from ..dbutil import now_sql, run_with_retry
from .base import WorkerInfo

T = TypeVar("T")
TABLE = "queue_workers"
_ATTEMPTS = 2


class DatabaseWorkers:
    """The ``queue_workers`` rows of one connection (``connection``) in database ``alias``;
    held by :class:`~django_jobqueue.transports.database.DatabaseTransport`."""

    def __init__(self, connection: str, alias: str) -> None:
        self.connection = connection
        self.alias = alias

    def register(self, info: WorkerInfo, ttl: float) -> None:
        now = self._now()
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
            if not self._rowcount(update, [data, ttl, self.connection, info.name]):
                self._rowcount(insert, [self.connection, info.name, data, ttl])

        self._quick(upsert)

    def unregister(self, name: str) -> None:
        sql = f"DELETE FROM {TABLE} WHERE connection = %s AND name = %s"
        self._quick(lambda: self._rowcount(sql, [self.connection, name]))

    def live(self) -> list[WorkerInfo]:
        now = self._now()
        sql = (
            f"SELECT info, last_heartbeat, {now} FROM {TABLE}"
            f" WHERE connection = %s AND expires_at > {now} ORDER BY name"
        )
        rows = self._quick(lambda: self._rows(sql, [self.connection]))
        return [_info(*row) for row in rows]

    def prune(self) -> int:
        sql = f"DELETE FROM {TABLE} WHERE connection = %s AND expires_at <= {self._now()}"
        return self._quick(lambda: self._rowcount(sql, [self.connection]))

    # -- helpers ---------------------------------------------------------------------------
    def _now(self) -> str:
        return now_sql(connections[self.alias].vendor)

    def _quick(self, operation: Callable[[], T]) -> T:
        return run_with_retry(self.alias, operation, attempts=_ATTEMPTS)

    def _rowcount(self, sql: str, params: Sequence[Any]) -> int:
        with connections[self.alias].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with connections[self.alias].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


def _info(data: str, heartbeat: float, now: float) -> WorkerInfo:
    heartbeat, now = float(heartbeat), float(now)
    return WorkerInfo.from_dict(
        json.loads(data), last_heartbeat=heartbeat, heartbeat_age=max(now - heartbeat, 0.0)
    )
