"""Database helpers shared by the database transport and the failed-job store.

Long-running workers meet dropped connections (``wait_timeout``, a restarted server, a killed
session) and lock conflicts (deadlocks, SQLite's "database is locked"). Both are retried here,
so they never turn into job failures or crashed workers.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connections

from .exceptions import TransportError
from .logutil import log_event

logger = logging.getLogger(__name__)

T = TypeVar("T")

# MySQL/MariaDB: deadlock, lock wait timeout; PostgreSQL: deadlock, serialization failure.
_CONFLICT_CODES = {1213, 1205, "40P01", "40001"}
# MySQL/MariaDB: server gone away, lost connection, connection killed, idle timeout.
# PostgreSQL: session terminated (pg_terminate_backend, shutdown, crash), server starting,
# idle-session timeout; any other SQLSTATE of class 08 (connection exception) counts too.
_GONE_CODES = {2006, 2013, 1927, 4031, 2002, 2003, "57P01", "57P02", "57P03", "57P05"}
# What the drivers say when a dead connection is used again: libpq, psycopg2, psycopg 3.
_GONE_MESSAGES = (
    "server closed the connection",
    "connection already closed",
    "the connection is closed",
)


def now_sql(vendor: str) -> str:
    """SQL for 'now' in epoch seconds on the database's own clock."""
    if vendor == "mysql":
        return "UNIX_TIMESTAMP(NOW(6))"
    if vendor == "postgresql":
        return "EXTRACT(EPOCH FROM clock_timestamp())::double precision"
    if vendor == "sqlite":
        return "((julianday('now') - 2440587.5) * 86400.0)"
    raise TransportError(f"the database transport does not support {vendor!r} databases")


def _error_code(exc: BaseException) -> object:
    cause = exc.__cause__ or exc
    pgcode = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
    if pgcode:
        return pgcode
    args = getattr(cause, "args", ())
    return args[0] if args else None


def is_conflict(exc: BaseException) -> bool:
    """A lock conflict worth retrying: deadlock, lock wait timeout, SQLite busy."""
    return _error_code(exc) in _CONFLICT_CODES or "database is locked" in str(exc)


def is_disconnect(exc: BaseException) -> bool:
    """The connection is gone; a fresh one may work."""
    if isinstance(exc, InterfaceError):
        return True
    code = _error_code(exc)
    if code in _GONE_CODES or (isinstance(code, str) and code.startswith("08")):
        return True
    text = str(exc).lower()
    return any(message in text for message in _GONE_MESSAGES)


def run_with_retry(alias: str, operation: Callable[[], T], attempts: int = 6) -> T:
    """Run ``operation`` (its own transaction) retrying conflicts and dropped connections.

    Inside a caller's ``atomic()`` block nothing can be retried safely, so errors go straight
    up as :class:`TransportError`.
    """
    connection = connections[alias]
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except (OperationalError, InterfaceError, DatabaseError) as exc:
            if connection.in_atomic_block or attempt == attempts:
                raise TransportError(f"database {alias!r}: {exc}") from exc
            if is_disconnect(exc):
                log_event(logger, logging.WARNING, "db_reconnecting", database=alias, error=exc)
                _close_quietly(alias)
                time.sleep(min(0.05 * 2**attempt, 2.0))
            elif is_conflict(exc):
                time.sleep(random.uniform(0.0, 0.01 * 2**attempt))
            else:
                raise TransportError(f"database {alias!r}: {exc}") from exc
    raise AssertionError("unreachable")


def _close_quietly(alias: str) -> None:
    try:
        connections[alias].close()
    except Exception:  # a dead connection may fail to close; a new one is opened anyway
        connections[alias].connection = None


def execute(alias: str, sql: str, params: Sequence[Any] = ()) -> int:
    """Run one statement on database ``alias``; the rows it changed."""
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def fetch(alias: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one query on database ``alias``; its rows."""
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def placeholders(count: int) -> str:
    """``%s, %s, ...`` for ``count`` parameters."""
    return ", ".join(["%s"] * count)
