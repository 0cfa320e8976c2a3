"""Retrying failed jobs: one, many, or every match of a filter, paced, in any store.

A retry pushes the stored payload again (new job id, attempts reset, empty error history,
``retry_of`` = the failed job's id), then deletes the record. A record whose payload is
unreadable or whose job class is no longer registered is kept, and the report says why.
Bulk retries walk the store's refs in batches (never loading every row of a table) and can
be paced to at most ``rate`` per second, so that replaying a storm does not recreate it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.utils import timezone

from .. import payload as payload_codec
from ..dispatch import push_payload
from ..exceptions import JobQueueError
from ..jobs import resolve
from ..logutil import log_event
from .base import FailedJobStore, Ref
from .criteria import matches, with_full_fingerprint
from .record import FailureRecord

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class RetryReport:
    """Outcome of a bulk retry.

    ``retried``: new job ids by ref (the failed-job id, or the job id in stores without
    row ids); ``errors``: why a record was kept; ``planned``: with ``dry_run``, the records
    that would be retried; ``queues``: retried (or planned) records per queue.
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


def push_again(record: FailureRecord) -> str:
    """Validate a stored payload and push it as a new job; return the new id."""
    payload = check_retryable(record.payload)
    # A retry is a new job: its old expiry (it would expire at once) and the waits it
    # spent behind a limit stay with the record.
    fresh = {key: value for key, value in payload.items()
             if key not in ("expires_at", "limit_waits")}
    reopen_in_workflow(payload)
    fresh.update(
        id=uuid.uuid4().hex, errors=[], retry_of=record.uuid,
        dispatched_at=timezone.now().isoformat(),
        queue=payload.get("queue") or record.queue,
        connection=payload.get("connection") or record.connection,
    )
    return push_payload(fresh).id


def reopen_in_workflow(payload: dict[str, Any]) -> None:
    """A batch child pushed again is pending in its batch's count again (a cancelled one
    would not be counted when it ends)."""
    if "batch" in payload:
        from ..workflows.operate import reopened

        reopened(payload)


def retry(store: FailedJobStore, ref: Ref) -> str:
    """Push the failed job ``ref`` again, then delete its record; return the new job id."""
    return _retry_counted(store, ref, RetryReport())


def retry_many(
    store: FailedJobStore,
    refs: Iterable[Ref],
    progress: Callable[[int], None] | None = None,
    *,
    dry_run: bool = False,
) -> RetryReport:
    """Retry each failed job (``dry_run``: only check it could be); records that cannot be
    retried stay, with their error in the report."""
    report = RetryReport(dry_run=dry_run)
    for ref in refs:
        try:
            if dry_run:
                record = store.get(ref)
                check_retryable(record.payload)
                report.planned.append(ref)
                report.queues[record.queue] += 1
            else:
                report.retried[ref] = _retry_counted(store, ref, report)
        except (JobQueueError, ValueError) as exc:
            report.errors[ref] = str(exc)
        if progress:
            progress(report.done)
    return report


def _retry_counted(store: FailedJobStore, ref: Ref, report: RetryReport) -> str:
    retried: list[FailureRecord] = []

    def push(record: FailureRecord) -> str:
        new_id = push_again(record)
        retried.append(record)
        report.queues[record.queue] += 1
        return new_id

    new_id = store.retry(ref, push)
    log_event(logger, logging.INFO, "failed_job_retried", failed_id=ref,
              job=retried[0].job_class, new_id=new_id)
    return new_id


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


def retry_matching(
    store: FailedJobStore,
    *,
    ids: Iterable[Ref] | None = None,
    rate: float | None = None,
    dry_run: bool = False,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    **criteria: Any,
) -> RetryReport:
    """Retry the records ``ids`` (failed-job ids or job ids) and/or every record matching
    ``criteria``, oldest first, at most ``rate`` per second. Ids that are not there (or do
    not match) are reported as errors."""
    narrowed = {k: v for k, v in criteria.items() if v is not None}
    missing: dict[Ref, str] = {}
    if ids is not None:
        wanted, missing = _matching_refs(store, ids, narrowed)
        stream: Iterable[Ref] = wanted
    else:
        stream = store.refs(batch_size, **narrowed)
    report = retry_many(store, paced(stream, rate, clock, sleep), progress, dry_run=dry_run)
    report.errors.update(missing)
    return report


def _matching_refs(
    store: FailedJobStore, ids: Iterable[Ref], criteria: dict[str, Any]
) -> tuple[list[Ref], dict[Ref, str]]:
    """``ids`` without repeats, in order (row ids ascending first), and those of them that
    do not match ``criteria``, with why."""
    wanted = sorted(set(ids), key=lambda ref: (isinstance(ref, str), ref))
    if not criteria:
        return wanted, {}
    criteria = with_full_fingerprint(criteria, store.fingerprints_starting)
    kept: list[Ref] = []
    missing: dict[Ref, str] = {}
    for ref in wanted:
        try:
            matched = matches(store.get(ref), **criteria)
        except JobQueueError:
            matched = False
        if matched:
            kept.append(ref)
        else:
            missing[ref] = f"no failed job with id {ref} matches the filters"
    return kept, missing
