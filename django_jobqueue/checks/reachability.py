"""W001: the failed-job database answers. A warning, not an error: while it is down, failures
go to the Redis fallback (or wait in flight), so a worker may and should still start."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from django.core import checks
from django.db import connections

from ..exceptions import ConfigurationError

# ``check`` must not hang on a server that drops packets: past this, the warning says so.
CONNECT_TIMEOUT = 5.0


def check_failed_database(
    databases: Sequence[str] | None, timeout: float | None = None
) -> list[checks.CheckMessage]:
    """Connect to FAILED_DATABASE if it is among ``databases`` (Django's convention for
    database checks: ``None`` means "touch no database")."""
    if not databases:
        return []
    alias, others = _table_alias()
    if alias is None or alias not in databases or alias not in connections:
        return []  # no table, or not asked for; or E010 already says it is missing
    problem = _connect_problem(alias, CONNECT_TIMEOUT if timeout is None else timeout)
    if problem is None:
        return []
    return [checks.Warning(
        f"The failed-job table's database {alias!r} cannot be reached: {problem}",
        hint=(f"Until it answers, failed jobs go to the {' and '.join(others)} store"
              if others else "Until it answers, failed jobs stay in flight (no fallback store)")
        + ". Start the database or fix its DATABASES entry.",
        id="django_jobqueue.W001",
    )]


def _table_alias() -> tuple[str | None, list[str]]:
    """The database of the failed-job table, if the configured store has one, and the
    labels of its other parts (where failures go while the table is down)."""
    from ..failures.database import DatabaseStore
    from ..failures.stores import build, store_config

    try:
        store = build(store_config())
    except ConfigurationError:
        return None, []  # E009 says why
    tables = [part for part in store.parts() if isinstance(part, DatabaseStore)]
    if not tables:
        return None, []
    return tables[0].alias, [part.label for part in store.parts() if part is not tables[0]]


def _connect_problem(alias: str, timeout: float) -> str | None:
    """``None`` if ``alias`` answers within ``timeout`` seconds, else what went wrong."""
    current = connections[alias]
    if current.connection is not None and current.is_usable():
        return None  # e.g. under ``migrate``: already connected, nothing to wait for
    outcome: dict[str, str] = {}

    def attempt() -> None:
        # Its own thread, so its own connection (Django's are per thread), closed after; a
        # daemon, so a server that never answers cannot keep ``check`` from exiting.
        connection = connections[alias]
        try:
            connection.ensure_connection()
        except Exception as exc:  # any driver error means "not reachable"
            outcome["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    thread = threading.Thread(target=attempt, name="jobqueue-check-db", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return f"no answer within {timeout:g}s"
    return outcome.get("error")
