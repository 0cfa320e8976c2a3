"""Jobs that ship with the app, registered when it starts (``JobQueueConfig.ready``), so
that every worker knows them and a ``SCHEDULE`` entry can name them:

``django_jobqueue.PruneFailedJobs``
    Deletes failed jobs older than ``days`` (default: ``FAILED_RETENTION_DAYS``) through the
    same service as ``manage.py prune_failed_jobs --days N``. The seed's "clean up failed
    jobs daily at 2 AM" then needs no system cron::

        JOBQUEUE = {"SCHEDULE": {"prune-failed-jobs": {
            "JOB": "django_jobqueue.PruneFailedJobs", "CRON": "0 2 * * *"}}}
"""

from __future__ import annotations

import datetime as dt
import logging

from .conf import jobqueue_settings
from .exceptions import JobQueueError
from .jobs import Job
from .logutil import log_event
from .shapes import is_number

logger = logging.getLogger(__name__)

# Ten thousand years back from now stays after the year 1 (what a datetime can hold).
MAX_DAYS = 3_650_000


class PruneFailedJobs(Job):
    """Delete failed jobs older than ``days`` days, in every part of the failed-job store."""

    name = "django_jobqueue.PruneFailedJobs"

    def __init__(self, days: float | None = None) -> None:
        if days is not None and (not is_number(days) or not 0 <= days <= MAX_DAYS):
            raise ValueError(f"days must be a number from 0 to {MAX_DAYS} or None, not {days!r}")
        self.days = days

    def handle(self) -> int:
        from . import failures

        # Read when it runs, not when it was queued: a changed setting applies to the next run.
        days = jobqueue_settings.FAILED_RETENTION_DAYS if self.days is None else self.days
        report = failures.prune_report(older_than=dt.timedelta(days=days))
        log_event(logger, logging.INFO, "failed_jobs_pruned", days=days, deleted=report.total)
        if report.errors:
            # What could be pruned was; the failure makes the rest visible (and retryable).
            unpruned = "; ".join(f"{label}: {error}" for label, error in
                                 sorted(report.errors.items()))
            raise JobQueueError(f"failed-job stores not pruned: {unpruned}")
        return report.total
