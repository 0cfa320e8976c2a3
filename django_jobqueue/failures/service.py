"""The failed-jobs service: what workers, the admin and management commands call.

Verbs: ``record`` (database first, Redis fallback), ``get``, ``filter``, ``count``, ``retry``,
``retry_many``, ``forget``, ``prune``, ``stats``, ``move_fallback``. Nothing else in the app
writes failed-job rows or fallback keys.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import payload as payload_codec
from ..conf import jobqueue_settings
from ..exceptions import FailedJobNotFound, JobQueueError, PayloadError, TransportError
from ..jobs import resolve
from ..transports import PushItem, get_transport
from .database import DatabaseFailedJobStore
from .record import FailureRecord
from .redis import RedisFailedJobStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorded:
    """Where a failure was stored: ``"database"`` (``id`` is the row id) or ``"redis"``."""

    store: str
    id: Any


@dataclass
class RetryReport:
    """Outcome of a bulk retry: new job ids by failed-job id, and errors for rows kept."""

    retried: dict[int, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)


def database_store() -> DatabaseFailedJobStore:
    return DatabaseFailedJobStore(jobqueue_settings.FAILED_DATABASE)


def redis_store() -> RedisFailedJobStore | None:
    """The Redis store from ``FAILED_REDIS``, else from the first redis connection, else None."""
    options = jobqueue_settings.FAILED_REDIS or _redis_connection_options()
    if not options:
        return None
    prefix = options.get("PREFIX") or jobqueue_settings.REDIS_PREFIX
    key = (os.getpid(), repr(sorted(options.items())), prefix)
    store = _redis_stores.get(key)
    if store is None:
        from ..transports.redis import redis_client

        store = _redis_stores[key] = RedisFailedJobStore(redis_client(options), prefix)
    return store


# One client per process and configuration: building one per failure would leak pools.
_redis_stores: dict[tuple[int, str, str], RedisFailedJobStore] = {}


def reset() -> None:
    """Forget cached Redis clients (after settings change, in tests)."""
    _redis_stores.clear()


def _redis_connection_options() -> dict[str, Any] | None:
    from ..conf import REDIS_TRANSPORT

    for config in jobqueue_settings.CONNECTIONS.values():
        if config.get("TRANSPORT") == REDIS_TRANSPORT:
            return dict(config.get("OPTIONS") or {})
    return None


def record(failure: FailureRecord) -> Recorded:
    """Store a permanent failure: the database, else the Redis fallback.

    Raises :class:`TransportError` when neither store answers; the caller then keeps the job
    in flight and tries again later.
    """
    if jobqueue_settings.FAILED_STORE != "redis":
        try:
            return Recorded("database", database_store().record(failure))
        except TransportError as exc:
            logger.warning(
                "failed-job table unavailable, using the redis fallback: job=%s id=%s error=%s",
                failure.job_class, failure.uuid, exc,
            )
    fallback = redis_store()
    if fallback is None:
        raise TransportError("the failed-job table is unavailable and no redis fallback is set")
    return Recorded("redis", fallback.record(failure))


def get(pk: int) -> Any:
    """The failed job ``pk``; :class:`FailedJobNotFound` if there is none."""
    from ..models import FailedJob

    try:
        return database_store().get(pk)
    except FailedJob.DoesNotExist:
        raise FailedJobNotFound(f"no failed job with id {pk}") from None


def filter(**criteria: Any) -> Any:
    """Failed jobs matching ``queue``, ``connection``, ``job_class``, ``exception_class``,
    ``since``, ``before`` or ``ids``, newest first."""
    return database_store().filter(**criteria)


def count(**criteria: Any) -> int:
    """How many failed jobs match (the database store)."""
    return database_store().count(**criteria)


def forget(pk: int) -> bool:
    """Delete failed job ``pk``; False if it was not there."""
    return database_store().forget(pk)


def retry(pk: int) -> str:
    """Push failed job ``pk`` again (new id, attempts reset), then delete its row.

    Returns the new job id. A row whose payload is unreadable or whose class is no longer
    registered is kept, and the error says why.
    """
    row = get(pk)
    store = database_store()
    if get_transport(_connection_of(row.payload, row.connection)).uses_database(store.alias):
        # Same database: the push and the delete commit together.
        with transaction.atomic(using=store.alias):
            new_id = _push_again(row.payload, row.uuid, row.connection, row.queue)
            row.delete()
    else:
        # Push first: a crash in between runs the job again rather than losing it.
        new_id = _push_again(row.payload, row.uuid, row.connection, row.queue)
        row.delete()
    logger.info("failed job retried: failed_id=%s job=%s new_id=%s", pk, row.job_class, new_id)
    return new_id


def _connection_of(raw: str, default: str) -> str:
    try:
        return payload_codec.loads(raw).get("connection") or default
    except PayloadError:
        return default


def _push_again(raw: str, old_uuid: str, connection: str, queue: str) -> str:
    """Validate a stored payload and push it as a new job; return the new id."""
    payload = payload_codec.loads(raw)
    resolve(payload["job"])  # a class that is gone raises, and the record stays
    fresh = dict(payload)
    fresh.update(
        id=uuid.uuid4().hex, errors=[], retry_of=old_uuid,
        dispatched_at=timezone.now().isoformat(),
    )
    transport = get_transport(payload.get("connection") or connection)
    item = PushItem(fresh["id"], payload.get("queue") or queue, payload_codec.dumps(fresh))
    transport.push(item)
    return item.id


def retry_many(
    pks: Iterable[int], progress: Callable[[int], None] | None = None
) -> RetryReport:
    """Retry each failed job; rows that cannot be retried stay, with their error reported."""
    report = RetryReport()
    for pk in pks:
        try:
            report.retried[pk] = retry(pk)
        except (JobQueueError, ValueError) as exc:
            report.errors[pk] = str(exc)
        if progress:
            progress(len(report.retried) + len(report.errors))
    return report


def prune(
    *,
    older_than: dt.timedelta | None = None,
    keep: int | None = None,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
    everything: bool = False,
    **criteria: Any,
) -> int:
    """Delete failed jobs (older than ``older_than``, matching ``criteria``, beyond the newest
    ``keep``) in batches; returns rows deleted. The Redis store is pruned by age too (when
    no criterion other than ``queue`` narrows the prune, since it can only filter by those).

    With no limit at all, nothing is deleted unless ``everything=True`` says so.
    """
    narrowed = {k: v for k, v in criteria.items() if v is not None}
    if older_than is None and keep is None and not narrowed and not everything:
        raise ValueError("prune() needs older_than, keep or a filter (or everything=True)")
    before = timezone.now() - older_than if older_than is not None else None
    deleted = database_store().prune(
        before=before, keep=keep, batch_size=batch_size, progress=progress, **criteria
    )
    fallback = redis_store()
    if fallback is not None and before is not None and keep is None and set(narrowed) <= {
        "queue"
    }:
        try:
            deleted += fallback.prune(before, queue=criteria.get("queue"))
        except TransportError as exc:
            logger.warning("could not prune the redis fallback: %s", exc)
    return deleted


def stats(since: dt.datetime | None = None) -> dict[str, Any]:
    """Failure counts by queue, exception class, job class and hour, plus the fallback's."""
    result = database_store().stats(since=since)
    fallback = redis_store()
    try:
        result["fallback"] = fallback.count() if fallback is not None else 0
    except TransportError:
        result["fallback"] = None
    return result


