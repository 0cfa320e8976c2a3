"""Questions the admin asks of the table's querysets, each cheap on a table of millions of
failures: a row count that is exact when small and estimated when large, failures per day,
and failures grouped by fingerprint. Only a store with a queryset (the table) has them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connections
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate

from .database import INDEXED, fingerprint_groups
from .record import NOT_FAILURES

EXACT_COUNT_LIMIT = 10_000
CAPPED_COUNT_LIMIT = 1_000_000


def distinct_values(queryset: QuerySet[Any], field: str, limit: int | None = 100) -> list[str]:
    """Up to ``limit`` distinct values of an indexed column, sorted (the index alone serves
    it)."""
    if field not in INDEXED:
        raise ValueError(f"{field!r} is not an indexed failed-job column")
    values = queryset.order_by(field).values_list(field, flat=True).distinct()
    return list(values[:limit] if limit is not None else values)


def count_estimate(queryset: QuerySet[Any], exact_limit: int = EXACT_COUNT_LIMIT) -> int:
    """How many rows ``queryset`` has: exact up to ``exact_limit``; above it, the database's
    own statistics for an unfiltered table (MySQL/MariaDB ``information_schema``,
    PostgreSQL ``pg_class``), else a count capped at ``CAPPED_COUNT_LIMIT``.

    A plain ``COUNT(*)`` reads every row (or index entry) on InnoDB and PostgreSQL: on a
    table of millions of failures that is seconds per page of the admin.
    """
    # COUNT over a LIMITed subquery stops reading at the limit.
    small = queryset.order_by()[: exact_limit + 1].count()
    if small <= exact_limit:
        return small
    if not queryset.query.where:
        estimate = _table_estimate(queryset)
        if estimate is not None:
            return max(estimate, small)
    return queryset.order_by()[:CAPPED_COUNT_LIMIT].count()


def table_rows_estimate(queryset: QuerySet[Any]) -> int | None:
    """The database's own estimate of the rows of ``queryset``'s table (no count: one read
    of its statistics); ``None`` where it keeps none (SQLite)."""
    return _table_estimate(queryset)


def _table_estimate(queryset: QuerySet[Any]) -> int | None:
    connection = connections[queryset.db]
    table = queryset.model._meta.db_table
    if connection.vendor == "mysql":
        sql = ("SELECT TABLE_ROWS FROM information_schema.TABLES"
               " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s")
    elif connection.vendor == "postgresql":
        sql = "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)"
    else:
        return None  # SQLite keeps no row estimate
    with connection.cursor() as cursor:
        cursor.execute(sql, [table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


def per_day(queryset: QuerySet[Any], since: dt.datetime) -> list[dict[str, Any]]:
    """Failures per day (in the current time zone) from ``since``: ``[{"day", "count"}]``."""
    rows = (queryset.filter(failed_at__gte=since).annotate(day=TruncDate("failed_at"))
            .values("day").annotate(count=Count("pk")).order_by("day"))
    return list(rows)


def groups(queryset: QuerySet[Any], limit: int = 100) -> list[dict[str, Any]]:
    """The ``limit`` largest fingerprint groups of ``queryset``: fingerprint, count, first
    and last failure, days, exception class and a sample message."""
    return fingerprint_groups(queryset, limit)


def not_failures(queryset: QuerySet[Any], since: dt.datetime) -> dict[str, int]:
    """How many rows of ``queryset`` from ``since`` were kept for jobs that did not fail, by
    outcome (``{"cancelled": n, "expired": m}``, only those with rows): one range of the
    ``(exception_class, failed_at)`` index."""
    rows = (queryset.filter(exception_class__in=list(NOT_FAILURES), failed_at__gte=since)
            .values("exception_class").annotate(n=Count("pk")).order_by())
    return {NOT_FAILURES[row["exception_class"]]: row["n"] for row in rows}
