"""The overview's and groups page's numbers on a big table: computed at most once a minute
per process, and the page says how old they are.

Why a short-lived copy: those pages aggregate every failure of the last 30 days (the
overview) or of the whole table (groups). The queries read indexes only, yet at a million
rows that is still a third of a million to a million index entries, seconds per load.
Counters kept exact on every record, retry and prune would be instant but touch every write
path; a copy at most ``TTL`` seconds old is the simplest honest answer, and nothing else
(the changelist, filters, detail pages, actions, commands) reads it. Tables under
``LIVE_ROWS`` rows (the database's own estimate; SQLite has none) are always computed live,
so on a small site what a user just did shows at once.

The copy lives in this process's memory, not in Django's cache: no cache backend to
configure and nothing serialised; each web process computes it once a ``TTL``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from django.utils import timezone

from ..conf import jobqueue_settings
from ..failures.estimates import table_rows_estimate
from . import source

T = TypeVar("T")
LIVE_ROWS = 100_000
TTL = 60.0

_lock = threading.Lock()
_copies: dict[Hashable, tuple[float, dt.datetime, Any]] = {}


def summary(key: Hashable, compute: Callable[[], T]) -> tuple[T, dt.datetime | None]:
    """``compute()``, or a copy of it at most ``TTL`` seconds old when the table is big;
    with the time it was computed (``None``: live)."""
    if not _big_table():
        return compute(), None
    full_key = (jobqueue_settings.FAILED_DATABASE, key)
    now = time.monotonic()
    with _lock:
        copy = _copies.get(full_key)
    if copy is not None and copy[0] > now:
        return copy[2], copy[1]
    value, at = compute(), timezone.now()
    with _lock:
        # Windows move on (a key holds its window's start): drop the expired copies.
        for stale in [k for k, (until, _, _) in _copies.items() if until <= now]:
            del _copies[stale]
        _copies[full_key] = (time.monotonic() + TTL, at, value)
    return value, at


def forget() -> None:
    """Drop every copy (after a group is purged or retried, and in tests)."""
    with _lock:
        _copies.clear()


def _big_table() -> bool:
    estimate = table_rows_estimate(source.rows())
    return estimate is not None and estimate >= LIVE_ROWS
