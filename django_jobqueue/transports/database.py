"""The database transport: jobs in the ``queue_jobs`` table.

Claims are exclusive without blocking other workers: PostgreSQL and MySQL/MariaDB use
``SELECT ... FOR UPDATE SKIP LOCKED``; SQLite runs the claim as one ``UPDATE ... RETURNING``
statement, which its single writer lock makes exclusive. Every time comparison uses the
database's clock.

Options: ``DATABASE`` (alias, default ``"default"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from django.core import checks
from django.db import DatabaseError, connections, transaction

from ..coordination import Guard, Taken
from ..coordination.database import DatabaseCoordination
from ..dbutil import execute, fetch, is_conflict, now_sql, placeholders, run_with_retry
from ..exceptions import ConfigurationError, TransportError
from ..shapes import is_number
from .base import (
    Admit,
    DelayedJob,
    FoundJob,
    PushItem,
    QueueSize,
    Reserved,
    Transport,
    WorkerInfo,
    fill_from_queues,
)
from .database_guarded import GuardedPushes
from .database_jobs import DatabaseJobs
from .database_wait import IdleWait
from .database_workers import DatabaseWorkers
from .pg_wakeup import notify_sql, with_notify

TABLE = "queue_jobs"
_COLUMNS = "id, uuid, queue, payload, attempts, priority, available_at"
_INSERT_CHUNK = 500
#: Seconds between an idle worker's looks for a new job on SQLite and MySQL/MariaDB (the
#: connection's OPTIONS["IDLE_POLL"]): its pickup latency, and its cost (docs/performance.md).
IDLE_POLL = 0.02


class DatabaseTransport(Transport):
    """Queued jobs as rows; the embedded default on SQLite."""

    poll_interval = 0.5
    # An idle worker waits in wait(): for a notification, or looking for a new job often.
    blocking_wait = True
    reports_oldest_age = True
    keeps_worker_registry = True
    finds_jobs = True

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        super().__init__(name, options)
        self.alias: str = options.get("DATABASE", "default")
        self.registry = DatabaseWorkers(name, self.alias)
        self.lookup = DatabaseJobs(self.alias)
        self.guarded = GuardedPushes(self)
        self.idle_poll = options.get("IDLE_POLL", IDLE_POLL)
        if not (is_number(self.idle_poll) and 0 < self.idle_poll <= 5):
            raise ConfigurationError(
                f"jobqueue connection {name!r}: OPTIONS['IDLE_POLL'] must be a number of"
                f" seconds above 0 and at most 5, not {self.idle_poll!r}.")
        self.idle = IdleWait(self.alias, self.idle_poll)

    @property
    def longest_wait(self) -> float | None:  # type: ignore[override]
        """Polling waits a whole ``SLEEP`` between reservations (probing every
        ``idle_poll`` meanwhile), as sleeping did; a LISTEN wait stays short, since the
        reservation after it is the safety net of a lost notification."""
        return 0.5 if self.idle.notifies else None

    @property
    def requeue_every(self) -> float:  # type: ignore[override]
        """No more often than the idle probe: a project that makes idle workers look
        seldom (``IDLE_POLL``) wants them quiet, and gets its pickup delay here too."""
        return max(Transport.requeue_every, self.idle_poll)

    # -- helpers -------------------------------------------------------------------------
    @property
    def _vendor(self) -> str:
        return connections[self.alias].vendor

    @property
    def _now(self) -> str:
        return now_sql(self._vendor)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return execute(self.alias, sql, params)

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return fetch(self.alias, sql, params)

    def _retrying(self, operation: Any) -> Any:
        return run_with_retry(self.alias, operation)

    # -- contract ------------------------------------------------------------------------
    def uses_database(self, alias: str) -> bool:
        return alias == self.alias

    def push_many(self, items: Sequence[PushItem]) -> None:
        self.insert(items, retry=not connections[self.alias].in_atomic_block)

    def insert(self, items: Sequence[PushItem], retry: bool = False) -> None:
        """Insert the jobs' rows in as few statements as the chunk size allows; ``retry``
        each statement on a conflict or a dropped connection (only outside a transaction:
        inside one, a retried statement would run alone, the rest rolled back)."""
        if not items:
            return
        connection = connections[self.alias]
        row = _row_sql(connection.vendor)
        chunks = [items[start : start + _INSERT_CHUNK]
                  for start in range(0, len(items), _INSERT_CHUNK)]
        for number, chunk in enumerate(chunks, 1):
            sql = (
                f"INSERT INTO {TABLE} (uuid, queue, payload, attempts, priority, available_at,"
                f" created_at) VALUES {', '.join([row] * len(chunk))}"
            )
            params: list[Any] = []
            for item in chunk:
                params += [item.id, item.queue, item.payload, item.priority, max(item.delay, 0)]
            if number == len(chunks) and connection.vendor == "postgresql":
                # After the inserts, in their transaction (delivered when they commit), and
                # in the last insert's statement: a NOTIFY of its own was a round trip more.
                sql, params = with_notify(sql, params, [i.queue for i in items if i.delay <= 0])
            if retry:
                self._retrying(lambda sql=sql, params=params: self._execute(sql, params))
            else:
                self._execute(sql, params)

    @cached_property
    def coordination(self) -> DatabaseCoordination:  # type: ignore[override]
        return DatabaseCoordination(self.name, self.alias)

    def push_guarded(self, item: PushItem, *guards: Guard) -> Taken:
        return self.guarded.push(item, guards)

    def reserve_from(
        self, queue: str, count: int, lease: float, token: str, run: int | None = None,
        *, prefetch_lease: float | None = None,
    ) -> list[Reserved]:
        run = count if run is None else run
        leases = (lease, lease if prefetch_lease is None else prefetch_lease)
        rows = self._retrying(lambda: self._claim_ready(queue, count, run, leases, token))
        return [self._reserved(row, token) for row in rows]

    def exchange(
        self,
        acks: Sequence[Reserved],
        started: Sequence[Reserved],
        queues: Sequence[str],
        run: int,
        prefetch: int,
        lease: float,
        token: str,
        *,
        prefetch_lease: float | None = None,
        admit: Admit | None = None,
    ) -> list[Reserved]:
        leases = (lease, lease if prefetch_lease is None else prefetch_lease)

        # One transaction (one commit) settles the finished batch, claims the next and
        # takes its permits.
        def settle_and_claim() -> list[Reserved]:
            with transaction.atomic(using=self.alias):
                self._delete(acks)
                self._mark(started, lease)
                jobs = [self._reserved(row, token) for row in fill_from_queues(
                    queues, run, prefetch,
                    lambda queue, wanted, now: self._claim_ready(queue, wanted, now, leases,
                                                                 token),
                )]
                if admit is not None:
                    # Even with no jobs: a retried transaction must not leave the admission
                    # with the batch of the attempt that rolled back.
                    _retryable(admit, jobs)
                return jobs

        return self._retrying(settle_and_claim)

    def mark_started(self, jobs: Sequence[Reserved], lease: float | None = None) -> None:
        if jobs:
            self._retrying(lambda: self._mark(jobs, lease))

    def _mark(self, jobs: Sequence[Reserved], lease: float | None) -> None:
        extend = "" if lease is None else f", reserved_until = {self._now} + %s"
        for token, group in _by_token(jobs).items():
            ids = [job.receipt for job in group]
            self._execute(
                f"UPDATE {TABLE} SET started = TRUE{extend}"
                f" WHERE id IN ({placeholders(len(ids))}) AND reserved_by = %s",
                [*([] if lease is None else [lease]), *ids, token],
            )

    def _claim_ready(
        self, queue: str, count: int, run: int, leases: tuple[float, float], token: str
    ) -> list[tuple[Any, ...]]:
        where = "reserved_until IS NULL AND available_at <= {now}"
        order = "ORDER BY priority DESC, available_at, id"
        lease, prefetch_lease = leases
        rows = self._claim(queue, where, order, min(run, count), lease, token, 1, "TRUE")
        if count > len(rows) and len(rows) == min(run, count):
            rows += self._claim(queue, where, order, count - len(rows), prefetch_lease, token,
                                1, "FALSE")
        return rows

    def requeue_expired(self, queues: Sequence[str]) -> int:
        if not queues:
            return 0
        count = self._retrying(lambda: self._requeue_expired(queues))
        if count and self.idle.notifies:
            self._execute(*notify_sql(queues))  # idle workers on LISTEN wake for them
        return count

    def _requeue_expired(self, queues: Sequence[str]) -> int:
        marks = placeholders(len(queues))
        # A read first: most calls find nothing, and a read takes no write lock (SQLite).
        if not self._fetch(
            f"SELECT 1 FROM {TABLE} WHERE queue IN ({marks}) AND reserved_until < {self._now}"
            " AND started = FALSE LIMIT 1", list(queues)
        ):
            return 0
        # available_at is kept, so they sort before the jobs pushed since: first in line.
        return self._execute(
            f"UPDATE {TABLE} SET reserved_until = NULL, reserved_by = NULL,"
            " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END"
            f" WHERE queue IN ({marks}) AND reserved_until < {self._now} AND started = FALSE",
            list(queues),
        )

    def collect_from(self, queue: str, limit: int, lease: float, token: str) -> list[Reserved]:
        def collect() -> list[tuple[Any, ...]]:
            # Prefetched jobs that never started go back uncharged; started ones are taken
            # over (their attempt was abandoned).
            self._requeue_expired([queue])
            where = "reserved_until < {now} AND started = TRUE"
            return self._claim(queue, where, "ORDER BY reserved_until", limit, lease, token, 0,
                               "TRUE")

        return [self._reserved(row, token) for row in self._retrying(collect)]

    def _claim(
        self, queue: str, where: str, order: str, limit: int, lease: float, token: str, inc: int,
        started: str,
    ) -> list[tuple[Any, ...]]:
        if limit <= 0:
            return []
        where = where.format(now=self._now)
        select = f"SELECT id FROM {TABLE} WHERE queue = %s AND {where} {order} LIMIT %s"
        update = (
            f"UPDATE {TABLE} SET reserved_until = {self._now} + %s, reserved_by = %s,"
            f" attempts = attempts + %s, started = {started}"
        )
        if self._vendor == "mysql":
            return self._claim_two_step(queue, where, order, limit, update, (lease, token, inc))
        if self._vendor == "postgresql":
            select += " FOR UPDATE SKIP LOCKED"
        sql = f"{update} WHERE id IN ({select}) RETURNING {_COLUMNS}"
        rows = self._fetch(sql, [lease, token, inc, queue, limit])
        # RETURNING follows no ORDER BY: restore the claim order.
        return sorted(rows, key=lambda row: (-row[5], row[6], row[0]))

    def _claim_two_step(
        self, queue: str, where: str, order: str, limit: int, update: str, args: tuple[Any, ...]
    ) -> list[tuple[Any, ...]]:
        # MariaDB has no UPDATE ... RETURNING: lock the rows, then mark them, in one
        # short transaction.
        with transaction.atomic(using=self.alias, savepoint=False):
            rows = self._fetch(
                f"SELECT {_COLUMNS} FROM {TABLE} WHERE queue = %s AND {where} {order}"
                " LIMIT %s FOR UPDATE SKIP LOCKED",
                [queue, limit],
            )
            if rows:
                ids = [row[0] for row in rows]
                self._execute(f"{update} WHERE id IN ({placeholders(len(ids))})", [*args, *ids])
        inc = args[2]
        return [(*r[:4], r[4] + inc, *r[5:]) for r in rows]

    @staticmethod
    def _reserved(row: tuple[Any, ...], token: str) -> Reserved:
        row_id, uuid, queue, payload, attempts = row[:5]
        return Reserved(uuid, queue, payload, int(attempts), row_id, token)

    def renew(self, jobs: Sequence[Reserved], lease: float) -> list[Reserved]:
        lost: list[Reserved] = []
        for token, group in _by_token(jobs).items():
            ids = [job.receipt for job in group]
            marks = placeholders(len(ids))
            updated = self._retrying(
                lambda ids=ids, marks=marks, token=token: self._execute(
                    f"UPDATE {TABLE} SET reserved_until = {self._now} + %s"
                    f" WHERE id IN ({marks}) AND reserved_by = %s",
                    [lease, *ids, token],
                )
            )
            if updated != len(ids):
                held = {
                    row[0]
                    for row in self._fetch(
                        f"SELECT id FROM {TABLE} WHERE id IN ({marks}) AND reserved_by = %s",
                        [*ids, token],
                    )
                }
                lost += [job for job in group if job.receipt not in held]
        return lost

    def ack(self, job: Reserved) -> bool:
        sql = f"DELETE FROM {TABLE} WHERE id = %s AND reserved_by = %s"
        return bool(self._retrying(lambda: self._execute(sql, [job.receipt, job.token])))

    def ack_many(self, jobs: Sequence[Reserved]) -> None:
        if jobs:
            self._retrying(lambda: self._delete(jobs))

    def _delete(self, jobs: Sequence[Reserved]) -> None:
        for token, group in _by_token(jobs).items():
            ids = [job.receipt for job in group]
            sql = f"DELETE FROM {TABLE} WHERE id IN ({placeholders(len(ids))}) AND reserved_by = %s"
            self._execute(sql, [*ids, token])

    def release(
        self, job: Reserved, delay: float, payload: str | None = None, undo_attempt: bool = False
    ) -> bool:
        sql = (
            f"UPDATE {TABLE} SET reserved_until = NULL, reserved_by = NULL, started = FALSE,"
            f" available_at = {self._now} + %s, payload = COALESCE(%s, payload),"
            " attempts = CASE WHEN attempts > 0 THEN attempts - %s ELSE 0 END"
            " WHERE id = %s AND reserved_by = %s"
        )
        params = [max(delay, 0.0), payload, int(undo_attempt), job.receipt, job.token]
        return bool(self._retrying(lambda: self._execute(sql, params)))

    def size(self, queue: str) -> QueueSize:
        now = self._now
        sql = (
            "SELECT"
            f" SUM(CASE WHEN reserved_until IS NULL AND available_at <= {now} THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN reserved_until IS NULL AND available_at > {now} THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN reserved_until IS NOT NULL THEN 1 ELSE 0 END)"
            f" FROM {TABLE} WHERE queue = %s"
        )
        row = self._retrying(lambda: self._fetch(sql, [queue]))[0]
        return QueueSize(*(int(value or 0) for value in row))

    def queue_names(self) -> list[str]:
        # The claim index leads with queue, so this reads the index, not the table.
        rows = self._retrying(lambda: self._fetch(f"SELECT DISTINCT queue FROM {TABLE}"))
        return sorted(row[0] for row in rows)

    def upcoming(self, queue: str, limit: int) -> list[DelayedJob]:
        now = self._now
        sql = (
            f"SELECT uuid, payload, available_at - {now} FROM {TABLE}"
            f" WHERE queue = %s AND reserved_until IS NULL AND available_at > {now}"
            " ORDER BY available_at LIMIT %s"
        )
        rows = self._retrying(lambda: self._fetch(sql, [queue, int(limit)]))
        return [DelayedJob(str(uuid), payload, float(due_in)) for uuid, payload, due_in in rows]

    def oldest_ready_age(self, queue: str) -> float | None:
        # The claim index (queue, reserved_until, -priority, available_at) bounds this to
        # the queue's unreserved entries, read from the index alone; priority sits before
        # available_at, so it is a range scan of them rather than a single seek.
        sql = self.oldest_ready_sql()
        age = self._retrying(lambda: self._fetch(sql, [queue]))[0][0]
        return None if age is None else max(float(age), 0.0)

    def oldest_ready_sql(self) -> str:
        """The query of :meth:`oldest_ready_age` (one parameter: the queue), for EXPLAIN."""
        now = self._now
        return (
            f"SELECT {now} - MIN(available_at) FROM {TABLE}"
            f" WHERE queue = %s AND reserved_until IS NULL AND available_at <= {now}"
        )

    # -- operators' verbs: see database_jobs.py (a job is found by its id alone) ------------
    def find(self, job_id: str, queues: Sequence[str]) -> FoundJob | None:
        return self.lookup.find(job_id)

    def jobs(self, queue: str, limit: int, offset: int = 0) -> list[FoundJob]:
        return self.lookup.page(queue, limit, offset)

    def remove(self, job_id: str, queue: str) -> str | None:
        return self.lookup.remove(job_id, queue)

    # -- worker registry: the queue_workers table -------------------------------------------
    def register_worker(self, info: WorkerInfo, ttl: float) -> None:
        self.registry.register(info, ttl)

    def unregister_worker(self, name: str) -> None:
        self.registry.unregister(name)

    def workers(self) -> list[WorkerInfo]:
        return self.registry.live()

    def prune_workers(self) -> int:
        return self.registry.prune()

    def clear(self, queue: str) -> int:
        return self._retrying(
            lambda: self._execute(f"DELETE FROM {TABLE} WHERE queue = %s", [queue])
        )

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        self.idle.wait(queues, timeout)

    def close(self) -> None:
        self.idle.close()

    def check(self) -> list[Any]:
        if self.alias not in connections:
            return [
                checks.Error(
                    f"jobqueue connection {self.name!r} uses database {self.alias!r}, which is"
                    " not in DATABASES.",
                    id="django_jobqueue.E004",
                )
            ]
        connection = connections[self.alias]
        if connection.vendor not in {"sqlite", "mysql", "postgresql"}:
            return [_unsupported(self, f"{connection.vendor} is not supported")]
        if connection.vendor in {"mysql", "postgresql"}:
            try:
                skip_locked = connection.features.has_select_for_update_skip_locked
            except Exception:  # the server is unreachable: not a configuration error
                return []
            if not skip_locked:
                return [
                    _unsupported(
                        self,
                        "this server has no SELECT ... FOR UPDATE SKIP LOCKED"
                        " (MySQL >= 8.0.1, MariaDB >= 10.6 or PostgreSQL needed)",
                    )
                ]
        return []


def _unsupported(transport: DatabaseTransport, why: str) -> checks.Error:
    return checks.Error(
        f"jobqueue connection {transport.name!r}: database {transport.alias!r}: {why}.",
        hint="Use SQLite, PostgreSQL, MySQL >= 8.0.1 or MariaDB >= 10.6, or the redis transport.",
        id="django_jobqueue.E005",
    )


def _row_sql(vendor: str) -> str:
    """One row of a push's ``INSERT``: due after its delay, on the database's clock."""
    now = now_sql(vendor)
    return f"(%s, %s, %s, 0, %s, {now} + %s, {now})"


def _retryable(admit: Admit, jobs: list[Reserved]) -> None:
    """``admit(jobs)`` inside the exchange's transaction: a conflict in it (a deadlock on a
    permit's header) is raised as the database error it is, so the whole transaction is
    retried, not reported as a store that does not answer."""
    try:
        admit(jobs)
    except TransportError as exc:
        if isinstance(exc.__cause__, DatabaseError) and is_conflict(exc.__cause__):
            raise exc.__cause__ from None
        raise


def _by_token(jobs: Sequence[Reserved]) -> dict[str, list[Reserved]]:
    groups: dict[str, list[Reserved]] = {}
    for job in jobs:
        groups.setdefault(job.token, []).append(job)
    return groups
