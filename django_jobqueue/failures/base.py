"""The failed-job store contract: what every store (the table, the Redis lists, the
database-down fallback that combines two of them, or one of your own) does.

A store is chosen by dotted path in ``JOBQUEUE["FAILED_STORE"]`` and built with its
``OPTIONS``, like a transport. It keeps :class:`~.record.FailureRecord` values and knows
each by a *ref*: its own id (the table's row id) or the job id (32 hex digits), which every
store accepts. The verbs are Laravel's (``record / get / retry / forget / prune / count``)
plus what the commands and the admin summarise by (``select``, ``refs``, ``stats``,
``queues``). What a store cannot do is declared by its capability flags, so callers never
ask which store is live.

Filter criteria, wherever ``**criteria`` appears: ``queue``, ``connection``, ``job_class``,
``exception_class``, ``fingerprint`` (full, or an unambiguous prefix), ``since`` (failed at
or after), ``before`` (failed before) and ``outcome``; see :mod:`.criteria`.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError

from ..exceptions import TransportError
from .record import FailureRecord

Ref = int | str
#: What a store that does not answer raises: its own error, or a database error a table read
#: lets through.
UNAVAILABLE = (TransportError, DatabaseError)
#: Takes a failed job's record, pushes its payload again and returns the new job id.
Pusher = Callable[[FailureRecord], str]
#: Takes records moved out of a store (see :meth:`FailedJobStore.take_oldest`).
Sink = Callable[[list[FailureRecord]], Any]


@dataclass(frozen=True)
class Stored:
    """Where one record went: the store that took it (the part of a composite store that
    did), its ref there, and whether that store decides which fingerprints are new (a
    fallback does not: its records are announced when they move back)."""

    record: FailureRecord
    ref: Ref
    store: FailedJobStore
    decides_fingerprints: bool = True


@dataclass(frozen=True)
class PruneRequest:
    """What to prune: records that failed before ``before`` (any age when ``None``),
    matching ``criteria``, beyond the newest ``keep``; deleted ``batch_size`` at a time with
    ``progress`` told the running total, or only counted when ``dry_run``."""

    before: dt.datetime | None = None
    keep: int | None = None
    criteria: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int = 1000
    dry_run: bool = False
    progress: Callable[[int], None] | None = None

    @property
    def narrowed_by(self) -> set[str]:
        """The criteria given a value."""
        return {name for name, value in self.criteria.items() if value is not None}


@dataclass
class PruneReport:
    """What a prune deleted (or, ``dry_run``, would delete): counts by queue for each store
    by its label; ``errors`` says, by label, why a store could not be pruned."""

    by_store: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def total(self) -> int:
        """Records removed (or that would be), every store together."""
        return sum(sum(counts.values()) for counts in self.by_store.values())

    def merge(self, other: PruneReport) -> PruneReport:
        """This report with ``other``'s counts and errors added (a composite's parts)."""
        for label, counts in other.by_store.items():
            mine = self.by_store.setdefault(label, {})
            for queue, n in counts.items():
                mine[queue] = mine.get(queue, 0) + n
        self.errors.update(other.errors)
        return self


class FailedJobStore(ABC):
    """Base class of failed-job stores, chosen by dotted path in ``FAILED_STORE``.

    Writes raise :class:`~django_jobqueue.exceptions.TransportError` when the store does
    not answer; lookups of a ref that is not there raise
    :class:`~django_jobqueue.exceptions.FailedJobNotFound`.
    """

    #: Shown wherever a record is listed, so operators know where it is kept.
    label: str = "store"
    #: Records have integer row ids besides their job ids.
    supports_row_ids: bool = False
    #: ``prune(keep=N)`` works, and so does every criterion; else only ``queue`` and age.
    supports_full_prune: bool = False
    #: Offers the Django admin a queryset (:meth:`queryset`): only the table does.
    supports_queryset: bool = False
    #: The ``OPTIONS`` keys it understands; another key is a configuration error (with a
    #: guess at the one meant). ``None``: the store checks its options itself.
    options_accepted: tuple[str, ...] | None = None

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def check(self) -> list[Any]:
        """System-check messages about this store's configuration."""
        return []

    def parts(self) -> Sequence[FailedJobStore]:
        """The stores this one is made of (itself, for a plain store)."""
        return [self]

    # -- writing ----------------------------------------------------------------------------
    @abstractmethod
    def record_many(self, records: Sequence[FailureRecord]) -> list[Stored]:
        """Store ``records``, in order, in as few writes as the store allows. A job id
        already stored (the same failure recorded again after a crash) keeps its record."""

    @abstractmethod
    def retry(self, ref: Ref, push: Pusher) -> str:
        """Push the record ``ref`` again through ``push``, then delete it; returns the new
        job id. Never the other way round: a crash in between runs the job twice rather
        than losing it (where the push and the delete can commit together, they do)."""

    @abstractmethod
    def forget(self, ref: Ref) -> bool:
        """Delete one record; False if it was not there."""

    @abstractmethod
    def prune(self, request: PruneRequest) -> PruneReport:
        """Delete what ``request`` selects (``keep`` and criteria other than ``queue`` only
        with :attr:`supports_full_prune`, else ``ValueError``)."""

    @abstractmethod
    def take_oldest(self, sink: Sink, batch: int = 500) -> int:
        """Hand the oldest records to ``sink`` (up to ``batch``: per queue where the store
        keeps queues apart, in all for a table), then delete them, only once ``sink``
        returned (a mover that dies halfway leaves them for the next) and only those (a
        record another caller removed meanwhile takes no other with it). Concurrent callers
        must not hand over the same records. Returns how many."""

    def move_back(self, batch: int = 500) -> list[Stored]:
        """Move records that wait in a fallback to where they belong; returns them as
        stored there. A plain store keeps no fallback: nothing to move."""
        return []

    @abstractmethod
    def claim_fingerprint(self, record: FailureRecord) -> bool:
        """True for the one caller, across every process, that sees ``record``'s
        fingerprint first in this store."""

    # -- reading ----------------------------------------------------------------------------
    @abstractmethod
    def get(self, ref: Ref) -> FailureRecord:
        """The record ``ref`` (row id or job id)."""

    @abstractmethod
    def select(self, limit: int | None = None, **criteria: Any) -> list[FailureRecord]:
        """Records matching ``criteria``, newest first, at most ``limit``."""

    @abstractmethod
    def count(self, **criteria: Any) -> int:
        """How many records match."""

    @abstractmethod
    def refs(self, batch_size: int = 500, **criteria: Any) -> Iterator[Ref]:
        """Refs of matching records, oldest first, read ``batch_size`` at a time; records
        stored after the walk began are not visited (a retried job failing again is not
        retried twice by one bulk retry)."""

    @abstractmethod
    def stats(
        self, since: dt.datetime | None = None, hours_since: dt.datetime | None = None
    ) -> dict[str, Any]:
        """``total`` and counts ``by_queue``, ``by_exception_class``, ``by_job_class``
        (each group with first and last failure and distinct days), the largest groups
        ``by_fingerprint`` (with a sample exception class and message) and ``by_hour``
        (from ``hours_since`` when given, else ``since``)."""

    @abstractmethod
    def queues(self) -> list[str]:
        """Queue names of stored records, sorted."""

    @abstractmethod
    def fingerprints_starting(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` distinct stored fingerprints starting with ``prefix``, sorted."""

    def waiting(self) -> int | None:
        """Records waiting to move to where they belong (a fallback's); ``None`` when that
        cannot be known now."""
        return 0

    def queryset(self) -> Any:
        """The records as a Django queryset (:attr:`supports_queryset` stores only)."""
        raise NotImplementedError(f"the {self.label} failed-job store has no queryset")

    def close(self) -> None:  # noqa: B027 -- optional hook, most stores hold nothing
        """Release connections held by this store."""