def _fallback() -> RedisFailedJobStore:
    store = redis_store()
    if store is None:
        raise TransportError("no Redis failed-job store is configured (FAILED_REDIS)")
    return store


def fallback_entries(queue: str, start: int = 0, stop: int = -1) -> list[FailureRecord]:
    """Failed jobs kept in Redis for ``queue`` (newest first), like ``LRANGE``."""
    return _fallback().entries(queue, start, stop)


def fallback_count(queue: str | None = None) -> int:
    """How many failed jobs the Redis store holds (one queue, or all)."""
    return _fallback().count(queue)


def forget_fallback(queue: str, job_uuid: str) -> bool:
    """Delete one Redis-stored failed job by its job id."""
    return _fallback().forget(queue, job_uuid)


def retry_fallback(queue: str, job_uuid: str) -> str:
    """Push a Redis-stored failed job again (new id, attempts reset), then delete its entry."""
    for record in _fallback().entries(queue):
        if record.uuid == job_uuid:
            new_id = _push_again(record.payload, record.uuid, record.connection, record.queue)
            _fallback().forget(queue, job_uuid)
            return new_id
    raise FailedJobNotFound(f"no failed job {job_uuid} in the redis store for queue {queue!r}")


def move_fallback(batch: int = 500) -> int:
    """Move Redis fallback entries into ``queue_failed_jobs``; return how many moved."""
    if jobqueue_settings.FAILED_STORE == "redis":
        return 0
    fallback = redis_store()
    if fallback is None:
        return 0
    try:
        return fallback.drain_into(database_store().record_many, batch=batch)
    except TransportError as exc:
        # Expected while the database is down: entries wait for the next attempt.
        logger.debug("fallback entries not moved yet: %s", exc)
        return 0
