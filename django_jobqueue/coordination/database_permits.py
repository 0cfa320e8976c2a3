"""Permits in the ``queue_coordination_permits`` table: a row per held permit, live until
its ``expires_at`` (epoch seconds, the database's clock).

Admissions to one name take turns on the name's *header*, a durable value in
``queue_coordination`` named ``permits:<name>``. An admission is one transaction: it locks
the headers of every name it touches in one statement, counts their live holders, and
writes its grants; a second admission of those names waits for the first to commit, then
counts its grants too. No Python lock is involved, so workers on many hosts share the limit.
A header is created the first time its name is admitted, in a step of its own (see
:meth:`DatabasePermits.admit`). Giving back, extending and counting need no header: they
change or read single rows, and an admission that counted a permit being given back only
refuses more than it had to, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from django.db import connections, transaction

from ..dbutil import execute, fetch, now_sql, placeholders, run_with_retry
from ..exceptions import TransportError
from .admission import Holders, decide
from .base import Admission, Permit, Permits, stored_name

PERMITS = "queue_coordination_permits"


class DatabasePermits(Permits):
    """The permits of connection ``connection`` in database ``alias``; their headers in
    the table ``headers`` (the coordination table)."""

    def __init__(self, connection: str, alias: str, headers: str) -> None:
        self.connection = connection
        self.alias = alias
        self.headers = headers

    def admit(self, scope: str, groups: Sequence[Sequence[Permit]],
              releasing: Sequence[tuple[str, str]] = ()) -> list[Admission]:
        stored = [[replace(p, name=stored_name(p.name), holder=stored_name(p.holder))
                   for p in group] for group in groups]
        # The headers of the names given back are locked too, before their rows are
        # deleted: rows are only ever changed under their name's header, so two
        # admissions cannot each hold a row the other waits for.
        names = sorted({permit.name for group in stored for permit in group}
                       | {stored_name(name) for name, _ in releasing})
        for _ in range(2):
            try:
                return run_with_retry(self.alias, lambda: self._admit_once(
                    scope, names, stored, releasing))
            except _NoHeader:
                # Created in a step of their own, not in the admission's transaction (unless
                # it joins a caller's): on MySQL an INSERT IGNORE that meets a row another
                # transaction just created locks it shared, and the UPDATE that follows
                # wants it exclusive; two transactions doing that deadlock.
                run_with_retry(self.alias, lambda: self._create_headers(scope, names))
        raise TransportError(f"the headers of permits {names!r} in {scope!r} could be"
                             " neither created nor found")

    def give_back(self, scope: str, permits: Sequence[tuple[str, str]]) -> None:
        where, params = self._pairs(scope, permits)
        run_with_retry(self.alias, lambda: execute(
            self.alias, f"DELETE FROM {PERMITS} WHERE {where}", params))

    def extend(self, scope: str, permits: Sequence[tuple[str, str]],
               ttl: float) -> list[tuple[str, str]]:
        where, params = self._pairs(scope, permits)
        now = self._now
        live = f"{where} AND expires_at > {now}"
        extended = run_with_retry(self.alias, lambda: execute(
            self.alias, f"UPDATE {PERMITS} SET expires_at = {now} + %s WHERE {live}",
            [ttl, *params]))
        if extended == len(permits):
            return []  # the common case, one round trip
        # A second one to tell which: those just extended are live, the others lost.
        rows = run_with_retry(self.alias, lambda: fetch(
            self.alias, f"SELECT name, holder FROM {PERMITS} WHERE {live}", params))
        held = set(rows)
        return [(name, holder) for name, holder in permits
                if (stored_name(name), stored_name(holder)) not in held]

    def holders(self, scope: str, names: Sequence[str]) -> dict[str, int]:
        stored = {stored_name(name): name for name in names}
        sql = (f"SELECT name, COUNT(*) FROM {PERMITS} WHERE connection = %s AND scope = %s"
               f" AND name IN ({placeholders(len(stored))}) AND expires_at > {self._now}"
               " GROUP BY name")
        params = [self.connection, stored_name(scope), *stored]
        counts = dict(run_with_retry(self.alias, lambda: fetch(self.alias, sql, params)))
        return {name: int(counts.get(stored_name(name), 0)) for name in names}

    # -- one admission -------------------------------------------------------------------
    def _admit_once(self, scope: str, names: list[str], groups: list[list[Permit]],
                    releasing: Sequence[tuple[str, str]]) -> list[Admission]:
        """Give back ``releasing`` and decide ``groups`` (their names and holders as
        stored) in one transaction, the caller's if there is one."""
        with transaction.atomic(using=self.alias):
            if self._lock_headers(scope, names) < len(names):
                raise _NoHeader  # leaves the transaction, which has changed nothing
            if releasing:
                where, params = self._pairs(scope, releasing)
                execute(self.alias, f"DELETE FROM {PERMITS} WHERE {where}", params)
            answers, grants = decide(groups, self._live(scope, names))
            if grants:
                self._write(scope, grants)
        return answers

    def _lock_headers(self, scope: str, names: list[str]) -> int:
        """Lock the headers of ``names``; how many exist."""
        headers = [_header(name) for name in names]
        where = (f"connection = %s AND scope = %s"
                 f" AND name IN ({placeholders(len(headers))})")
        params = [self.connection, stored_name(scope), *headers]
        if self._vendor == "postgresql":
            # Rows are locked in the ORDER BY's order: two batches of the same names queue
            # up behind each other instead of each holding one the other wants.
            sql = f"SELECT 1 FROM {self.headers} WHERE {where} ORDER BY name FOR UPDATE"
            return len(fetch(self.alias, sql, params))
        # MySQL/MariaDB lock the rows as they read the unique index, in its order; an UPDATE
        # takes the exclusive lock at once (a shared one first could deadlock on upgrading)
        # and counts the rows it found even when it changes nothing (CLIENT.FOUND_ROWS).
        # SQLite: the first write takes the database's write lock, held to the commit.
        return execute(self.alias, f"UPDATE {self.headers} SET value = value WHERE {where}",
                       params)

    def _create_headers(self, scope: str, names: list[str]) -> None:
        if self._vendor == "mysql":
            verb, tail = "INSERT IGNORE", ""
        else:
            verb, tail = "INSERT", " ON CONFLICT (connection, scope, name) DO NOTHING"
        rows = ", ".join(["(%s, %s, %s, '', NULL)"] * len(names))
        params: list[Any] = []
        for name in names:
            params += [self.connection, stored_name(scope), _header(name)]
        execute(self.alias, f"{verb} INTO {self.headers} (connection, scope, name, value,"
                            f" expires_at) VALUES {rows}{tail}", params)

    def _live(self, scope: str, names: list[str]) -> Holders:
        """The live holders of ``names`` and the seconds each has left."""
        now = self._now
        sql = (f"SELECT name, holder, expires_at - {now} FROM {PERMITS} WHERE connection = %s"
               f" AND scope = %s AND name IN ({placeholders(len(names))})"
               f" AND expires_at > {now}")
        if self._vendor == "mysql":
            # A locking read sees the latest rows. In REPEATABLE READ (a project's choice;
            # Django's is READ COMMITTED) a plain one reads the snapshot of the transaction's
            # first read, which in a caller's transaction may be older than the header lock.
            sql += " FOR UPDATE"
        live: Holders = {}
        for name, holder, left in fetch(self.alias, sql,
                                        [self.connection, stored_name(scope), *names]):
            live.setdefault(name, {})[holder] = float(left)
        return live

    def _write(self, scope: str, grants: dict[tuple[str, str], float]) -> None:
        """Insert the granted permits, or restart the time-to-live of those held already."""
        if self._vendor == "mysql":
            tail = " ON DUPLICATE KEY UPDATE expires_at = VALUES(expires_at)"
        else:
            tail = (" ON CONFLICT (connection, scope, name, holder)"
                    " DO UPDATE SET expires_at = EXCLUDED.expires_at")
        rows = ", ".join([f"(%s, %s, %s, %s, {self._now} + %s)"] * len(grants))
        params: list[Any] = []
        for (name, holder), ttl in grants.items():
            params += [self.connection, stored_name(scope), name, holder, ttl]
        execute(self.alias, f"INSERT INTO {PERMITS} (connection, scope, name, holder,"
                            f" expires_at) VALUES {rows}{tail}", params)

    # -- helpers -------------------------------------------------------------------------
    def _pairs(self, scope: str, permits: Sequence[tuple[str, str]]) -> tuple[str, list[str]]:
        """A WHERE clause matching the ``(name, holder)`` permits, and its parameters."""
        pairs = " OR ".join(["(name = %s AND holder = %s)"] * len(permits))
        params = [self.connection, stored_name(scope)]
        for name, holder in permits:
            params += [stored_name(name), stored_name(holder)]
        return f"connection = %s AND scope = %s AND ({pairs})", params

    @property
    def _vendor(self) -> str:
        return connections[self.alias].vendor

    @property
    def _now(self) -> str:
        return now_sql(self._vendor)


def _header(name: str) -> str:
    """The header of the permits ``name`` (as stored) in the coordination table."""
    return stored_name("permits:" + name)


class _NoHeader(Exception):
    """A name of an admission has no header yet: it leaves the transaction to create it."""
