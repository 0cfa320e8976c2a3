"""``manage.py failed_jobs_stats``: failure patterns by queue, class, exception and hour."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from ... import failures
from .. import cli, render


class Command(BaseCommand):
    help = (
        "Summarise failed jobs: counts (with first and last failure and days with failures) "
        "by queue, job class and exception class, the most frequent fingerprints, failures "
        "per hour over the last 24 hours, and entries waiting in the Redis fallback."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=cli.moment, metavar="T",
                            help="Only failures at or after T: an ISO datetime or a time ago "
                            "(2h, 7d). Default: all.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        since = options["since"]
        result = failures.stats(since=since,
                               hours_since=timezone.now() - dt.timedelta(hours=24))
        if options["json"]:
            cli.json_line({"since": since, **result}, self.stdout)
        else:
            self.stdout.write(render.stats(result, since))
