"""``manage.py prune_task_results``: delete finished Django Tasks results past retention."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ...apps import uses_tasks_backend
from .. import cli


class Command(BaseCommand):
    help = (
        "Delete SUCCESSFUL and FAILED task results finished more than --days ago (default:"
        " each JobQueueBackend's OPTIONS['RESULT_RETENTION_DAYS'], 7 if unset), in batches."
        " READY and RUNNING results are never deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=cli.positive_number, metavar="N",
                            help="Delete results finished more than N days ago.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Delete nothing; print how many would go, by backend.")
        parser.add_argument("--batch-size", type=cli.positive_int, default=1000, metavar="N",
                            help="Rows deleted per statement (default 1000).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not uses_tasks_backend():
            raise cli.usage_error("no TASKS backend is django_jobqueue.tasks.JobQueueBackend")
        from ...tasks import JobQueueBackend, results
        from ...tasks.compat import task_backends

        total, verb = 0, "Would delete" if options["dry_run"] else "Deleted"
        for alias in settings.TASKS:
            backend = task_backends[alias]
            if not isinstance(backend, JobQueueBackend):
                continue  # another backend: not ours to prune
            days = options["days"]
            older_than = backend.retention if days is None else dt.timedelta(days=days)
            count = results.prune(
                backend=alias, older_than=older_than, using=backend.results_database,
                dry_run=options["dry_run"], batch_size=options["batch_size"],
            )
            total += count
            if count:
                self.stdout.write(f"  {alias}: {cli.plural(count, 'task result')}")
        self.stdout.write(f"{verb} {cli.plural(total, 'task result')}.")
