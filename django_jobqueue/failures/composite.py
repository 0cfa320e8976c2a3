"""The store that keeps failures when the table cannot: a primary store (by default the
``queue_failed_jobs`` table) and a secondary it falls back to (by default the Redis lists,
when the project has a Redis).

It owns the three rules of the fallback, which no caller needs to know:

- **Record, else fall back.** A failure goes to the primary; when the primary does not
  answer, to the secondary. Never dropped: with no secondary, the write fails and the
  worker keeps the job in flight until a store takes it.
- **The outage window.** Each write to a database that is down costs a connection attempt
  and a retry; a worker recording a burst of failures during an outage would pay that for
  every one of them, holding up its supervisor. For ``RETRY_INTERVAL`` seconds after the
  primary failed, failures go straight to the secondary; then the primary is tried again.
- **The move back.** :meth:`move_back` (each worker's maintenance turn) moves waiting
  records into the primary, where they are announced as new fingerprints if they are.

Reads see both: a record is listed, counted, retried and forgotten wherever it is, and
says which store it is in (``record.store``).

Options: ``PRIMARY`` and ``SECONDARY`` (each ``{"STORE": dotted path, "OPTIONS": {...}}``;
``SECONDARY: None`` for none) and ``RETRY_INTERVAL`` (seconds, default
``JOBQUEUE["FAILED_DATABASE_RETRY_INTERVAL"]``).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from django.core import checks

from .. import metrics
from ..conf import DATABASE_STORE, REDIS_STORE, jobqueue_settings
from ..exceptions import FailedJobNotFound, TransportError
from ..logutil import log_event
from ..shapes import is_number
from .base import UNAVAILABLE, FailedJobStore, PruneReport, PruneRequest, Pusher, Ref, Sink, Stored
from .criteria import with_full_fingerprint
from .fingerprint import fill_fingerprint
from .record import FailureRecord
from .redis import redis_options

logger = logging.getLogger(__name__)



class FallbackStore(FailedJobStore):
    """A primary store, and a secondary one that takes failures while the primary is down."""

    label = "fallback"
    options_accepted = ("PRIMARY", "SECONDARY", "RETRY_INTERVAL")

    def __init__(self, options: dict[str, Any]) -> None:
        from .stores import build

        super().__init__(options)
        self.primary = build(options.get("PRIMARY") or {"STORE": DATABASE_STORE},
                             "FAILED_STORE['OPTIONS']['PRIMARY']")
        secondary = options["SECONDARY"] if "SECONDARY" in options else _default_secondary()
        self.secondary = build(secondary, "FAILED_STORE['OPTIONS']['SECONDARY']"
                               ) if secondary else None
        self.retry_interval: float | None = options.get("RETRY_INTERVAL")
        self.supports_row_ids = self.primary.supports_row_ids
        self.supports_full_prune = self.primary.supports_full_prune
        self.supports_queryset = self.primary.supports_queryset
        self._down_until = 0.0

    def check(self) -> list[Any]:
        messages = [message for part in self.parts() for message in part.check()]
        labels = [part.label for part in self.parts()]
        if len(set(labels)) < len(labels):
            messages.append(checks.Error(
                f"the fallback store's parts share a label ({', '.join(labels)}): commands"
                " and --store could not tell them apart.",
                hint="Give one of them a store class with another label.",
                id="django_jobqueue.E009"))
        interval = self.retry_interval
        if interval is not None and not (is_number(interval) and interval >= 0):
            messages.append(checks.Error(
                f"the fallback store's RETRY_INTERVAL must be a number >= 0, not"
                f" {interval!r}.", id="django_jobqueue.E009"))
        return messages

    def parts(self) -> Sequence[FailedJobStore]:
        return [*self.primary.parts(), *(self.secondary.parts() if self.secondary else [])]

    # -- writing ----------------------------------------------------------------------------
    def record_many(self, records: Sequence[FailureRecord]) -> list[Stored]:
        if not records:
            return []
        if time.monotonic() < self._down_until:
            return self._fall_back(records)
        try:
            stored = self.primary.record_many(records)
        except TransportError as exc:
            if len(records) > 1:
                # Maybe an outage, maybe one record the primary refuses: one by one tells
                # them apart (and the first to meet the outage starts its window).
                log_event(logger, logging.WARNING, "failure_batch_refused",
                          count=len(records), error=exc)
                return [item for record in records for item in self.record_many([record])]
            self._outage_began(records[0], exc)
            return self._fall_back(records)
        self._down_until = 0.0
        return stored

    def _outage_began(self, record: FailureRecord, error: TransportError) -> None:
        interval = self.retry_interval
        if interval is None:
            interval = float(jobqueue_settings.FAILED_DATABASE_RETRY_INTERVAL or 0)
        self._down_until = time.monotonic() + interval
        log_event(logger, logging.WARNING, "fallback_used", job=record.job_class,
                  id=record.uuid, error=error)

    def _fall_back(self, records: Sequence[FailureRecord]) -> list[Stored]:
        if self.secondary is None:
            raise TransportError(f"the {self.primary.label} failed-job store is unavailable"
                                 " and no fallback store is set")
        stored = self.secondary.record_many(records)
        # Counted here, not where the primary refused: while an outage is waited out,
        # failures come straight here.
        metrics.record_fallbacks(len(stored))
        return [Stored(item.record, item.ref, item.store, decides_fingerprints=False)
                for item in stored]

    def move_back(self, batch: int = 500) -> list[Stored]:
        """Move records waiting in the secondary into the primary; returns them as stored
        there (fingerprinted, if they were stored without one)."""
        if self.secondary is None:
            return []
        mover = _MoveBack(self.primary)
        try:
            self.secondary.take_oldest(mover.sink, batch)
        except UNAVAILABLE as exc:
            # Expected while the primary is down: the records wait for the next turn.
            log_event(logger, logging.DEBUG, "fallback_not_moved", error=exc)
        return mover.moved

    def retry(self, ref: Ref, push: Pusher) -> str:
        return self._first_that_has(ref, lambda part: part.retry(ref, push))

    def forget(self, ref: Ref) -> bool:
        # Every part, not the first that had it: a mover that died between the primary's
        # insert and the secondary's delete leaves a record in both. A part that does not
        # answer is an error only if no other part had the record.
        found, unavailable = False, None
        for part in self._parts_for(ref):
            try:
                found = part.forget(ref) or found
            except UNAVAILABLE as exc:
                unavailable = exc
        if unavailable is not None and not found:
            raise unavailable
        return found

    def prune(self, request: PruneRequest) -> PruneReport:
        """The primary as asked; the secondary too when it can prune that way (else its
        records are left to the move back)."""
        request = replace(request, criteria=self._resolved(dict(request.criteria)))
        report = self.primary.prune(request)
        secondary = self.secondary
        if secondary is None or not (secondary.supports_full_prune or (
                request.keep is None and request.narrowed_by <= {"queue"})):
            return report
        try:
            return report.merge(secondary.prune(request))
        except UNAVAILABLE as exc:
            log_event(logger, logging.WARNING, "fallback_prune_failed", error=exc)
            report.errors[secondary.label] = str(exc)
            return report

    def take_oldest(self, sink: Sink, batch: int = 500) -> int:
        return self.primary.take_oldest(sink, batch)

    def claim_fingerprint(self, record: FailureRecord) -> bool:
        return self.primary.claim_fingerprint(record)

    # -- reading ----------------------------------------------------------------------------
    def get(self, ref: Ref) -> FailureRecord:
        return self._first_that_has(ref, lambda part: part.get(ref))

    def _first_that_has(self, ref: Ref, action: Callable[[FailedJobStore], Any]) -> Any:
        """``action`` on the first part that has ``ref``. A part that does not answer is
        passed over (a record in the fallback stays reachable while the table is down);
        if no later part has it, that part's error is raised, not "not found"."""
        parts = self._parts_for(ref)
        unavailable: Exception | None = None
        for part in parts[:-1]:
            try:
                return action(part)
            except FailedJobNotFound:
                continue
            except UNAVAILABLE as exc:
                unavailable = exc
        try:
            return action(parts[-1])
        except FailedJobNotFound:
            if unavailable is not None:
                raise unavailable from None
            raise

    def _parts_for(self, ref: Ref) -> list[FailedJobStore]:
        # A row id names a row of one table: the first part with row ids. A job id is
        # looked up in both.
        parts = [self.primary, *([self.secondary] if self.secondary else [])]
        if str(ref).strip().isdigit():
            return [part for part in parts if part.supports_row_ids][:1] or [self.primary]
        return parts

    def _resolved(self, criteria: dict[str, Any]) -> dict[str, Any]:
        # A fingerprint prefix names a fingerprint of either part: resolved once, here, or
        # the part that lacks it would call it unknown.
        return with_full_fingerprint(criteria, self.fingerprints_starting)

    def select(self, limit: int | None = None, **criteria: Any) -> list[FailureRecord]:
        criteria = self._resolved(criteria)
        found = [self.primary.select(limit, **criteria),
                 self._secondary_or(lambda s: s.select(limit, **criteria), [])]
        newest = heapq.merge(*found, key=lambda record: record.failed_at, reverse=True)
        return list(itertools.islice(newest, limit))

    def count(self, **criteria: Any) -> int:
        criteria = self._resolved(criteria)
        return self.primary.count(**criteria) + self._secondary_or(
            lambda s: s.count(**criteria), 0)

    def refs(self, batch_size: int = 500, **criteria: Any) -> Iterator[Ref]:
        criteria = self._resolved(criteria)
        # The secondary's refs are taken now, before the primary's walk: a job retried
        # during the walk that fails again into the fallback is not visited.
        waiting = self._secondary_or(lambda s: list(s.refs(batch_size, **criteria)), [])
        yield from self.primary.refs(batch_size, **criteria)
        yield from waiting

    def stats(
        self, since: dt.datetime | None = None, hours_since: dt.datetime | None = None
    ) -> dict[str, Any]:
        """The primary's: records waiting in the secondary are counted by :meth:`waiting`."""
        return self.primary.stats(since, hours_since)

    def waiting(self) -> int | None:
        if self.secondary is None:
            return 0
        try:
            return self.secondary.count()
        except UNAVAILABLE:
            return None

    def queues(self) -> list[str]:
        return sorted({*self.primary.queues(), *self._secondary_or(lambda s: s.queues(), [])})

    def fingerprints_starting(self, prefix: str, limit: int) -> list[str]:
        found = {*self.primary.fingerprints_starting(prefix, limit),
                 *self._secondary_or(lambda s: s.fingerprints_starting(prefix, limit), [])}
        return sorted(found)[:limit]

    def _secondary_or(self, read: Callable[[FailedJobStore], Any], default: Any) -> Any:
        """``read`` of the secondary; ``default`` without one, or when it does not answer
        (an unreachable fallback hides what waits in it, not what the primary has)."""
        if self.secondary is None:
            return default
        try:
            return read(self.secondary)
        except UNAVAILABLE as exc:
            log_event(logger, logging.WARNING, "fallback_unreadable_now", error=exc)
            return default

    def queryset(self) -> Any:
        return self.primary.queryset()

    def close(self) -> None:
        for part in self.parts():
            part.close()


class _MoveBack:
    """The sink of one move back: records the secondary hands over go into the primary
    (fingerprinted, if they were stored without one), and are kept to be announced."""

    def __init__(self, primary: FailedJobStore) -> None:
        self.primary = primary
        self.moved: list[Stored] = []

    def sink(self, records: list[FailureRecord]) -> None:
        self.moved.extend(self.primary.record_many([fill_fingerprint(r) for r in records]))


def _default_secondary() -> dict[str, Any] | None:
    """The Redis store when the project has a Redis (``FAILED_REDIS`` or a Redis
    connection), else none."""
    return {"STORE": REDIS_STORE, "OPTIONS": {}} if redis_options({}) else None
