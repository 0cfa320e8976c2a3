"""The failed-jobs service: what workers, the admin and management commands call.

Verbs: ``record`` (database first, Redis fallback), ``get``, ``find``, ``filter``, ``count``,
``recent``, ``retry``, ``retry_many``, ``retry_matching``, ``forget`` (by row id or job id,
table or Redis), ``prune``,
``prune_report``, ``stats``, ``window_count``, ``move_fallback``, and for the admin
``forget_many``, ``iter_queryset_ids``, ``distinct_values``, ``count_estimate``,
``table_rows_estimate``, ``per_day`` and ``groups``. Nothing else in the app
writes failed-job rows or fallback keys. The work is split by concern: ``queries``
(read-only), ``retrying``, ``pruning``, ``first_seen`` (new fingerprints) and ``stores``;
this module is the one place callers import.

Filter criteria, wherever ``**criteria`` appears: ``queue``, ``connection``, ``job_class``,
``exception_class``, ``fingerprint`` (the 40 hex digits, or an unambiguous prefix of at
least ``MIN_FINGERPRINT_PREFIX``: else :class:`FingerprintLookupError`), ``since`` (failed at
or after), ``before`` (failed before) and, for the table, ``ids``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any

from .. import metrics
from ..exceptions import FailedJobNotFound, TransportError
from ..logutil import log_event
from .browsing import count_estimate, distinct_values, groups, per_day, table_rows_estimate
from .criteria import MIN_FINGERPRINT_PREFIX, FingerprintLookupError
from .fingerprint import fill_fingerprint
from .first_seen import announce, claim_in_database
from .pruning import PruneReport, prune, prune_report
from .queries import (
    LineageStep,
    fallback_matching,
    find,
    fingerprint_count,
    full_fingerprint,
    get,
    is_job_id,
    lineage,
    queues_seen,
    recent,
    records_stats,
    window_count,
)
from .record import FailureRecord
from .retrying import (
    RetryReport,
    iter_ids,
    iter_queryset_ids,
    paced,
    retry,
    retry_fallback,
    retry_fallback_matching,
    retry_many,
    retry_matching,
)
from .stores import (
    database_store,
    fallback,
    redis_is_primary,
    redis_store,
    reset,
    table_outage,
)

__all__ = [
    "MIN_FINGERPRINT_PREFIX",
    "FailureRecord",
    "FingerprintLookupError",
    "LineageStep",
    "PruneReport",
    "Recorded",
    "RetryReport",
    "count",
    "count_estimate",
    "database_store",
    "distinct_values",
    "fallback_count",
    "fallback_entries",
    "fallback_matching",
    "filter",
    "find",
    "fingerprint_count",
    "forget",
    "forget_fallback",
    "forget_many",
    "full_fingerprint",
    "get",
    "groups",
    "is_job_id",
    "iter_ids",
    "iter_queryset_ids",
    "lineage",
    "move_fallback",
    "paced",
    "per_day",
    "prune",
    "prune_report",
    "queues_seen",
    "recent",
    "record",
    "record_all",
    "records_stats",
    "redis_store",
    "reset",
    "retry",
    "retry_fallback",
    "retry_fallback_matching",
    "retry_many",
    "retry_matching",
    "stats",
    "table_rows_estimate",
    "window_count",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorded:
    """Where a failure was stored: ``"database"`` (``id`` is the row id) or ``"redis"``
    (``id`` is the job id), its fingerprint, and whether that fingerprint was new."""

    store: str
    id: Any
    fingerprint: str = ""
    new_fingerprint: bool = False


def record(failure: FailureRecord) -> Recorded:
    """Store a permanent failure: the database, else the Redis fallback.

    The failure's fingerprint is computed first; if the primary store has never seen it,
    ``NEW_FINGERPRINT_HANDLER`` is called (see :mod:`.first_seen`). Raises
    :class:`TransportError` when neither store answers; the caller then keeps the job in
    flight and tries again later.
    """
    fill_fingerprint(failure.make_storable())
    if not redis_is_primary():
        store = database_store()
        if not table_outage.skipping(store.alias):
            try:
                pk = store.record(failure)
            except TransportError as exc:
                table_outage.failed(store.alias)
                log_event(logger, logging.WARNING, "fallback_used", job=failure.job_class,
                          id=failure.uuid, error=exc)
            else:
                table_outage.answered(store.alias)
                new = announce(failure, partial(claim_in_database, store.alias))
                return Recorded("database", pk, failure.fingerprint, new)
    redis = redis_store()
    if redis is None:
        raise TransportError("the failed-job table is unavailable and no redis fallback is set")
    job_id = redis.record(failure)
    if not redis_is_primary():
        # Counted here, not where the table refused: while an outage is being waited out
        # (FAILED_DATABASE_RETRY_INTERVAL), failures come straight to the fallback.
        metrics.record_fallbacks(1)
    # A fallback entry is announced when the mover puts it in the table, not now.
    new = redis_is_primary() and announce(failure, lambda r: redis.claim_fingerprint(
        r.fingerprint))
    return Recorded("redis", job_id, failure.fingerprint, new)


def record_all(failures: list[FailureRecord]) -> list[Recorded]:
    """Store several permanent failures (a busy worker's batch), in order: one INSERT when
    the table takes them all, else each through :func:`record` (and so the fallback)."""
    store = None if redis_is_primary() else database_store()
    if len(failures) < 2 or store is None or table_outage.skipping(store.alias):
        return [record(failure) for failure in failures]
    for failure in failures:
        fill_fingerprint(failure.make_storable())
    try:
        ids = store.record_batch(failures)
    except TransportError as exc:
        # Maybe an outage, maybe one record the table refuses: one by one, record() tells
        # them apart (and marks the outage itself).
        log_event(logger, logging.WARNING, "failure_batch_refused", count=len(failures),
                  error=exc)
        return [record(failure) for failure in failures]
    table_outage.answered(store.alias)
    claim = partial(claim_in_database, store.alias)
    return [
        Recorded("database", ids[failure.uuid], failure.fingerprint, announce(failure, claim))
        for failure in failures
    ]


def filter(**criteria: Any) -> Any:
    """Failed jobs matching ``criteria`` (see the module docstring), newest first."""
    return database_store().filter(**criteria)


def count(**criteria: Any) -> int:
    """How many failed jobs match (the database store)."""
    return database_store().count(**criteria)


def forget(ref: int | str, dry_run: bool = False) -> bool:
    """Delete one failed job; False if it was not there (``dry_run``: only say whether it is).

    ``ref`` is a failed-job (row) id, or a job id (32 hex digits) looked up in the table, then
    in the Redis store, as for :func:`find` (which raises for a ``ref`` that is neither).
    """
    text = str(ref).strip()
    if text.isdigit() and not dry_run:
        return database_store().forget(int(text))
    try:
        item = find(text)
    except FailedJobNotFound:
        if not text.isdigit() and not is_job_id(text):
            raise
        return False
    if dry_run:
        return True
    if getattr(item, "pk", None) is not None:
        return database_store().forget(item.pk)
    return fallback().forget(item.queue, item.uuid)


def forget_many(ids: Iterable[int], batch_size: int = 500) -> dict[str, int]:
    """Delete the failed jobs ``ids`` (any iterable, read ``batch_size`` at a time, so a
    generator of 100,000 ids is never held whole); return how many went, by queue."""
    deleted: Counter[str] = Counter()
    for chunk in _chunks(ids, batch_size):
        deleted.update(database_store().prune(ids=chunk, batch_size=batch_size))
    return dict(deleted)


def _chunks(items: Iterable[int], size: int) -> Iterator[list[int]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def stats(
    since: dt.datetime | None = None, hours_since: dt.datetime | None = None
) -> dict[str, Any]:
    """Failure counts by queue, exception class, job class, fingerprint and hour, plus the
    number of entries waiting in the Redis fallback (``None`` if Redis does not answer).

    ``by_hour`` starts at ``hours_since`` when given (the later of it and ``since``). With
    ``FAILED_STORE = "redis"`` the counts come from the Redis store.
    """
    if redis_is_primary():
        result = records_stats(fallback_matching(since=since), hours_since)
    else:
        result = database_store().stats(since=since, hours_since=hours_since)
    redis = redis_store()
    try:
        result["fallback"] = redis.count() if redis is not None else 0
    except TransportError:
        result["fallback"] = None
    return result


def fallback_entries(queue: str, start: int = 0, stop: int = -1) -> list[FailureRecord]:
    """Failed jobs kept in Redis for ``queue`` (newest first), like ``LRANGE``."""
    return fallback().entries(queue, start, stop)


def fallback_count(queue: str | None = None) -> int:
    """How many failed jobs the Redis store holds (one queue, or all)."""
    return fallback().count(queue)


def forget_fallback(queue: str, job_uuid: str) -> bool:
    """Delete one Redis-stored failed job by its job id."""
    return fallback().forget(queue, job_uuid)


def move_fallback(batch: int = 500) -> int:
    """Move Redis fallback entries into ``queue_failed_jobs``; return how many moved.

    Moved records get a fingerprint if they were stored without one, and are announced
    (``NEW_FINGERPRINT_HANDLER``) now that the table, which decides what is new, has them.
    """
    if redis_is_primary():
        return 0
    redis = redis_store()
    if redis is None:
        return 0
    store = database_store()

    def sink(records: list[FailureRecord]) -> None:
        # Two tries, as for one failure: a database still down is tried again at the next
        # maintenance round, rather than holding the supervisor in backoff sleeps.
        store.record_many([fill_fingerprint(r) for r in records], attempts=2)
        for r in records:
            announce(r, partial(claim_in_database, store.alias))

    try:
        return redis.drain_into(sink, batch=batch)
    except TransportError as exc:
        # Expected while the database is down: entries wait for the next attempt.
        log_event(logger, logging.DEBUG, "fallback_not_moved", error=exc)
        return 0
