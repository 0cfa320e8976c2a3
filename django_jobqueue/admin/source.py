"""Where the admin reads failed jobs: the rows of the failed-job store's table.

A store that keeps no table (``FAILED_STORE`` in Redis only) leaves the admin's pages empty,
and the changelist says where the failures are instead of failing."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .. import failures
from ..exceptions import ConfigurationError

NO_TABLE = ("Failed jobs are kept in the {labels} store, which has no table to show here:"
            " list, retry and prune them with manage.py failed_jobs, retry_failed_jobs and"
            " prune_failed_jobs.")


def rows() -> QuerySet[Any]:
    """The failed-job rows of the store's table; none when it has no table."""
    from ..models import FailedJob

    try:
        return failures.table().queryset()
    except ConfigurationError:
        return FailedJob.objects.none()


def missing_table() -> str | None:
    """Why the admin shows no failed jobs at all, or ``None`` when it has a table."""
    parts = failures.store().parts()
    if any(part.supports_queryset for part in parts):
        return None
    return NO_TABLE.format(labels=", ".join(part.label for part in parts))
