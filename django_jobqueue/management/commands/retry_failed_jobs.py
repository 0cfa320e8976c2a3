"""``manage.py retry_failed_jobs``: push failed jobs again, paced, then delete their rows."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ... import failures
from .. import cli


class Command(BaseCommand):
    help = (
        "Retry failed jobs: push each stored payload again (new job id, attempts reset), "
        "then delete its record. Give failed-job IDs, filters, or --all. Records whose "
        "payload is unreadable or whose job class is gone are reported and kept, and the "
        "exit code is then 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", metavar="ID",
                            help="Failed-job ids, or job ids (32 hex digits), as "
                            "failed_jobs lists them.")
        cli.add_filters(parser, "queue", "exception_class", "job_class", "since", "until",
                        "fingerprint", "batch", "chain_held")
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
        cli.add_store_choice(parser)

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        filters = cli.criteria(options)
        if not options["ids"] and not filters and not options["everything"]:
            raise cli.usage_error("give failed-job IDs or filters, or --all to retry every "
                                  "failed job")
        store = cli.chosen_store(options)
        ids = _ids(options["ids"], store.supports_row_ids)
        verb = "checked" if options["dry_run"] else "retried or kept"
        progress = cli.Progress(self.stdout, options["verbosity"], verb)
        common = {"rate": options["rate"], "dry_run": options["dry_run"],
                  "progress": progress, **filters}
        report = failures.retry_matching(ids=ids, batch_size=options["batch_size"],
                                         within=store, **common)
        progress.finish()
        self._report(report)
        if report.errors:
            sys.exit(1)

    def _report(self, report: failures.RetryReport) -> None:
        done = len(report.planned if report.dry_run else report.retried)
        verb = "Would retry" if report.dry_run else "Retried"
        by_queue = ", ".join(f"{queue} {n}" for queue, n in sorted(report.queues.items()))
        self.stdout.write(f"{verb} {cli.plural(done, 'failed job')}"
                          + (f" ({by_queue})." if done else "."))
        if report.errors:
            self.stdout.write(f"Kept {len(report.errors)} that cannot be retried:")
            for key, why in report.errors.items():
                self.stdout.write(f"  {key}: {cli.one_line(why, 300)}")


def _ids(raw: list[str], row_ids: bool) -> list[int | str] | None:
    """``raw`` as refs: failed-job ids (where the store has them) and job ids."""
    if not raw:
        return None
    bad = [text for text in raw if not (
        (row_ids and text.isdigit() and int(text) >= 1) or failures.is_job_id(text))]
    if bad:
        kind = ("a failed-job id (a positive integer) or job id (32 hex digits)" if row_ids
                else "a job id (32 hex digits; this store has no failed-job ids)")
        raise cli.usage_error(f"not {kind}: {', '.join(bad)}")
    return [int(text) if text.isdigit() else text for text in raw]
