"""``manage.py retry_batch``: retry the failed children of a batch."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...workflows.operate import retry_failed_children
from ...workflows.text import retry_text
from .. import batches, cli


class Command(BaseCommand):
    help = (
        "Retry the jobs of a batch that failed for good: each is pushed again and its "
        "failed-job record deleted; the batch counts it as pending until it ends, then "
        "fires its callbacks as they are due (on_success once every job succeeded). Exit "
        "code 1 if the batch is unknown or a record could not be retried (it is kept)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        batches.add_arguments(parser)
        parser.add_argument("--dry-run", action="store_true",
                            help="Retry nothing; say how many would be retried and which "
                            "could not be.")
        parser.add_argument("--rate", type=cli.positive_number, metavar="R",
                            help="At most R retries per second (default: no limit).")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        batch_id = options["id"]
        # Its children's records outlive the batch's count: say how to retry those.
        batches.found(options, hint=f" Failed jobs of its children that are left: "
                      f"retry_failed_jobs --batch {batch_id}")
        verb = "checked" if options["dry_run"] else "retried or kept"
        progress = cli.Progress(self.stdout, options["verbosity"], verb)
        report = retry_failed_children(batch_id, rate=options["rate"],
                                       dry_run=options["dry_run"], progress=progress)
        progress.finish()
        self.stdout.write(retry_text(batch_id, report))
        for key, why in report.errors.items():
            self.stdout.write(f"  {key}: {cli.one_line(why, 300)}")
        if report.errors:
            sys.exit(1)
