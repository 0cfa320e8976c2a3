"""Failure statistics computed in Python from records, for stores that have no SQL to
group by (the Redis lists): the same shape as the table's ``stats()``."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from .fingerprint import fill_fingerprint
from .record import FailureRecord

_TOP_FINGERPRINTS = 10


def records_stats(
    records: Iterable[FailureRecord], hours_since: dt.datetime | None = None
) -> dict[str, Any]:
    """``records`` counted as :meth:`FailedJobStore.stats` says."""
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
