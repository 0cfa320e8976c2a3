"""``manage.py prune_failed_jobs``: delete old failed jobs, in batches, for cron."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from ... import failures
from .. import cli
from ..render import indent, table


class Command(BaseCommand):
    help = (
        "Delete failed jobs: older than --days/--hours, of one --queue or --exception-class, "
        "and/or all but the newest --keep. Deletes in short batches of ids and prunes the "
        "Redis fallback too (by age and queue). With no limit at all it refuses, unless "
        "--all is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        age = parser.add_mutually_exclusive_group()
        age.add_argument("--days", type=cli.non_negative_number, metavar="N",
                         help="Only failed jobs older than N days (e.g. 30; 0: every one "
                         "failed until now, as the admin's Purge old allows).")
        age.add_argument("--hours", type=cli.non_negative_number, metavar="N",
                         help="Only failed jobs older than N hours.")
        cli.add_filters(parser, "queue", "exception_class")
        parser.add_argument("--keep", type=cli.count, metavar="N",
                            help="Keep the newest N matching failed jobs, delete the rest.")
        parser.add_argument("--all", action="store_true", dest="everything",
                            help="Allow deleting every failed job when no other limit is "
                            "given.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Delete nothing; print how many would go, by queue.")
        parser.add_argument("--batch-size", type=cli.positive_int, default=1000, metavar="N",
                            help="Rows deleted per statement (default 1000).")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        older_than = _age(options)
        filters = cli.criteria(options)
        if older_than is None and options["keep"] is None and not filters and not (
            options["everything"]
        ):
            raise cli.usage_error(
                "refusing to delete every failed job: give --days, --hours, --queue, "
                "--exception-class or --keep, or --all to really delete them all")
        # A dry run is one counting query: nothing to show progress of.
        progress = cli.Progress(self.stdout, options["verbosity"], "deleted")
        try:
            report = failures.prune_report(
                older_than=older_than, keep=options["keep"], batch_size=options["batch_size"],
                progress=progress, everything=options["everything"],
                dry_run=options["dry_run"], **filters,
            )
        except ValueError as exc:  # limits the store cannot apply
            raise cli.usage_error(str(exc)) from None
        progress.finish()
        self._report(report)

    def _report(self, report: failures.PruneReport) -> None:
        verb = "Would delete" if report.dry_run else "Deleted"
        if not report.total:
            self.stdout.write(f"{verb} no failed jobs.")
        else:
            labels = sorted(report.by_store)
            queues = sorted({q for counts in report.by_store.values() for q in counts})
            self.stdout.write(f"{verb} {cli.plural(report.total, 'failed job')}:")
            self.stdout.write(indent(table(
                ["queue", *labels],
                [[q, *(report.by_store[label].get(q, 0) for label in labels)]
                 for q in queues])))
        for label, error in sorted(report.errors.items()):
            self.stderr.write(f"The {label} store was not pruned: {error}")


def _age(options: dict[str, Any]) -> dt.timedelta | None:
    unit = "days" if options["days"] is not None else "hours"
    if options[unit] is None:
        return None
    try:
        span = dt.timedelta(**{unit: options[unit]})
        timezone.now() - span
    except OverflowError:
        raise cli.usage_error(f"--{unit} {options[unit]:g} reaches before the year 1") from None
    return span
