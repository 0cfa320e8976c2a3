"""The database transport's operators' verbs on ``queue_jobs``: one job by its id, a page of
a queue's jobs, and a waiting job taken out (a cancel).

A job is found by its ``uuid`` alone (a unique index), whatever queue it is in. Taking one
out is one statement where the database can return what it deletes (PostgreSQL, SQLite);
on MySQL/MariaDB a short transaction locks the row first. Either way a job a worker claimed
meanwhile is left alone: the claim and the removal both need the row unreserved, and
whichever locks it first wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, transaction

from ..dbutil import execute, fetch, now_sql, run_with_retry
from .base import JOB_STATES, FoundJob

TABLE = "queue_jobs"
# A job's state as its position in JOB_STATES: taken (started or not), ready, delayed.
_RANK = ("CASE WHEN reserved_until IS NOT NULL THEN (CASE WHEN started THEN 0 ELSE 1 END)"
         " WHEN available_at <= {now} THEN 2 ELSE 3 END")


class DatabaseJobs:
    """The jobs of database ``alias``'s ``queue_jobs`` table, looked up and taken out; held
    by :class:`~django_jobqueue.transports.database.DatabaseTransport`."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def find(self, job_id: str) -> FoundJob | None:
        rows = self._read(f"SELECT {self._columns()} FROM {TABLE} WHERE uuid = %s", [job_id])
        return _found(rows[0]) if rows else None

    def page(self, queue: str, limit: int, offset: int = 0) -> list[FoundJob]:
        now = self._now()
        rank = _RANK.format(now=now)
        # Ready jobs in claim order (priority first); the others by time, then id: a stable
        # order, so that pages do not overlap while nothing changes.
        sql = (
            f"SELECT {self._columns()} FROM {TABLE} WHERE queue = %s ORDER BY {rank},"
            f" CASE WHEN reserved_until IS NULL AND available_at <= {now} THEN -priority"
            " ELSE 0 END, available_at, id LIMIT %s OFFSET %s"
        )
        return [_found(row) for row in self._read(sql, [queue, int(limit), int(offset)])]

    def remove(self, job_id: str, queue: str) -> str | None:
        where = "uuid = %s AND queue = %s AND reserved_until IS NULL"
        if connections[self.alias].vendor == "mysql":
            return run_with_retry(self.alias, lambda: self._remove_locked(where, job_id, queue))
        sql = f"DELETE FROM {TABLE} WHERE {where} RETURNING payload"
        rows = run_with_retry(self.alias, lambda: fetch(self.alias, sql, [job_id, queue]))
        return rows[0][0] if rows else None

    def _remove_locked(self, where: str, job_id: str, queue: str) -> str | None:
        # MySQL has no DELETE ... RETURNING: lock the row (a claim holding it makes this
        # wait, then read it reserved), read it, delete it, in one short transaction.
        with transaction.atomic(using=self.alias, savepoint=False):
            rows = fetch(self.alias, f"SELECT payload FROM {TABLE} WHERE {where} FOR UPDATE",
                         [job_id, queue])
            if not rows or not execute(self.alias, f"DELETE FROM {TABLE} WHERE {where}",
                                       [job_id, queue]):
                return None
        return rows[0][0]

    # -- helpers ---------------------------------------------------------------------------
    def _now(self) -> str:
        return now_sql(connections[self.alias].vendor)

    def _columns(self) -> str:
        now = self._now()
        return (f"uuid, queue, payload, {_RANK.format(now=now)},"
                f" available_at - {now}")

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return run_with_retry(self.alias, lambda: fetch(self.alias, sql, params))


def _found(row: tuple[Any, ...]) -> FoundJob:
    uuid, queue, payload, rank, due_in = row
    state = JOB_STATES[int(rank)]
    return FoundJob(str(uuid), queue, payload, state,
                    float(due_in) if state == "delayed" else None)
