"""``manage.py retry_failed_jobs``: push failed jobs again, paced, then delete their rows."""

from __future__ import annotations

import re
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...failures import service
from .. import cli

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class Command(BaseCommand):
    help = (
        "Retry failed jobs: push each stored payload again (new job id, attempts reset), "
        "then delete its record. Give failed-job IDs, filters, or --all. Records whose "
        "payload is unreadable or whose job class is gone are reported and kept, and the "
        "exit code is then 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", metavar="ID",
                            help="Failed-job ids (with --fallback: job ids, 32 hex digits).")
        cli.add_filters(parser, "queue", "exception_class", "job_class", "since", "until",
                        "fingerprint")
        parser.add_argument("--all", action="store_true", dest="everything",
                            help="Retry every failed job when no ID or filter is given.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Retry nothing; print how many would be retried and which "
                            "could not be.")
        parser.add_argument("--rate", type=cli.positive_number, metavar="N",
                            help="At most N retries per second (default: no limit), so a "
                            "replay does not recreate the storm.")
        parser.add_argument("--batch-size", type=cli.positive_int, default=500, metavar="N",
                            help="Ids read per query while walking the table (default 500).")
        parser.add_argument("--fallback", action="store_true",
                            help="Retry entries of the Redis store instead of table rows "
                            "(the default with FAILED_STORE = 'redis').")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        filters = cli.criteria(options)
        if not options["ids"] and not filters and not options["everything"]:
            raise cli.usage_error("give failed-job IDs or filters, or --all to retry every "
                                  "failed job")
        fallback = options["fallback"] or service.redis_is_primary()
        ids = _ids(options["ids"], fallback)
        verb = "checked" if options["dry_run"] else "retried or kept"
        progress = cli.Progress(self.stdout, options["verbosity"], verb)
        common = {"rate": options["rate"], "dry_run": options["dry_run"],
                  "progress": progress, **filters}
        if fallback:
            report = service.retry_fallback_matching(uuids=ids, **common)
        else:
            report = service.retry_matching(ids=ids, batch_size=options["batch_size"], **common)
        progress.finish()
        self._report(report)
        if report.errors:
            sys.exit(1)

    def _report(self, report: service.RetryReport) -> None:
        done = len(report.planned if report.dry_run else report.retried)
        verb = "Would retry" if report.dry_run else "Retried"
        by_queue = ", ".join(f"{queue} {n}" for queue, n in sorted(report.queues.items()))
        self.stdout.write(f"{verb} {cli.plural(done, 'failed job')}"
                          + (f" ({by_queue})." if done else "."))
        if report.errors:
            self.stdout.write(f"Kept {len(report.errors)} that cannot be retried:")
            for key, why in report.errors.items():
                self.stdout.write(f"  {key}: {cli.one_line(why, 300)}")


def _ids(raw: list[str], fallback: bool) -> list[Any] | None:
    if not raw:
        return None
    if fallback:
        bad = [text for text in raw if not _JOB_ID.match(text)]
        kind = "job id (32 hex digits)"
    else:
        bad = [text for text in raw if not text.isdigit() or int(text) < 1]
        kind = "failed-job id (a positive integer)"
    if bad:
        hint = "" if fallback or not any(_JOB_ID.match(text) for text in bad) else (
            " (job ids of Redis-stored failed jobs need --fallback)")
        raise cli.usage_error(f"not a {kind}: {', '.join(bad)}{hint}")
    return raw if fallback else [int(text) for text in raw]
