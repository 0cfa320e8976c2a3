"""The database transport's guarded pushes: the guards' rows in ``queue_coordination`` and
the job's row in ``queue_jobs``, written in one transaction (the caller's, or one of
their own), or not at all.

A unique dispatch (one lock) on PostgreSQL is one statement: the lock's upsert and the
job's insert in data-modifying ``WITH`` clauses, the job inserted only if the lock was
taken. Elsewhere it is a short transaction; its extra round trips are the cost
docs/performance.md reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import DatabaseError, connections, transaction

from ..coordination import Guard, Lock, Taken
from ..coordination.base import stored_name
from ..coordination.database import TABLE as LOCKS
from ..dbutil import execute, fetch, now_sql, run_with_retry
from .base import PushItem, check_guard_scope
from .pg_wakeup import channel

if TYPE_CHECKING:
    from .database import DatabaseTransport

T = TypeVar("T")


class GuardedPushes:
    """Pushes of ``transport`` that depend on coordination guards."""

    def __init__(self, transport: DatabaseTransport) -> None:
        self.transport = transport

    def push(self, item: PushItem, guards: Sequence[Guard]) -> Taken:
        check_guard_scope(item, guards)
        alias = self.transport.alias
        if connections[alias].vendor == "postgresql" and len(guards) == 1 \
                and isinstance(guards[0], Lock):
            lock = guards[0]
            return self._run(lambda: self._push_locked(item, lock))
        return self._run(lambda: self._push_in_transaction(item, guards))

    def _run(self, step: Callable[[], T]) -> T:
        # Inside the caller's transaction nothing can be retried: errors go up.
        if connections[self.transport.alias].in_atomic_block:
            return step()
        return run_with_retry(self.transport.alias, step)

    def _push_in_transaction(self, item: PushItem, guards: Sequence[Guard]) -> Taken:
        try:
            with self._transaction():
                answers = [self._granted(guard, position)
                           for position, guard in enumerate(guards)]
                # Never retried alone: a retry is of the whole transaction (``_run``).
                self.transport.insert([item])
        except _Refused as refusal:  # the guards granted before it are rolled back
            return refusal.taken
        return answers[0]

    def _granted(self, guard: Guard, position: int) -> Taken:
        taken = self.transport.coordination.take_here(guard)
        if not taken.granted:
            raise _Refused(replace(taken, refused_by=position))
        return taken

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """The caller's transaction (a savepoint in it), else one of its own. On MySQL and
        MariaDB outside any: ``START TRANSACTION`` ... ``COMMIT`` sent as they are, two
        round trips where Django's ``atomic()`` makes three (it switches autocommit off
        and on again), a fifth of a unique dispatch's time there."""
        connection = connections[self.transport.alias]
        if connection.vendor != "mysql" or connection.in_atomic_block:
            with transaction.atomic(using=self.transport.alias):
                yield
            return
        execute(self.transport.alias, "START TRANSACTION")
        try:
            yield
        except BaseException:
            # A connection that died takes its transaction with it: the first error is
            # the one to report (and to retry on), not the rollback's.
            with contextlib.suppress(DatabaseError):
                execute(self.transport.alias, "ROLLBACK")
            raise
        execute(self.transport.alias, "COMMIT")

    def _push_locked(self, item: PushItem, lock: Lock) -> Taken:
        """PostgreSQL: take ``lock`` (free, expired or already the holder's) and insert
        the job only then, in one statement; NOTIFY only if the job went in ready."""
        now = now_sql("postgresql")
        key = [self.transport.name, stored_name(lock.scope), stored_name(lock.name)]
        notify = "(SELECT pg_notify(%s, '') FROM pushed)" if item.delay <= 0 else "NULL"
        sql = (
            f"WITH taken AS (INSERT INTO {LOCKS} (connection, scope, name, value, expires_at)"
            f" VALUES (%s, %s, %s, %s, {now} + %s)"
            # The condition of DatabaseCoordination._lock's takeover, as an upsert's.
            " ON CONFLICT (connection, scope, name) DO UPDATE"
            " SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
            f" WHERE {LOCKS}.expires_at IS NOT NULL AND ({LOCKS}.value = EXCLUDED.value"
            f" OR {LOCKS}.expires_at <= {now}) RETURNING value),"
            " pushed AS (INSERT INTO queue_jobs (uuid, queue, payload, attempts, priority,"
            f" available_at, created_at) SELECT %s, %s, %s, 0, %s, {now} + %s, {now}"
            " FROM taken RETURNING 1)"
            f" SELECT (SELECT count(*) FROM pushed), {notify}"
        )
        params: list[Any] = [*key, lock.holder, lock.ttl, item.id, item.queue, item.payload,
                             item.priority, max(item.delay, 0)]
        if item.delay <= 0:
            params.append(channel(item.queue))
        [(pushed, _)] = fetch(self.transport.alias, sql, params)
        if pushed:
            return Taken(True, lock.holder)
        # Read after the statement: a holder that committed while it waited is seen too.
        holder = self.transport.coordination.read(lock.scope, [lock.name]).get(lock.name)
        return Taken(False, holder, 0)


class _Refused(Exception):
    """A guard of a guarded push refused: leaves its transaction, which undoes the rest."""

    def __init__(self, taken: Taken) -> None:
        super().__init__(taken)
        self.taken = taken
