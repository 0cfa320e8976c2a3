"""``manage.py queue_status``: ready, delayed and reserved jobs per connection and queue."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...exceptions import ConfigurationError
from ...status import queue_status
from .. import cli
from ..render import table


class Command(BaseCommand):
    help = (
        "Show how many jobs are ready, delayed (waiting for their time or a retry backoff) "
        "and reserved (running) in each queue of each connection. Queues: DEFAULT_QUEUE, "
        "those named by job classes and those seen in failed jobs, unless --queue is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connection", action="append", metavar="NAME",
                            help="Only this JOBQUEUE connection (repeatable; default: every "
                            "connection other processes can see, i.e. not memory ones).")
        parser.add_argument("--queue", action="append", metavar="Q",
                            help="Only this queue (repeatable).")
        parser.add_argument("--json", action="store_true",
                            help="One JSON object per queue and connection, one per line.")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rows = queue_status(options["connection"], options["queue"])
        except ConfigurationError as exc:
            raise cli.usage_error(str(exc)) from None
        if options["json"]:
            for row in rows:
                cli.json_line(row.as_dict(), self.stdout)
            return
        self.stdout.write(table(
            ["connection", "queue", "ready", "delayed", "reserved", ""],
            [[r.connection, r.queue, r.ready, r.delayed, r.reserved, ""] if not r.error else
             [r.connection, r.queue, "?", "?", "?", f"unavailable: {r.error}"] for r in rows]))
