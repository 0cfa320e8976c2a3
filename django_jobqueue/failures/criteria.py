"""The filter vocabulary of failed jobs, once: as a query on the table, or as a test of a
Redis-stored record.

Criteria (each optional, ``None`` means "any"): ``queue``, ``connection``, ``job_class``,
``exception_class``, ``fingerprint`` (exact matches), ``since`` (failed at or after),
``before`` (failed before) and, for the table only, ``ids`` (primary keys).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from .fingerprint import fill_fingerprint
from .record import FailureRecord

EXACT = ("queue", "connection", "job_class", "exception_class", "fingerprint")
_KNOWN = {*EXACT, "since", "before", "ids"}


def _checked(criteria: dict[str, Any]) -> dict[str, Any]:
    unknown = set(criteria) - _KNOWN
    if unknown:
        raise TypeError(f"unknown failed-job criteria: {', '.join(sorted(unknown))}")
    return {name: value for name, value in criteria.items() if value is not None}


def as_q(**criteria: Any) -> Q:
    """The criteria as a filter on ``FailedJob`` (each served by a ``(field, failed_at)``
    index, or the ``failed_at`` one)."""
    given = _checked(criteria)
    q = Q(**{name: given[name] for name in EXACT if name in given})
    if "since" in given:
        q &= Q(failed_at__gte=given["since"])
    if "before" in given:
        q &= Q(failed_at__lt=given["before"])
    if "ids" in given:
        q &= Q(pk__in=list(given["ids"]))
    return q


def matches(record: FailureRecord, **criteria: Any) -> bool:
    """Whether a Redis-stored record matches (records have no ``ids``: never with them)."""
    given = _checked(criteria)
    if "ids" in given:
        raise TypeError("Redis-stored failed jobs have no ids: select them by job id")
    fill_fingerprint(record)
    if any(getattr(record, name) != given[name] for name in EXACT if name in given):
        return False
    return (given.get("since") is None or record.failed_at >= given["since"]) and (
        given.get("before") is None or record.failed_at < given["before"])
