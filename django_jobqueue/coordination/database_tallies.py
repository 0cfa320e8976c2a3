"""Tallies in two tables: ``queue_coordination_tallies``, a *header* row a tally holding its
counts and ``expires_at`` (epoch seconds, the database's clock), and
``queue_coordination_tally_members``, a row a member holding its state.

A call that changes a tally is one transaction that locks the tally's header first; a
second call on that tally waits for the first to commit, then reads what it wrote. No
Python lock is involved, so workers on many hosts count one tally together. Members are
only ever changed under their header's lock, so the counts in the header stay the counts
of the member rows, and reading a tally is one query. A header is created by the first
:meth:`~DatabaseTallies.add`, in a step of its own (see :meth:`DatabaseTallies._in_turn`).
An expired header reads as missing; :meth:`DatabaseTallies.prune` deletes it with its
members, and an ``add`` to it meanwhile starts it afresh.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.db import connections, transaction

from ..dbutil import execute, fetch, now_sql, placeholders, run_with_retry
from ..exceptions import TransportError
from .base import stored_name
from .tallies import ENDS, PENDING, Tallies, Tally, after_end, after_reopen

TALLIES = "queue_coordination_tallies"
MEMBERS = "queue_coordination_tally_members"
#: Members a statement: rows an INSERT (fewer where the database takes fewer parameters),
#: names in an ``IN (...)``.
BATCH = 1000
#: Members an INSERT on PostgreSQL, given as one array.
PG_ADD = 10_000
#: Expired tallies deleted in one transaction by :meth:`DatabaseTallies.prune`.
PRUNE_TALLIES = 100
_KEY = "connection = %s AND scope = %s AND name = %s"
_COUNTS = "total, succeeded, failed, cancelled"
#: What an INSERT of members (but MySQL's, an INSERT IGNORE) says of those it has already.
_IGNORED = " ON CONFLICT (connection, scope, name, member) DO NOTHING"


@dataclass(frozen=True)
class _Header:
    """A tally's header as read under its lock."""

    counts: Tally
    live: bool


#: A change of one tally, made under its header's lock: (its key, its counts) -> the counts
#: after.
Change = Callable[[list[str], Tally], Tally]


