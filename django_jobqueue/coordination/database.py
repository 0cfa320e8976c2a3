"""Coordination in the ``queue_coordination`` table of a connection's database.

A lock or a value is one row, unique by (connection, scope, name): of two workers that try
to create it, the database lets one in. A lock row carries ``expires_at`` (epoch seconds,
the database's clock) and is taken over once that has passed; a durable value has none.
Every write runs in a transaction of its own, or in the caller's (a guarded push joins it,
so the lock and the job commit or roll back together). Permits have a table of their own
(:mod:`.database_permits`), and so have tallies (:mod:`.database_tallies`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, transaction

from ..dbutil import execute, fetch, now_sql, placeholders, run_with_retry
from ..exceptions import TransportError
from .base import Advance, Coordination, Guard, Lock, Taken, stored_name
from .database_permits import PERMITS, DatabasePermits
from .database_tallies import DatabaseTallies

TABLE = "queue_coordination"
_WHERE = "connection = %s AND scope = %s AND name = %s"
#: Seconds an expired lock or permit row is kept before maintenance deletes it (a holder
#: that renews late still finds it gone then, and takes it again if it is free).
PRUNE_AFTER = 60.0
PRUNE_BATCH = 1000
PRUNE_BATCHES = 10


class DatabaseCoordination(Coordination):
    """Locks and values of connection ``connection`` in database ``alias``."""

    def __init__(self, connection: str, alias: str) -> None:
        self._tallies = DatabaseTallies(connection, alias)
        super().__init__(connection, DatabasePermits(connection, alias, headers=TABLE),
                         self._tallies)
        self.alias = alias

    # -- contract ------------------------------------------------------------------------
    def take(self, guard: Guard) -> Taken:
        return self._retrying(lambda: self.take_here(guard))

    def take_here(self, guard: Guard) -> Taken:
        """:meth:`take` without retries, in the current transaction if there is one (a
        guarded push's): each step is one statement, and a refusal raises nothing."""
        if isinstance(guard, Lock):
            return self._lock(guard)
        return self._advance(guard)

    def release(self, scope: str, name: str, holder: str) -> bool:
        sql = f"DELETE FROM {TABLE} WHERE {_WHERE} AND value = %s AND expires_at IS NOT NULL"
        key = self._key(scope, name)
        return bool(self._retrying(lambda: self._execute(sql, [*key, holder])))

    def renew(self, scope: str, name: str, holder: str, ttl: float) -> bool:
        now = self._now
        sql = (f"UPDATE {TABLE} SET expires_at = {now} + %s WHERE {_WHERE} AND value = %s"
               " AND expires_at IS NOT NULL")
        key = self._key(scope, name)
        return bool(self._retrying(lambda: self._execute(sql, [ttl, *key, holder])))

    def read(self, scope: str, names: Sequence[str]) -> dict[str, str]:
        if not names:
            return {}
        stored = {stored_name(name): name for name in names}
        sql = (
            f"SELECT name, value FROM {TABLE} WHERE connection = %s AND scope = %s"
            f" AND name IN ({placeholders(len(stored))})"
            f" AND (expires_at IS NULL OR expires_at > {self._now})"
        )
        params = [self.connection, stored_name(scope), *stored]
        rows = self._retrying(lambda: self._fetch(sql, params))
        return {stored[name]: value for name, value in rows}

    def write(self, scope: str, name: str, value: str | None, ttl: float | None = None) -> None:
        key = self._key(scope, name)
        if value is None:
            sql = f"DELETE FROM {TABLE} WHERE {_WHERE}"
            self._retrying(lambda: self._execute(sql, key))
            return
        expires, extra = ("NULL", []) if ttl is None else (f"{self._now} + %s", [ttl])
        update = f"UPDATE {TABLE} SET value = %s, expires_at = {expires} WHERE {_WHERE}"
        params = [value, *extra, *key]

        def upsert() -> None:
            with transaction.atomic(using=self.alias):
                if not self._execute(update, params) and not self._insert(key, value, ttl):
                    self._execute(update, params)  # created by another since

        self._retrying(upsert)

    def prune(self) -> int:
        """Expired locks, then expired permits; of each table in batches of
        :data:`PRUNE_BATCH` rows (short transactions, short row locks), at most
        :data:`PRUNE_BATCHES` of them a call: what is left waits for the next. Then expired
        tallies with their members, a tally counting as one."""
        return (self._prune(TABLE) + self._prune(PERMITS)
                + self._tallies.prune(PRUNE_AFTER, PRUNE_BATCHES))

    def _prune(self, table: str) -> int:
        expired = f"connection = %s AND expires_at < {self._now} - %s"
        if connections[self.alias].vendor == "mysql":
            sql = f"DELETE FROM {table} WHERE {expired} LIMIT {PRUNE_BATCH}"
        else:
            sql = (f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {expired}"
                   f" LIMIT {PRUNE_BATCH})")
        pruned = 0
        for _ in range(PRUNE_BATCHES):
            deleted = int(self._retrying(
                lambda: self._execute(sql, [self.connection, PRUNE_AFTER])))
            pruned += deleted
            if deleted < PRUNE_BATCH:
                break
        return pruned

    # -- guards --------------------------------------------------------------------------
    def _lock(self, lock: Lock) -> Taken:
        key = self._key(lock.scope, lock.name)
        now = self._now
        # An expired lock, or the holder's own, is taken over in place: the row lock makes
        # two takers of one expired row take turns, and the second finds it live again.
        take_over = (
            f"UPDATE {TABLE} SET value = %s, expires_at = {now} + %s WHERE {_WHERE}"
            f" AND expires_at IS NOT NULL AND (value = %s OR expires_at <= {now})"
        )
        for _ in range(2):
            # A free name first: one statement, the common case of a unique dispatch.
            if self._insert(key, lock.holder, lock.ttl):
                return Taken(True, lock.holder)
            if self._execute(take_over, [lock.holder, lock.ttl, *key, lock.holder]):
                return Taken(True, lock.holder)
            current = self._current(key)
            if current is not None:
                return Taken(False, current)
            # Refused, yet nobody holds it: the row was pruned in between; once more.
        # MySQL's INSERT IGNORE turns an error (a value too long, say) into a refusal:
        # never report that as a lock someone holds.
        raise TransportError(f"coordination lock {lock.name!r} in {lock.scope!r} could be"
                             " neither taken nor found")

    def _advance(self, advance: Advance) -> Taken:
        key = self._key(advance.scope, advance.name)
        if advance.expected is None:
            granted = self._insert(key, advance.new)
        else:
            sql = (f"UPDATE {TABLE} SET value = %s WHERE {_WHERE} AND value = %s"
                   " AND expires_at IS NULL")
            granted = bool(self._execute(sql, [advance.new, *key, advance.expected]))
        return Taken(True, advance.new) if granted else Taken(False, self._current(key))

    def _insert(self, key: list[str], value: str, ttl: float | None = None) -> bool:
        """Create the row; False if it exists (the unique key refused it). The refusal is
        no error: an error would need a savepoint (PostgreSQL spoils the transaction
        otherwise), two more round trips on every unique dispatch."""
        vendor = connections[self.alias].vendor
        expires = "NULL" if ttl is None else f"{now_sql(vendor)} + %s"
        verb, tail = ("INSERT IGNORE", "") if vendor == "mysql" else (
            "INSERT", " ON CONFLICT (connection, scope, name) DO NOTHING")
        sql = (f"{verb} INTO {TABLE} (connection, scope, name, value, expires_at)"
               f" VALUES (%s, %s, %s, %s, {expires}){tail}")
        params: list[Any] = [*key, value] + ([] if ttl is None else [ttl])
        return self._execute(sql, params) == 1

    def _current(self, key: list[str]) -> str | None:
        sql = (f"SELECT value FROM {TABLE} WHERE {_WHERE}"
               f" AND (expires_at IS NULL OR expires_at > {self._now})")
        rows = self._fetch(sql, key)
        return rows[0][0] if rows else None

    # -- helpers -------------------------------------------------------------------------
    def _key(self, scope: str, name: str) -> list[str]:
        return [self.connection, stored_name(scope), stored_name(name)]

    @property
    def _now(self) -> str:
        return now_sql(connections[self.alias].vendor)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return execute(self.alias, sql, params)

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return fetch(self.alias, sql, params)

    def _retrying(self, operation: Any) -> Any:
        return run_with_retry(self.alias, operation)
