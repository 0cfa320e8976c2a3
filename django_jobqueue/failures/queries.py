"""Read-only questions about failed jobs: one record, the latest ones, a record's retry
lineage, counts in a time window, the queues seen, and the same for the Redis store."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from .. import payload as payload_codec
from ..exceptions import FailedJobNotFound, PayloadError, TransportError
from .criteria import matches, resolve_fingerprint, with_full_fingerprint
from .fingerprint import fill_fingerprint
from .record import FailureRecord
from .stores import database_store, fallback, redis_is_primary, redis_store

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_LINEAGE_LIMIT = 20
_TOP_FINGERPRINTS = 10


@dataclass(frozen=True)
class LineageStep:
    """An earlier job this one is a retry of, and its failed-job row if it still exists."""

    uuid: str
    failed_id: int | None


def get(pk: int) -> Any:
    """The failed job ``pk``; :class:`FailedJobNotFound` if there is none."""
    from ..models import FailedJob

    try:
        return database_store().get(pk)
    except FailedJob.DoesNotExist:
        raise FailedJobNotFound(f"no failed job with id {pk}") from None


def full_fingerprint(text: str) -> str:
    """The stored fingerprint that ``text`` (the 40 hex digits or an unambiguous prefix of at
    least ``MIN_FINGERPRINT_PREFIX``) names, in the table; else
    :class:`FingerprintLookupError`."""
    return resolve_fingerprint(text, database_store().fingerprints_starting)


def is_job_id(text: str) -> bool:
    """Whether ``text`` has the form of a job id (32 lower-case hex digits)."""
    return bool(_JOB_ID.match(text))


def find(ref: str | int) -> Any:
    """A failed job by row id, or by job id (32 hex digits): the table's ``FailedJob`` row,
    else the Redis store's :class:`FailureRecord`. :class:`FailedJobNotFound` if neither."""
    text = str(ref).strip()
    if text.isdigit():
        return get(int(text))
    if not is_job_id(text):
        raise FailedJobNotFound(f"{text!r} is neither a failed-job id nor a job id")
    if not redis_is_primary():
        row = database_store().filter().filter(uuid=text).first()
        if row is not None:
            return row
    store = redis_store()
    for queue in store.queues() if store is not None else []:
        for record in store.entries(queue):
            if record.uuid == text:
                return fill_fingerprint(record)
    raise FailedJobNotFound(f"no failed job with job id {text}")


def recent(limit: int = 50, **criteria: Any) -> list[Any]:
    """The newest ``limit`` rows matching ``criteria`` (served by the ``failed_at`` indexes)."""
    return list(database_store().filter(**criteria).order_by("-failed_at", "-pk")[:limit])


def fallback_matching(limit: int | None = None, **criteria: Any) -> list[FailureRecord]:
    """Records in the Redis store matching ``criteria``, newest first."""
    store, queue = fallback(), criteria.get("queue")
    criteria = with_full_fingerprint(criteria, store.fingerprints_starting)
    found = [record for q in ([queue] if queue else store.queues())
             for record in store.entries(q) if matches(record, **criteria)]
    found.sort(key=lambda record: record.failed_at, reverse=True)
    return found[:limit] if limit is not None else found


def lineage(raw_payload: str) -> list[LineageStep]:
    """The jobs this one retries, newest first, following ``retry_of`` through the rows that
    still exist (a successful retry deletes its row, so the chain usually stops after one)."""
    steps: list[LineageStep] = []
    seen: set[str] = set()
    previous = _retry_of(raw_payload)
    if redis_is_primary():  # no table to follow the chain through
        return [LineageStep(previous, None)] if previous else []
    while previous and previous not in seen and len(steps) < _LINEAGE_LIMIT:
        seen.add(previous)
        row = database_store().filter().filter(uuid=previous).only("pk", "payload").first()
        steps.append(LineageStep(previous, row.pk if row else None))
        previous = _retry_of(row.payload) if row else None
    return steps


def _retry_of(raw: str) -> str | None:
    try:
        value = payload_codec.loads(raw).get("retry_of")
    except PayloadError:
        return None
    return value if isinstance(value, str) else None


def fingerprint_count(fingerprint: str, redis: bool = False) -> int:
    """How many failed jobs share a fingerprint: table rows, or (``redis``) Redis entries."""
    if not fingerprint:
        return 0
    if redis:
        return len(fallback_matching(fingerprint=fingerprint))
    return database_store().count(fingerprint=fingerprint)


def window_count(since: dt.datetime, queue: str | None = None) -> int:
    """Failures recorded at or after ``since``: table rows plus Redis entries (failures
    waiting in the fallback count too: they are what a database outage hides)."""
    total = 0 if redis_is_primary() else database_store().count(since=since, queue=queue)
    if redis_store() is not None:
        try:
            total += len(fallback_matching(since=since, queue=queue))
        except TransportError:
            if redis_is_primary():
                raise
    return total


def queues_seen() -> list[str]:
    """Queue names found in the failed-job stores (the table's ``queue`` index serves it)."""
    names: set[str] = set()
    if not redis_is_primary():
        names.update(database_store().queryset().order_by("queue").values_list(
            "queue", flat=True).distinct())
    store = redis_store()
    if store is not None:
        with contextlib.suppress(TransportError):  # an unreachable Redis shows no queues
            names.update(store.queues())
    return sorted(names)


def records_stats(
    records: Iterable[FailureRecord], hours_since: dt.datetime | None = None
) -> dict[str, Any]:
    """The shape of ``DatabaseFailedJobStore.stats()``, computed from Redis records."""
    records = [fill_fingerprint(record) for record in records]
    groups: dict[str, Any] = {}
    for field in ("queue", "exception_class", "job_class", "fingerprint"):
        buckets: dict[str, list[FailureRecord]] = defaultdict(list)
        for record in records:
            buckets[getattr(record, field)].append(record)
        groups[field] = sorted(
            (_group(field, key, members) for key, members in buckets.items()),
            key=lambda group, field=field: (-group["count"], group[field]),
        )
    hours: dict[dt.datetime, int] = defaultdict(int)
    for record in records:
        if hours_since is None or record.failed_at >= hours_since:
            local = timezone.localtime(record.failed_at)
            hours[local.replace(minute=0, second=0, microsecond=0)] += 1
    return {
        "total": len(records),
        "by_queue": groups["queue"],
        "by_exception_class": groups["exception_class"],
        "by_job_class": groups["job_class"],
        "by_fingerprint": groups["fingerprint"][:_TOP_FINGERPRINTS],
        "by_hour": [{"hour": hour, "count": n} for hour, n in sorted(hours.items())],
    }


def _group(field: str, key: str, members: list[FailureRecord]) -> dict[str, Any]:
    moments = [record.failed_at for record in members]
    group = {field: key, "count": len(members), "first": min(moments), "last": max(moments),
             "days": len({timezone.localdate(moment) for moment in moments})}
    if field == "fingerprint":
        group.update(exception_class=members[0].exception_class, message=members[0].message)
    return group
