"""``manage.py check_failed_jobs``: exit code 1 when too many jobs failed lately."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from ... import failures
from .. import cli


class Command(BaseCommand):
    help = (
        "For cron and monitoring: count the jobs that failed for good in the last --window "
        "(table rows and Redis fallback entries). More than --threshold: print an ALERT line "
        "and exit with code 1; otherwise print an OK line and exit with 0. Bad arguments "
        "exit with 2."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--threshold", type=cli.count, required=True, metavar="N",
                            help="Alert when more than N jobs failed in the window.")
        parser.add_argument("--window", type=cli.duration, default="1h", metavar="SPAN",
                            help="How far back to count: 30m, 1h, 1d, ... (default 1h).")
        cli.add_filters(parser, "queue")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        window_text = _span_text(options["window"].total_seconds())
        # Cancelled and expired jobs are kept among failed jobs, but they did not fail.
        failed = failures.count(since=timezone.now() - options["window"],
                                queue=options["queue"], outcome="failed")
        where = f" on queue {cli.one_line(options['queue'])}" if options["queue"] else ""
        detail = (f"{cli.plural(failed, 'failed job')} in the last {window_text}{where} "
                  f"(threshold {options['threshold']})")
        if failed > options["threshold"]:
            self.stdout.write(f"ALERT: {detail}")
            sys.exit(1)
        self.stdout.write(f"OK: {detail}")


def _span_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
