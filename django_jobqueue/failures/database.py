"""The failed-job store in ``queue_failed_jobs``."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import TruncDate, TruncHour

from ..dbutil import run_with_retry
from .criteria import as_q, with_full_fingerprint
from .record import FailureRecord

_TOP_FINGERPRINTS = 10


def _model() -> Any:
    from ..models import FailedJob

    return FailedJob


class DatabaseFailedJobStore:
    """``record / get / filter / forget / prune / count / stats`` on the ``FailedJob`` model.

    Filter criteria (all optional): ``queue``, ``connection``, ``job_class``,
    ``exception_class``, ``fingerprint`` (or a prefix of it), ``since`` (failed at or
    after), ``before`` (failed before) and ``ids`` (primary keys).
    """

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def queryset(self) -> QuerySet[Any]:
        return _model().objects.using(self.alias)

    def record(self, record: FailureRecord, attempts: int = 2) -> int:
        """Insert ``record``; if its job uuid is already there, return the existing row's id."""
        return run_with_retry(self.alias, lambda: self._insert(record), attempts=attempts)

    def _insert(self, record: FailureRecord) -> int:
        try:
            with self._statement():
                return self.queryset().create(**_fields(record)).pk
        except IntegrityError:
            existing = self.queryset().filter(uuid=record.uuid).values_list("pk", flat=True)
            if existing:
                return existing[0]
            raise

    def _statement(self) -> contextlib.AbstractContextManager[Any]:
        # One statement commits on its own; a savepoint is needed only inside a caller's
        # transaction, which a duplicate uuid would otherwise break. Outside one, skipping
        # atomic() saves three round trips (autocommit off, COMMIT, autocommit on).
        if transaction.get_connection(self.alias).in_atomic_block:
            return transaction.atomic(using=self.alias)
        return contextlib.nullcontext()

    def record_batch(self, records: list[FailureRecord], attempts: int = 2) -> dict[str, int]:
        """Insert ``records`` in one statement; returns each one's row id by job uuid. A
        uuid already stored (the same failure recorded again after a crash) makes the
        batch go one by one, each keeping the existing row."""

        def insert() -> dict[str, int]:
            rows = [_model()(**_fields(record)) for record in records]
            try:
                with self._statement():
                    created = self.queryset().bulk_create(rows)
            except IntegrityError:
                return {record.uuid: self._insert(record) for record in records}
            ids = {row.uuid: row.pk for row in created if row.pk is not None}
            missing = [record.uuid for record in records if record.uuid not in ids]
            if missing:  # databases that return no ids from a multi-row INSERT
                ids.update(self.queryset().filter(uuid__in=missing).values_list("uuid", "pk"))
            return ids

        return run_with_retry(self.alias, insert, attempts=attempts)

    def record_many(self, records: Iterable[FailureRecord], attempts: int = 6) -> int:
        """Insert records, skipping uuids already stored (the fallback mover)."""
        rows = [_model()(**_fields(record)) for record in records]
        if not rows:
            return 0

        def insert() -> int:
            self.queryset().bulk_create(rows, ignore_conflicts=True)
            return len(rows)

        return run_with_retry(self.alias, insert, attempts=attempts)

    def get(self, pk: int) -> Any:
        return self.queryset().get(pk=pk)

    def filter(self, **criteria: Any) -> QuerySet[Any]:
        criteria = with_full_fingerprint(criteria, self.fingerprints_starting)
        return self.queryset().filter(as_q(**criteria))

    def fingerprints_starting(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` distinct stored fingerprints starting with ``prefix``, sorted.

        The range on ``fingerprint`` is what lets every database use the ``(fingerprint,
        failed_at)`` index (PostgreSQL does not for ``LIKE`` under most collations); hex
        digits sort below ``g`` in every collation, and ``startswith`` keeps it exact.
        """
        rows = self.queryset().filter(fingerprint__gte=prefix, fingerprint__lt=prefix + "g",
                                      fingerprint__startswith=prefix)
        return list(rows.order_by("fingerprint").values_list("fingerprint", flat=True)
                    .distinct()[:limit])

    def forget(self, pk: int) -> bool:
        return bool(self.queryset().filter(pk=pk).delete()[0])

    def count(self, **criteria: Any) -> int:
        return self.filter(**criteria).count()

    def prune(
        self,
        *,
        before: dt.datetime | None = None,
        keep: int | None = None,
        batch_size: int = 1000,
        progress: Callable[[int], None] | None = None,
        dry_run: bool = False,
        **criteria: Any,
    ) -> dict[str, int]:
        """Delete matching rows (failed before ``before``, beyond the newest ``keep``) in
        batches of ``batch_size`` ids; return how many went, by queue.

        Each batch is one short ``SELECT`` of ids in ``(failed_at, id)`` order, which an
        index serves for every filter (``failed_at`` alone, or ``queue`` / ``job_class`` /
        ``exception_class`` / ``connection`` / ``fingerprint`` with ``failed_at``), then one
        ``DELETE ... WHERE id IN (...)``: no statement scans or locks more than a batch.
        With ``dry_run`` nothing is deleted and the counts are of what would be.
        """
        queryset = self._prunable(before, keep, criteria)
        if queryset is None:
            return {}
        if dry_run:
            grouped = queryset.order_by().values("queue").annotate(n=Count("pk"))
            return {row["queue"]: row["n"] for row in grouped}
        deleted: Counter[str] = Counter()
        while True:
            batch = list(queryset.order_by("failed_at", "pk").values_list("pk", "queue")
                         [:batch_size])
            if not batch:
                return dict(deleted)
            ids = [pk for pk, _ in batch]
            run_with_retry(self.alias, lambda ids=ids: self.queryset().filter(pk__in=ids).delete())
            # Counted from the selected rows: a row another process deleted meanwhile (a
            # retry) is gone all the same.
            deleted.update(queue for _, queue in batch)
            if progress:
                progress(deleted.total())

    def _prunable(
        self, before: dt.datetime | None, keep: int | None, criteria: dict[str, Any]
    ) -> QuerySet[Any] | None:
        queryset = self.filter(before=before, **criteria)
        if keep is not None:
            return self._older_than_newest(queryset, keep)
        return queryset

    @staticmethod
    def _older_than_newest(queryset: QuerySet[Any], keep: int) -> QuerySet[Any] | None:
        boundary = queryset.order_by("-failed_at", "-pk").values("failed_at", "pk")[
            keep : keep + 1
        ]
        row = next(iter(boundary), None)
        if row is None:
            return None
        # At or before the boundary row, in (failed_at, id) order: a range on failed_at
        # (which the index serves) minus the boundary's later ties.
        older = Q(failed_at__lte=row["failed_at"]) & ~Q(
            failed_at=row["failed_at"], pk__gt=row["pk"]
        )
        return queryset.filter(older)

    def stats(
        self, since: dt.datetime | None = None, hours_since: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Counts by queue, exception class, job class and fingerprint (each with first and
        last failure and the number of distinct days), and by hour (from ``hours_since``
        when given, else from ``since``)."""
        queryset = self.filter(since=since)
        window = [moment for moment in (since, hours_since) if moment is not None]
        by_hour = self.filter(since=max(window, default=None))
        hours = (
            by_hour.annotate(hour=TruncHour("failed_at"))
            .values("hour")
            .annotate(count=Count("pk"))
            .order_by("hour")
        )
        fingerprints = fingerprint_groups(queryset, _TOP_FINGERPRINTS)
        return {
            "total": queryset.count(),
            "by_queue": list(grouped("queue", queryset)),
            "by_exception_class": list(grouped("exception_class", queryset)),
            "by_job_class": list(grouped("job_class", queryset)),
            "by_fingerprint": fingerprints,
            "by_hour": list(hours),
        }


def grouped(field: str, rows: QuerySet[Any]) -> QuerySet[Any]:
    """``rows`` counted by ``field``, with first and last failure and distinct days, most
    frequent first (each ``field`` has a ``(field, failed_at)`` index)."""
    return (
        rows.values(field)
        .annotate(count=Count("pk"), first=Min("failed_at"), last=Max("failed_at"),
                  days=Count(TruncDate("failed_at"), distinct=True))
        .order_by("-count", field)
    )


def fingerprint_groups(rows: QuerySet[Any], limit: int) -> list[dict[str, Any]]:
    """The ``limit`` largest fingerprint groups of ``rows``, each with an exception class and
    a sample message (those of its newest row)."""
    # The grouping reads only the (fingerprint, failed_at) index (InnoDB keeps the id in
    # it): asking it for MIN(message) too would read every row, payload pages and all,
    # seconds on a million rows. The sample rows are then read by id, one query.
    groups = list(grouped("fingerprint", rows.exclude(fingerprint="")).annotate(
        sample=Max("pk"))[:limit])
    samples = {row["pk"]: row for row in rows.model._default_manager.using(rows.db).filter(
        pk__in=[group["sample"] for group in groups]).values("pk", "exception_class", "message")}
    for group in groups:
        sample = samples.get(group.pop("sample"), {})
        group["exception_class"] = sample.get("exception_class", "")
        group["message"] = sample.get("message", "")
    return groups


def _fields(record: FailureRecord) -> dict[str, Any]:
    return {
        "uuid": record.uuid,
        "connection": record.connection[:255],
        "queue": record.queue[:255],
        "payload": record.payload,
        "exception": record.exception,
        "exception_class": record.exception_class[:255],
        "message": record.message,
        "job_class": record.job_class[:255],
        "attempts": record.attempts,
        "errors": record.errors,
        "failed_at": record.failed_at,
        "worker": record.worker[:255],
        "exit_code": record.exit_code,
        "term_signal": record.term_signal,
        "max_rss_kb": record.max_rss_kb,
        "fingerprint": record.fingerprint,
    }
