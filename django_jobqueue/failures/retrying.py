"""Retrying failed jobs: one, many, or every match of a filter, paced.

A retry pushes the stored payload again (new job id, attempts reset, empty error history,
``retry_of`` = the failed job's id), then deletes the record. A record whose payload is
unreadable or whose job class is no longer registered is kept, and the report says why.
Bulk retries walk the table in primary-key batches (never loading every row) and can be
paced to at most ``rate`` per second, so that replaying a storm does not recreate it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .. import payload as payload_codec
from ..dispatch import push_payload
from ..exceptions import FailedJobNotFound, JobQueueError, PayloadError
from ..jobs import resolve
from ..logutil import log_event
from ..transports import get_transport
from .criteria import matches, with_full_fingerprint
from .queries import get
from .record import FailureRecord
from .redis import RedisFailedJobStore
from .stores import database_store, fallback

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class RetryReport:
    """Outcome of a bulk retry.

    ``retried``: new job ids by failed-job id (the job id for Redis entries); ``errors``:
    why a record was kept; ``planned``: with ``dry_run``, the records that would be retried;
    ``queues``: retried (or planned) records per queue.
    """

    retried: dict[Any, str] = field(default_factory=dict)
    errors: dict[Any, str] = field(default_factory=dict)
    planned: list[Any] = field(default_factory=list)
    queues: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    @property
    def done(self) -> int:
        """Records handled so far, successfully or not."""
        return len(self.retried) + len(self.planned) + len(self.errors)


def check_retryable(raw: str) -> dict[str, Any]:
    """The parsed payload if it can be pushed again; else :class:`PayloadError` (or its
    subclass :class:`UnknownJobClass` when the job class is gone)."""
    payload = payload_codec.loads(raw)
    resolve(payload["job"])  # a class that is gone raises, and the record stays
    return payload


def push_again(raw: str, old_uuid: str, connection: str, queue: str) -> str:
    """Validate a stored payload and push it as a new job; return the new id."""
    payload = check_retryable(raw)
    fresh = dict(payload)
    fresh.update(
        id=uuid.uuid4().hex, errors=[], retry_of=old_uuid,
        dispatched_at=timezone.now().isoformat(),
        queue=payload.get("queue") or queue, connection=payload.get("connection") or connection,
    )
    return push_payload(fresh).id


def retry(pk: int) -> str:
    """Push failed job ``pk`` again, then delete its row; return the new job id."""
    return _retry_row(get(pk))


def _retry_row(row: Any) -> str:
    store, pk = database_store(), row.pk
    if get_transport(_connection_of(row.payload, row.connection)).uses_database(store.alias):
        # Same database: the push and the delete commit together.
        with transaction.atomic(using=store.alias):
            new_id = push_again(row.payload, row.uuid, row.connection, row.queue)
            row.delete()
    else:
        # Push first: a crash in between runs the job again rather than losing it.
        new_id = push_again(row.payload, row.uuid, row.connection, row.queue)
        row.delete()
    log_event(logger, logging.INFO, "failed_job_retried", failed_id=pk, job=row.job_class,
              new_id=new_id)
    return new_id


def _connection_of(raw: str, default: str) -> str:
    try:
        return payload_codec.loads(raw).get("connection") or default
    except PayloadError:
        return default


def retry_many(
    pks: Iterable[int],
    progress: Callable[[int], None] | None = None,
    *,
    dry_run: bool = False,
) -> RetryReport:
    """Retry each failed job (``dry_run``: only check it could be); rows that cannot be
    retried stay, with their error in the report."""
    report = RetryReport(dry_run=dry_run)
    for pk in pks:
        try:
            row = get(pk)
        except FailedJobNotFound as exc:
            report.errors[pk] = str(exc)
        else:
            _attempt(report, pk, row.queue, row.payload, lambda row=row: _retry_row(row))
        if progress:
            progress(report.done)
    return report


def _attempt(
    report: RetryReport, key: Any, queue: str, payload: str, push: Callable[[], str]
) -> None:
    """Retry one record through ``push`` (or, dry run, check it could be), into ``report``."""
    try:
        if report.dry_run:
            check_retryable(payload)
            report.planned.append(key)
        else:
            report.retried[key] = push()
        report.queues[queue] += 1
    except (JobQueueError, ValueError) as exc:
        report.errors[key] = str(exc)


def paced(
    items: Iterable[T],
    rate: float | None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[T]:
    """Yield ``items`` at most ``rate`` per second (no limit when ``rate`` is falsy).

    Each item is yielded at least ``1 / rate`` seconds after the previous one, counted from
    when that one was yielded: after a slow stretch there is no burst to catch up.
    """
    interval = 1.0 / rate if rate else 0.0
    next_at: float | None = None
    for item in items:
        now = clock()
        if next_at is not None and now < next_at:
            sleep(next_at - now)
            now = next_at
        next_at = now + interval
        yield item


def iter_ids(batch_size: int = 500, upto: int | None = None, **criteria: Any) -> Iterator[int]:
    """Ids of matching rows, oldest first, fetched ``batch_size`` at a time (keyset on the
    primary key, so rows deleted or kept meanwhile do not shift the walk). Only rows up to
    ``upto`` (default: the highest id when the walk starts) are visited, so failures
    recorded while it runs, retried jobs failing again included, are not picked up."""
    return iter_queryset_ids(database_store().filter(**criteria), batch_size, upto)


def iter_queryset_ids(
    queryset: Any, batch_size: int = 500, upto: int | None = None
) -> Iterator[int]:
    """:func:`iter_ids` for any queryset of failed jobs (the admin's filtered changelist):
    ids oldest first, ``batch_size`` at a time, up to the highest id when the walk starts."""
    if upto is None:
        upto = queryset.order_by().aggregate(top=Max("pk"))["top"] or 0
    queryset = queryset.filter(pk__lte=upto).order_by("pk")
    last = 0
    while True:
        batch = list(queryset.filter(pk__gt=last).values_list("pk", flat=True)[:batch_size])
        if not batch:
            return
        yield from batch
        last = batch[-1]


def retry_matching(
    *,
    ids: Iterable[int] | None = None,
    rate: float | None = None,
    dry_run: bool = False,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    **criteria: Any,
) -> RetryReport:
    """Retry the rows ``ids`` and/or every row matching ``criteria``, oldest first, at most
    ``rate`` per second. Ids that do not exist (or do not match) are reported as errors."""
    narrowed = {k: v for k, v in criteria.items() if v is not None}
    missing: dict[int, str] = {}
    if ids is not None:
        wanted = sorted(set(ids))
        if narrowed:
            matching = set(iter_ids(batch_size, ids=wanted, **narrowed))
            missing = {pk: f"no failed job with id {pk} matches the filters"
                       for pk in wanted if pk not in matching}
            wanted = [pk for pk in wanted if pk in matching]
        stream: Iterable[int] = wanted
    else:
        stream = iter_ids(batch_size, **narrowed)
    report = retry_many(paced(stream, rate, clock, sleep), progress, dry_run=dry_run)
    report.errors.update(missing)
    return report


def retry_fallback(queue: str, job_uuid: str) -> str:
    """Push a Redis-stored failed job again, then delete its entry; return the new job id."""
    store = fallback()
    for raw, record in store.raw_entries(queue):
        if record.uuid == job_uuid:
            return _retry_entry(store, queue, raw, record)
    raise FailedJobNotFound(f"no failed job {job_uuid} in the redis store for queue {queue!r}")


def retry_fallback_matching(
    *,
    uuids: Iterable[str] | None = None,
    rate: float | None = None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    **criteria: Any,
) -> RetryReport:
    """Like :func:`retry_matching` for the Redis store (ids are job ids), oldest first.

    The Redis lists are read whole: they hold what waits to move into the table, or the
    failures of a Redis-only setup, not a table's history.
    """
    store, wanted = fallback(), set(uuids) if uuids is not None else None
    queue = criteria.get("queue")
    criteria = with_full_fingerprint(criteria, store.fingerprints_starting)
    found = [
        (q, raw, record)
        for q in ([queue] if queue else store.queues())
        for raw, record in reversed(store.raw_entries(q))
        if matches(record, **criteria) and (wanted is None or record.uuid in wanted)
    ]
    report = RetryReport(dry_run=dry_run)
    for job_uuid in sorted((wanted or set()) - {record.uuid for _, _, record in found}):
        report.errors[job_uuid] = f"no failed job {job_uuid} in the redis store matches"
    for q, raw, record in paced(found, rate, clock, sleep):
        _attempt(report, record.uuid, record.queue, record.payload,
                 lambda q=q, raw=raw, record=record: _retry_entry(store, q, raw, record))
        if progress:
            progress(report.done)
    return report


def _retry_entry(store: RedisFailedJobStore, queue: str, raw: bytes,
                 record: FailureRecord) -> str:
    new_id = push_again(record.payload, record.uuid, record.connection, record.queue)
    store.remove(queue, raw)
    return new_id
