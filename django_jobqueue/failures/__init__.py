"""Failed jobs: the verbs workers, the admin, the management commands and the Tasks backend
call. Nothing else in the app writes failed-job records.

Every verb works on the store of ``JOBQUEUE["FAILED_STORE"]`` (see :mod:`.stores`) through
the :class:`~.base.FailedJobStore` contract, so none of them asks which store is live: by
default the ``queue_failed_jobs`` table with the Redis fallback (:mod:`.composite`).

A failed job is named by a *ref*: its failed-job id (the table's row id) or its job id (32
hex digits), which every store accepts. Records read back are
:class:`~.record.FailureRecord` values whose ``store`` says where each one is kept.

Filter criteria, wherever ``**criteria`` appears: ``queue``, ``connection``, ``job_class``,
``exception_class``, ``fingerprint`` (the 40 hex digits, or an unambiguous prefix of at
least ``MIN_FINGERPRINT_PREFIX``: else :class:`FingerprintLookupError`), ``since`` (failed at
or after), ``before`` (failed before) and ``outcome`` (``"failed"``, or ``"cancelled"`` and
``"expired"``: records kept for jobs that did not fail).
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from .. import payload as payload_codec
from ..exceptions import ConfigurationError, FailedJobNotFound, PayloadError
from . import retrying
from .base import UNAVAILABLE, FailedJobStore, PruneReport, PruneRequest, Ref, Stored
from .criteria import (
    MIN_FINGERPRINT_PREFIX,
    FingerprintLookupError,
    is_job_id,
    resolve_fingerprint,
)
from .fingerprint import fill_fingerprint
from .first_seen import announce
from .record import FailureRecord
from .retrying import RetryReport, paced
from .stores import configured_store, reset

if TYPE_CHECKING:
    from .database import DatabaseStore

__all__ = [
    "MIN_FINGERPRINT_PREFIX",
    "FailedJobStore",
    "FailureRecord",
    "FingerprintLookupError",
    "LineageStep",
    "PruneReport",
    "PruneRequest",
    "Recorded",
    "RetryReport",
    "count",
    "forget",
    "forget_many",
    "full_fingerprint",
    "get",
    "is_job_id",
    "lineage",
    "move_fallback",
    "paced",
    "part",
    "prune",
    "prune_report",
    "queues",
    "record",
    "record_all",
    "reset",
    "retry",
    "retry_many",
    "retry_matching",
    "select",
    "stats",
    "store",
    "table",
]

logger = logging.getLogger(__name__)

_LINEAGE_LIMIT = 20


@dataclass(frozen=True)
class Recorded:
    """Where a failure was stored: the store's label (``"database"``: ``id`` is the row
    id; ``"redis"``: the job id), its fingerprint, and whether that fingerprint was new."""

    store: str
    id: Any
    fingerprint: str = ""
    new_fingerprint: bool = False


@dataclass(frozen=True)
class LineageStep:
    """An earlier job this one is a retry of, and its failed-job record's ref if it is
    still stored (``failed_id``: the row id where the store has them)."""

    uuid: str
    failed_id: Ref | None
    store: str = ""


def store() -> FailedJobStore:
    """The configured failed-job store (one per process)."""
    return configured_store()


def table() -> DatabaseStore:
    """The part of the store the Django admin browses: the one with a queryset (the table).
    :class:`ConfigurationError` when the store has none (a Redis-only setup)."""
    from .database import DatabaseStore

    for part in store().parts():
        if isinstance(part, DatabaseStore):
            return part
    raise ConfigurationError("the failed-job store has no table for the admin to show"
                             " (FAILED_STORE keeps failures in Redis only)")


def part(label: str) -> FailedJobStore:
    """The part of the store labelled ``label`` (``"database"``, ``"redis"``); else
    :class:`ConfigurationError` naming the labels there are."""
    parts = {item.label: item for item in store().parts()}
    if label in parts:
        return parts[label]
    close = difflib.get_close_matches(label, parts, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigurationError(f"the failed-job store has no part {label!r} (it has"
                             f" {', '.join(sorted(parts))}).{hint}")


# -- recording ------------------------------------------------------------------------------
def record(failure: FailureRecord) -> Recorded:
    """Store a permanent failure (see :func:`record_all`)."""
    return record_all([failure])[0]


def record_all(failures: list[FailureRecord]) -> list[Recorded]:
    """Store permanent failures (a busy worker's batch: one write where the store can).

    Each failure's fingerprint is computed first; if the store that decides has never seen
    it, ``NEW_FINGERPRINT_HANDLER`` is called (see :mod:`.first_seen`). Raises
    :class:`~django_jobqueue.exceptions.TransportError` when no store takes them; the
    caller then keeps the jobs in flight and tries again later.
    """
    for failure in failures:
        fill_fingerprint(failure.make_storable())
    return [_announced(stored) for stored in store().record_many(failures)]


def _announced(stored: Stored) -> Recorded:
    record = stored.record
    new = stored.decides_fingerprints and announce(record, stored.store.claim_fingerprint)
    return Recorded(stored.store.label, stored.ref, record.fingerprint, new)


def move_fallback(batch: int = 500) -> int:
    """Move failures waiting in the fallback store to where they belong; return how many.
    Moved records are announced as new fingerprints there, if they are."""
    moved = store().move_back(batch)
    for stored in moved:
        _announced(stored)
    return len(moved)


# -- reading --------------------------------------------------------------------------------
def get(ref: Ref, within: FailedJobStore | None = None) -> FailureRecord:
    """The failed job ``ref`` (failed-job id or job id), wherever it is kept (or only
    ``within`` one :func:`part <part>`); :class:`FailedJobNotFound` if there is none."""
    return (within or store()).get(ref)


def select(limit: int | None = None, **criteria: Any) -> list[FailureRecord]:
    """Failed jobs matching ``criteria``, newest first, at most ``limit``."""
    return store().select(limit, **criteria)


def count(**criteria: Any) -> int:
    """How many failed jobs match, in every part of the store (a fallback that does not
    answer counts none)."""
    return store().count(**criteria)


def queues() -> list[str]:
    """Queue names of stored failed jobs."""
    return store().queues()


def stats(
    since: dt.datetime | None = None, hours_since: dt.datetime | None = None
) -> dict[str, Any]:
    """Failure counts by queue, exception class, job class, fingerprint and hour (see
    :meth:`FailedJobStore.stats`), plus ``fallback``: failures waiting to move back from
    the fallback store (``None`` if it does not answer)."""
    result = store().stats(since, hours_since)
    result["fallback"] = store().waiting()
    return result


def full_fingerprint(text: str) -> str:
    """The stored fingerprint that ``text`` (the 40 hex digits or an unambiguous prefix of at
    least ``MIN_FINGERPRINT_PREFIX``) names; else :class:`FingerprintLookupError`."""
    return resolve_fingerprint(text, store().fingerprints_starting)


def lineage(failure: FailureRecord | str) -> list[LineageStep]:
    """The jobs ``failure`` (a record, or its raw payload) retries, newest first, following
    ``retry_of`` through the records still stored (a successful retry deletes its record,
    so the chain usually stops after one)."""
    raw = failure.payload if isinstance(failure, FailureRecord) else failure
    steps: list[LineageStep] = []
    previous = _retry_of(raw)
    while previous and len(steps) < _LINEAGE_LIMIT and previous not in {
            step.uuid for step in steps}:
        try:
            found: FailureRecord | None = get(previous)
        except FailedJobNotFound:
            found = None
        except UNAVAILABLE:
            # A part that does not answer ends the chain here; the page still shows.
            steps.append(LineageStep(previous, None, "unavailable"))
            break
        steps.append(LineageStep(previous, found.ref if found else None,
                                 found.store if found else ""))
        previous = _retry_of(found.payload) if found else None
    return steps


def _retry_of(raw: str) -> str | None:
    try:
        value = payload_codec.loads(raw).get("retry_of")
    except PayloadError:
        return None
    return value if isinstance(value, str) and is_job_id(value) else None


# -- operating ------------------------------------------------------------------------------
def retry(ref: Ref) -> str:
    """Push failed job ``ref`` again, then delete its record; return the new job id."""
    return retrying.retry(store(), ref)


def retry_many(
    refs: Iterable[Ref], progress: Callable[[int], None] | None = None, *,
    dry_run: bool = False,
) -> RetryReport:
    """Retry each failed job (``dry_run``: only check it could be); records that cannot be
    retried stay, with their error in the report."""
    return retrying.retry_many(store(), refs, progress, dry_run=dry_run)


def retry_matching(within: FailedJobStore | None = None, **options: Any) -> RetryReport:
    """Retry the records ``ids`` and/or every record matching the criteria, oldest first,
    at most ``rate`` per second (see :func:`.retrying.retry_matching`), in the store or
    only ``within`` one of its :func:`parts <part>`."""
    return retrying.retry_matching(within or store(), **options)


def forget(ref: Ref, dry_run: bool = False, within: FailedJobStore | None = None) -> bool:
    """Delete one failed job, wherever it is kept (or only ``within`` one :func:`part
    <part>`); False if it was not there (``dry_run``: only say whether it is). A ``ref``
    that is neither a failed-job id nor a job id raises :class:`FailedJobNotFound`."""
    text = str(ref).strip()
    if not (text.isdigit() or is_job_id(text)):
        raise FailedJobNotFound(f"{text!r} is neither a failed-job id nor a job id")
    if not dry_run:
        held = _held_chain(text, within)
        gone = (within or store()).forget(text)
        if gone and held is not None:
            _discarded([held])
        return gone
    try:
        get(text, within)
    except FailedJobNotFound:
        return False
    return True


def forget_many(ids: Iterable[int], batch_size: int = 500) -> dict[str, int]:
    """Delete the table's rows ``ids`` (the admin's selection), ``batch_size`` at a time;
    return how many went, by queue. A chain step among them cancels the steps it held."""
    ids = list(ids)
    held = table().select(ids=ids, chain_held=True) if ids else []
    gone = table().forget_many(ids, batch_size)
    _discarded(held)
    return gone


def _held_chain(ref: str, within: FailedJobStore | None) -> FailureRecord | None:
    """The record ``ref`` if it holds the rest of a chain (deleting it cancels them)."""
    try:
        record = get(ref, within)
    except FailedJobNotFound:
        return None
    return record if '"chain":' in record.payload else None


def _discarded(records: list[FailureRecord]) -> None:
    """Deleted records of chain steps: the steps they held are kept as cancelled."""
    if records:
        from ..workflows.operate import discarded

        discarded(records)


def prune_report(
    *,
    older_than: dt.timedelta | None = None,
    keep: int | None = None,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
    everything: bool = False,
    dry_run: bool = False,
    **criteria: Any,
) -> PruneReport:
    """Delete failed jobs older than ``older_than``, matching ``criteria``, beyond the newest
    ``keep`` (each optional; with none of them nothing happens unless ``everything=True``).

    A table is pruned in batches of ``batch_size`` ids (``progress`` gets the running
    total). A store that can prune only by age and queue (the Redis lists) is left out of a
    prune it cannot do, unless it is the only store (then ``ValueError``).
    """
    narrowed = {k: v for k, v in criteria.items() if v is not None}
    if older_than is None and keep is None and not narrowed and not everything:
        raise ValueError("prune() needs older_than, keep or a filter (or everything=True)")
    if keep is not None and keep < 0:
        raise ValueError("keep must be 0 or more")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    before = timezone.now() - older_than if older_than is not None else None
    held = [] if dry_run else _held_among(before, narrowed)
    report = store().prune(PruneRequest(before=before, keep=keep, criteria=narrowed,
                                        batch_size=batch_size, dry_run=dry_run,
                                        progress=progress))
    _discarded([record for record in held if not _still_kept(record)])
    return report


def _held_among(before: dt.datetime | None, criteria: dict[str, Any]) -> list[FailureRecord]:
    """The records a prune may delete that hold chain steps (their rest is cancelled when
    they go, as by any delete)."""
    if criteria.get("outcome", "failed") != "failed":
        return []  # a cancelled or expired step's rest was cancelled with it
    wanted = {**criteria, "before": before, "chain_held": True, "outcome": "failed"}
    return store().select(None, **wanted)


def _still_kept(record: FailureRecord) -> bool:
    try:
        get(record.uuid)
    except FailedJobNotFound:
        return False
    return True


def prune(**options: Any) -> int:
    """:func:`prune_report`, returning the number of records removed."""
    return prune_report(**options).total
