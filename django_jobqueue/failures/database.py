"""The failed-job store in the ``queue_failed_jobs`` table (the ``FailedJob`` model).

Options: ``DATABASE``, the database alias (default: ``JOBQUEUE["FAILED_DATABASE"]``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from django.core import checks
from django.db import IntegrityError, connections, transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import TruncDate, TruncHour

from .. import payload as payload_codec
from ..conf import jobqueue_settings
from ..dbutil import run_with_retry
from ..exceptions import FailedJobNotFound, PayloadError
from .base import FailedJobStore, PruneReport, PruneRequest, Pusher, Ref, Sink, Stored
from .criteria import as_q, is_job_id, with_full_fingerprint
from .first_seen import claim_in_database
from .record import FailureRecord

_TOP_FINGERPRINTS = 10
# Columns with a ``(column, failed_at)`` index: a DISTINCT on them reads the index only.
INDEXED = ("queue", "connection", "job_class", "exception_class", "fingerprint")


def _model() -> Any:
    from ..models import FailedJob

    return FailedJob


class DatabaseStore(FailedJobStore):
    """Failed jobs as rows of ``queue_failed_jobs``: the seed's table, with the columns and
    indexes that filtering, grouping and pruning a million rows need."""

    label = "database"
    supports_row_ids = True
    supports_full_prune = True
    supports_queryset = True
    options_accepted = ("DATABASE",)

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.alias: str = options.get("DATABASE") or jobqueue_settings.FAILED_DATABASE

    def check(self) -> list[Any]:
        if self.alias in connections:
            return []
        where = ("the failed-job store's OPTIONS['DATABASE']" if self.options.get("DATABASE")
                 else "JOBQUEUE['FAILED_DATABASE']")
        return [checks.Error(
            f"{where} {self.alias!r} is not in DATABASES.",
            hint=f"Use one of: {', '.join(connections) or 'none'}.",
            id="django_jobqueue.E010")]

    def queryset(self) -> QuerySet[Any]:
        return _model().objects.using(self.alias)

    def filter(self, **criteria: Any) -> QuerySet[Any]:
        """Rows matching ``criteria`` (and ``ids``, row ids), as a queryset."""
        criteria = with_full_fingerprint(criteria, self.fingerprints_starting)
        return self.queryset().filter(as_q(**criteria))

    # -- writing ----------------------------------------------------------------------------
    def record_many(self, records: Sequence[FailureRecord]) -> list[Stored]:
        """One ``INSERT`` for all of ``records``; a job id already stored makes the batch go
        one by one, each keeping the existing row."""

        def insert() -> dict[str, int]:
            if len(records) == 1:
                return {records[0].uuid: self._insert(records[0])}
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

        if not records:
            return []
        ids = run_with_retry(self.alias, insert, attempts=2)
        return [Stored(record, ids[record.uuid], self) for record in records]

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

    def retry(self, ref: Ref, push: Pusher) -> str:
        row = self._row(ref)
        with self._with_push(row):
            new_id = push(as_record(row, self.label))
            row.delete()
        return new_id

    def _with_push(self, row: Any) -> contextlib.AbstractContextManager[Any]:
        # A transport on this database joins the transaction: push and delete commit
        # together. Any other is pushed to at once (never on commit, which a crash could
        # lose), then the row goes.
        from ..transports import get_transport

        if get_transport(_connection_of(row)).uses_database(self.alias):
            return transaction.atomic(using=self.alias)
        return contextlib.nullcontext()

    def forget(self, ref: Ref) -> bool:
        try:
            row = self._row(ref)
        except FailedJobNotFound:
            return False
        return bool(self.queryset().filter(pk=row.pk).delete()[0])

    def forget_many(self, ids: Iterable[int], batch_size: int = 500) -> dict[str, int]:
        """Delete rows ``ids`` (any iterable, read ``batch_size`` at a time, so a generator
        of 100,000 ids is never held whole); return how many went, by queue."""
        deleted: Counter[str] = Counter()
        iterator = iter(ids)
        while chunk := list(islice(iterator, batch_size)):
            request = PruneRequest(criteria={"ids": chunk}, batch_size=batch_size)
            counts = self.prune(request).by_store.get(self.label, {})
            deleted.update(counts)
        return dict(deleted)

    def prune(self, request: PruneRequest) -> PruneReport:
        """In batches of ``batch_size`` ids: each one short ``SELECT`` of ids in
        ``(failed_at, id)`` order, which an index serves for every filter (``failed_at``
        alone, or ``queue`` / ``job_class`` / ``exception_class`` / ``connection`` /
        ``fingerprint`` with ``failed_at``), then one ``DELETE ... WHERE id IN (...)``: no
        statement scans or locks more than a batch."""
        report = PruneReport(dry_run=request.dry_run)
        queryset = self._prunable(request)
        if queryset is None:
            return report
        if request.dry_run:
            grouped_rows = queryset.order_by().values("queue").annotate(n=Count("pk"))
            report.by_store[self.label] = {row["queue"]: row["n"] for row in grouped_rows}
            return report
        deleted: Counter[str] = Counter()
        while batch := list(queryset.order_by("failed_at", "pk").values_list("pk", "queue")
                            [:request.batch_size]):
            ids = [pk for pk, _ in batch]
            run_with_retry(self.alias, lambda ids=ids: self.queryset().filter(pk__in=ids).delete())
            # Counted from the selected rows: a row another process deleted meanwhile (a
            # retry) is gone all the same.
            deleted.update(queue for _, queue in batch)
            if request.progress:
                request.progress(deleted.total())
        report.by_store[self.label] = dict(deleted)
        return report

    def _prunable(self, request: PruneRequest) -> QuerySet[Any] | None:
        queryset = self.filter(before=request.before, **request.criteria)
        if request.keep is not None:
            return self._older_than_newest(queryset, request.keep)
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

    def take_oldest(self, sink: Sink, batch: int = 500) -> int:
        # SKIP LOCKED keeps concurrent movers on different rows where the database has it;
        # on SQLite the write lock serialises them.
        with transaction.atomic(using=self.alias):
            locked = self.queryset().order_by("failed_at", "pk")
            if connections[self.alias].features.has_select_for_update_skip_locked:
                locked = locked.select_for_update(skip_locked=True)
            rows = list(locked[:batch])
            if rows:
                sink([as_record(row, self.label) for row in rows])
                self.queryset().filter(pk__in=[row.pk for row in rows]).delete()
        return len(rows)

    def claim_fingerprint(self, record: FailureRecord) -> bool:
        return claim_in_database(self.alias, record)

    # -- reading ----------------------------------------------------------------------------
    def get(self, ref: Ref) -> FailureRecord:
        return as_record(self._row(ref), self.label)

    def _row(self, ref: Ref) -> Any:
        text = str(ref).strip()
        if text.isdigit():
            row = self.queryset().filter(pk=int(text)).first()
        elif is_job_id(text):
            row = self.queryset().filter(uuid=text).first()
        else:
            raise FailedJobNotFound(f"{text!r} is neither a failed-job id nor a job id")
        if row is None:
            raise FailedJobNotFound(f"no failed job with {'id' if text.isdigit() else 'job id'}"
                                    f" {text}")
        return row

    def select(self, limit: int | None = None, **criteria: Any) -> list[FailureRecord]:
        rows = self.filter(**criteria).order_by("-failed_at", "-pk")
        return [as_record(row, self.label) for row in (rows[:limit] if limit else rows)]

    def count(self, **criteria: Any) -> int:
        return self.filter(**criteria).count()

    def refs(self, batch_size: int = 500, **criteria: Any) -> Iterator[Ref]:
        return row_ids(self.filter(**criteria), batch_size)

    def stats(
        self, since: dt.datetime | None = None, hours_since: dt.datetime | None = None
    ) -> dict[str, Any]:
        queryset = self.filter(since=since)
        window = [moment for moment in (since, hours_since) if moment is not None]
        hours = (
            self.filter(since=max(window, default=None))
            .annotate(hour=TruncHour("failed_at"))
            .values("hour")
            .annotate(count=Count("pk"))
            .order_by("hour")
        )
        return {
            "total": queryset.count(),
            "by_queue": list(grouped("queue", queryset)),
            "by_exception_class": list(grouped("exception_class", queryset)),
            "by_job_class": list(grouped("job_class", queryset)),
            "by_fingerprint": fingerprint_groups(queryset, _TOP_FINGERPRINTS),
            "by_hour": list(hours),
        }

    def queues(self) -> list[str]:
        # The (queue, failed_at) index alone serves it.
        return list(self.queryset().order_by("queue").values_list("queue", flat=True)
                    .distinct())

    def fingerprints_starting(self, prefix: str, limit: int) -> list[str]:
        """The range on ``fingerprint`` is what lets every database use the
        ``(fingerprint, failed_at)`` index (PostgreSQL does not for ``LIKE`` under most
        collations); hex digits sort below ``g`` in every collation, and ``startswith``
        keeps it exact."""
        rows = self.queryset().filter(fingerprint__gte=prefix, fingerprint__lt=prefix + "g",
                                      fingerprint__startswith=prefix)
        return list(rows.order_by("fingerprint").values_list("fingerprint", flat=True)
                    .distinct()[:limit])


def row_ids(queryset: QuerySet[Any], batch_size: int = 500, upto: int | None = None
            ) -> Iterator[int]:
    """Ids of ``queryset``'s rows, oldest first, ``batch_size`` at a time (keyset on the
    primary key, so rows deleted or kept meanwhile do not shift the walk), up to ``upto``
    (default: the highest id when the walk starts)."""
    if upto is None:
        upto = queryset.order_by().aggregate(top=Max("pk"))["top"] or 0
    queryset = queryset.filter(pk__lte=upto).order_by("pk")
    last = 0
    while batch := list(queryset.filter(pk__gt=last).values_list("pk", flat=True)
                        [:batch_size]):
        yield from batch
        last = batch[-1]


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


def as_record(row: Any, label: str) -> FailureRecord:
    """A ``FailedJob`` row as the store-neutral record."""
    return FailureRecord(
        **{name: getattr(row, name) for name in _COLUMNS}, ref=row.pk, store=label)


def _connection_of(row: Any) -> str:
    try:
        return payload_codec.loads(row.payload).get("connection") or row.connection
    except PayloadError:
        return row.connection


_COLUMNS = ("uuid", "connection", "queue", "payload", "exception", "exception_class", "message",
            "job_class", "attempts", "errors", "failed_at", "worker", "exit_code",
            "term_signal", "max_rss_kb", "fingerprint")


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
