"""``manage.py cancel_batch``: cancel the jobs of a batch that have not ended."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...workflows import BatchStatus
from ...workflows.operate import cancel_batch
from ...workflows.text import cancel_text, counts_text, title
from .. import batches, cli


class Command(BaseCommand):
    help = (
        "Cancel the rest of a batch: its jobs that have not ended. Waiting ones are taken "
        "out of their queues and kept as cancelled records; running ones are asked to stop. "
        "Each is counted as cancelled, so the batch completes and fires on_failure and "
        "on_complete. Asks first on a terminal, else needs --yes. Exit code 1 if the batch "
        "is unknown."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        batches.add_arguments(parser)
        parser.add_argument("--yes", action="store_true",
                            help="Do not ask for confirmation.")
        parser.add_argument("--by", metavar="WHO",
                            help="Who cancels, for the records and logs (default: "
                            "command:<your user name>).")
        parser.add_argument("--json", action="store_true", help="The report as one JSON "
                            "object.")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        batch_id = options["id"]
        status = batches.found(options)
        if not options["yes"]:
            _confirm(status)
        progress = cli.Progress(self.stdout, options["verbosity"], "cancelled or stopped",
                                "job")
        report = cancel_batch(batch_id, by=options["by"] or cli.operator(),
                              connection=status.home, progress=progress)
        progress.finish()
        if options["json"]:
            cli.json_line({"batch_id": batch_id, **report.counts}, self.stdout)
        else:
            self.stdout.write(cancel_text(report))


def _confirm(status: BatchStatus) -> None:
    """Ask on a terminal; refuse elsewhere (cron, scripts) without ``--yes``."""
    if not sys.stdin.isatty():
        raise cli.usage_error("cancelling a batch needs --yes when nobody can be asked "
                              "(batch_status shows what is pending)")
    question = (f"Cancel the rest of {title(status)}? {counts_text(status)}. Waiting jobs "
                "are taken out of their queues, running ones asked to stop. [y/N] ")
    if input(cli.one_line(question)).strip().lower() not in ("y", "yes"):
        raise cli.usage_error("nothing cancelled")