class DatabaseTallies(Tallies):
    """The tallies of connection ``connection`` in database ``alias``."""

    def __init__(self, connection: str, alias: str) -> None:
        self.connection = connection
        self.alias = alias

    def add(self, scope: str, name: str, members: Sequence[str], ttl: float) -> Tally:
        stored = list(dict.fromkeys(map(stored_name, members)))
        return self._in_turn(scope, name, ttl, lambda key, counts: self._add(
            key, counts, stored), create=True)

    def count(self, scope: str, name: str, ends: Sequence[tuple[str, str]],
              ttl: float) -> Tally:
        moves = [(stored_name(member), outcome) for member, outcome in ends]
        return self._in_turn(scope, name, ttl, lambda key, counts: self._move(
            key, counts, moves, after_end))

    def reopen(self, scope: str, name: str, members: Sequence[str], ttl: float) -> Tally:
        moves = [(stored_name(member), PENDING) for member in members]
        return self._in_turn(scope, name, ttl, lambda key, counts: self._move(
            key, counts, moves, lambda state, _: after_reopen(state)))

    def read(self, scope: str, names: Sequence[str]) -> dict[str, Tally]:
        stored = {stored_name(name): name for name in names}
        sql = (f"SELECT name, {_COUNTS} FROM {TALLIES} WHERE connection = %s AND scope = %s"
               f" AND name IN ({placeholders(len(stored))}) AND expires_at > {self._now}")
        params = [self.connection, stored_name(scope), *stored]
        rows = run_with_retry(self.alias, lambda: fetch(self.alias, sql, params))
        found = {stored[row[0]]: _tally(stored[row[0]], row[1:]) for row in rows}
        return {name: found.get(name, Tally(name)) for name in names}

    def members(self, scope: str, name: str, state: str | None = None, after: str = "",
                limit: int = 1000) -> list[tuple[str, str]]:
        key = self._key(scope, name)
        in_state, extra = ("", []) if state is None else (" AND state = %s", [state])
        # One query: the header says whether the tally is live (an expired one's members
        # wait for maintenance, and are no one's).
        sql = (f"SELECT member, state FROM {MEMBERS} WHERE {_KEY} AND member > %s{in_state}"
               f" AND EXISTS (SELECT 1 FROM {TALLIES} WHERE {_KEY}"
               f" AND expires_at > {self._now}) ORDER BY member LIMIT {int(limit)}")
        params = [*key, after, *extra, *key]
        return [(member, now) for member, now in
                run_with_retry(self.alias, lambda: fetch(self.alias, sql, params))]

    def forget(self, scope: str, name: str) -> None:
        key = self._key(scope, name)

        def delete() -> None:
            with transaction.atomic(using=self.alias):
                # The header first: its lock waits for a call on the tally to end.
                execute(self.alias, f"DELETE FROM {TALLIES} WHERE {_KEY}", key)
                execute(self.alias, f"DELETE FROM {MEMBERS} WHERE {_KEY}", key)

        run_with_retry(self.alias, delete)

    # -- maintenance ---------------------------------------------------------------------
    def prune(self, grace: float, batches: int) -> int:
        """Delete tallies expired more than ``grace`` seconds ago, with their members:
        :data:`PRUNE_TALLIES` a transaction, at most ``batches`` transactions. How many."""
        pruned = 0
        for _ in range(batches):
            deleted = run_with_retry(self.alias, lambda: self._prune_once(grace))
            pruned += deleted
            if deleted < PRUNE_TALLIES:
                break
        return pruned

    def _prune_once(self, grace: float) -> int:
        with transaction.atomic(using=self.alias):
            rows = fetch(self.alias, self._expired_sql(), [self.connection, grace])
            if not rows:
                return 0
            ids = [row[0] for row in rows]
            where, params = self._tallies_where(rows)
            execute(self.alias, f"DELETE FROM {MEMBERS} WHERE {where}", params)
            return execute(self.alias, f"DELETE FROM {TALLIES} WHERE id IN"
                                       f" ({placeholders(len(ids))})", ids)

    def _expired_sql(self) -> str:
        """The expired headers, locked: a call on one of them waits for the prune, then
        finds no header (and an ``add`` creates it afresh)."""
        sql = (f"SELECT id, scope, name FROM {TALLIES} WHERE connection = %s"
               f" AND expires_at < {self._now} - %s ORDER BY id LIMIT {PRUNE_TALLIES}")
        features = connections[self.alias].features
        if not features.has_select_for_update:
            return sql  # SQLite: the first DELETE takes the database's write lock
        # One being revived by an add is no longer expired: skip it rather than wait.
        return sql + (" FOR UPDATE SKIP LOCKED"
                      if features.has_select_for_update_skip_locked else " FOR UPDATE")

    def _tallies_where(self, rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
        pairs = " OR ".join(["(scope = %s AND name = %s)"] * len(rows))
        params: list[Any] = [self.connection]
        for _, scope, name in rows:
            params += [scope, name]
        return f"connection = %s AND ({pairs})", params

    # -- one call ------------------------------------------------------------------------
    def _in_turn(self, scope: str, name: str, ttl: float, change: Change,
                 create: bool = False) -> Tally:
        """Make ``change`` to tally ``name`` under its header's lock and restart its
        time-to-live, in one transaction (the caller's if there is one). A tally without
        a live header is changed only when ``create`` (an ``add``); then a missing
        header is created in a step of its own, outside the transaction (unless it joins
        a caller's): on MySQL an INSERT IGNORE that meets a row another transaction just
        created locks it shared, and the lock taken next wants it exclusive; two
        transactions doing that deadlock."""
        key = self._key(scope, name)
        for _ in range(2):
            try:
                counts = run_with_retry(self.alias, lambda: self._change_once(
                    key, ttl, change, create))
            except _NoHeader:
                run_with_retry(self.alias, lambda: self._create_header(key, ttl))
                continue
            return replace(counts, name=name)  # the name as asked, not as stored
        raise TransportError(f"the header of tally {name!r} in {scope!r} could be neither"
                             " created nor found")

    def _change_once(self, key: list[str], ttl: float, change: Change,
                     create: bool) -> Tally:
        with transaction.atomic(using=self.alias):
            header = self._lock_header(key)
            if header is None or not header.live:
                if not create:
                    return Tally(key[2])  # nothing to change: the tally does not exist
                if header is None:
                    raise _NoHeader  # leaves the transaction, which has changed nothing
                # Expired and not pruned yet: what it held is gone, as on the other stores.
                execute(self.alias, f"DELETE FROM {MEMBERS} WHERE {_KEY}", key)
                header = _Header(Tally(key[2]), live=True)
            counts = change(key, header.counts)
            execute(self.alias, f"UPDATE {TALLIES} SET total = %s, succeeded = %s,"
                                f" failed = %s, cancelled = %s, expires_at = {self._now} + %s"
                                f" WHERE {_KEY}",
                    [counts.total, counts.succeeded, counts.failed, counts.cancelled, ttl,
                     *key])
        return counts

    def _lock_header(self, key: list[str]) -> _Header | None:
        """Lock the tally's header and read it; None when it has none."""
        sql = (f"SELECT {_COUNTS}, CASE WHEN expires_at > {self._now} THEN 1 ELSE 0 END"
               f" FROM {TALLIES} WHERE {_KEY}")
        if connections[self.alias].features.has_select_for_update:
            sql += " FOR UPDATE"
        else:
            # SQLite: a write takes the database's write lock (held to the commit) before
            # the read, so two calls cannot both read and then both write.
            execute(self.alias, f"UPDATE {TALLIES} SET total = total WHERE {_KEY}", key)
        rows = fetch(self.alias, sql, key)
        if not rows:
            return None
        return _Header(_tally(key[2], rows[0][:4]), live=bool(rows[0][4]))

    def _create_header(self, key: list[str], ttl: float) -> None:
        if self._vendor == "mysql":
            verb, tail = "INSERT IGNORE", ""
        else:
            verb, tail = "INSERT", " ON CONFLICT (connection, scope, name) DO NOTHING"
        execute(self.alias, f"{verb} INTO {TALLIES} (connection, scope, name, {_COUNTS},"
                            f" expires_at) VALUES (%s, %s, %s, 0, 0, 0, 0,"
                            f" {self._now} + %s){tail}", [*key, ttl])

    # -- the changes ---------------------------------------------------------------------
    def _add(self, key: list[str], counts: Tally, members: list[str]) -> Tally:
        """Insert the members' rows as ``pending``, many a statement, in plain SQL: a
        batch adds its every child at dispatch, and model instances cost more than the
        statements (a third of a second for 10,000). Those it has already are left as
        they are (the unique key refuses them)."""
        name = key[2]
        for sql, params in self._member_inserts(key, members):
            execute(self.alias, sql, params)
        sql = f"SELECT COUNT(*) FROM {MEMBERS} WHERE {_KEY}{self._latest}"
        [(total,)] = fetch(self.alias, sql, key)
        return Tally(name, int(total), counts.succeeded, counts.failed, counts.cancelled)

    def _member_inserts(self, key: list[str], members: list[str]) -> Iterator[
            tuple[str, list[Any]]]:
        """The statements inserting ``members``: on PostgreSQL one array of names a
        statement (half the time of as many rows of parameters); elsewhere a row of four
        parameters each, as many as the database takes."""
        columns = f"{MEMBERS} (connection, scope, name, member, state)"
        if self._vendor == "postgresql":
            for first in range(0, len(members), PG_ADD):
                yield (f"INSERT INTO {columns} SELECT %s, %s, %s, unnest(%s::varchar[]),"
                       f" '{PENDING}'{_IGNORED}", [*key, members[first:first + PG_ADD]])
            return
        verb, tail = ("INSERT IGNORE", "") if self._vendor == "mysql" else ("INSERT", _IGNORED)
        limit = connections[self.alias].features.max_query_params  # SQLite: 999
        size = min(BATCH, limit // 4) if limit else BATCH
        for first in range(0, len(members), size):
            chunk = members[first:first + size]
            rows = ", ".join([f"(%s, %s, %s, %s, '{PENDING}')"] * len(chunk))
            params: list[Any] = []
            for member in chunk:
                params += [*key, member]
            yield f"{verb} INTO {columns} VALUES {rows}{tail}", params

    def _move(self, key: list[str], counts: Tally, moves: list[tuple[str, str]],
              step: Callable[[str, str], str]) -> Tally:
        """Move each ``(member, to)`` of ``moves`` in order to ``step(state, to)``: one
        query reads the members' rows, one UPDATE a state they end in writes them, by row
        id (the rows just read under the header's lock)."""
        rows = self._rows(key, list(dict.fromkeys(member for member, _ in moves)))
        before = {member: state for member, (_, state) in rows.items()}
        after = dict(before)
        for member, to in moves:
            if member in after:
                after[member] = step(after[member], to)
        moved: dict[str, list[int]] = {}
        change: Counter[str] = Counter()
        for member, state in after.items():
            if state != before[member]:
                moved.setdefault(state, []).append(rows[member][0])
                change[before[member]] -= 1
                change[state] += 1
        for state, ids in moved.items():
            for first in range(0, len(ids), BATCH):
                chunk = ids[first:first + BATCH]
                execute(self.alias, f"UPDATE {MEMBERS} SET state = %s"
                                    f" WHERE id IN ({placeholders(len(chunk))})", [state, *chunk])
        return Tally(counts.name, counts.total,
                     **{end: getattr(counts, end) + change[end] for end in ENDS})

    def _rows(self, key: list[str], members: list[str]) -> dict[str, tuple[int, str]]:
        """``member -> (row id, state)`` of those of ``members`` the tally has, each found
        by a probe of the unique key. PostgreSQL guesses that a tally's key matches one
        row (its scope and name are each rare, and it takes them for independent), so it
        would read the key's rows and filter them, every member of the tally: there the
        members are joined one at a time (LATERAL, kept apart by OFFSET 0)."""
        found: dict[str, tuple[int, str]] = {}
        for first in range(0, len(members), BATCH):
            chunk = members[first:first + BATCH]
            if self._vendor == "postgresql":
                sql = (f"SELECT asked.member, found.id, found.state"
                       f" FROM unnest(%s::varchar[]) AS asked (member) CROSS JOIN LATERAL"
                       f" (SELECT id, state FROM {MEMBERS} WHERE {_KEY}"
                       f" AND member = asked.member OFFSET 0) AS found")
                params: list[Any] = [chunk, *key]
            else:
                sql = (f"SELECT member, id, state FROM {MEMBERS} WHERE {_KEY}"
                       f" AND member IN ({placeholders(len(chunk))}){self._latest}")
                params = [*key, *chunk]
            found.update((member, (row_id, state))
                         for member, row_id, state in fetch(self.alias, sql, params))
        return found

    # -- helpers -------------------------------------------------------------------------
    def _key(self, scope: str, name: str) -> list[str]:
        return [self.connection, stored_name(scope), stored_name(name)]

    @property
    def _latest(self) -> str:
        """What makes a read under the header's lock see the latest rows. In REPEATABLE
        READ (a MySQL project's choice; Django's is READ COMMITTED) a plain read sees the
        snapshot of the transaction's first read, which in a caller's transaction may be
        older than the lock; a locking read sees the latest rows."""
        return " FOR UPDATE" if self._vendor == "mysql" else ""

    @property
    def _vendor(self) -> str:
        return connections[self.alias].vendor

    @property
    def _now(self) -> str:
        return now_sql(self._vendor)


def _tally(name: str, counts: Sequence[Any]) -> Tally:
    total, succeeded, failed, cancelled = (int(count) for count in counts)
    return Tally(name, total, succeeded, failed, cancelled)


class _NoHeader(Exception):
    """An ``add`` found no header: it leaves the transaction to create one."""
