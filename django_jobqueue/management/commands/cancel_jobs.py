"""``manage.py cancel_jobs``: cancel jobs by id, or the jobs of a queue (of one job class)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...exceptions import ConfigurationError
from ...flow.cancel import Cancelled, cancel, cancel_jobs
from ...flow.cancel_text import report_text
from ...transports import get_transport
from .. import cli


class Command(BaseCommand):
    help = (
        "Cancel jobs. A waiting job (queued or delayed) is taken out of its queue and kept "
        "as a cancelled record among the failed jobs (JobCancelled; not counted as a "
        "failure); a running one is asked to stop, and its worker ends it as cancelled. "
        "Give job ids (exit code 1 if one is in no queue), or --queue to cancel the jobs of "
        "a queue, of one --job-class or all; that asks first on a terminal, else needs --yes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", metavar="ID", type=cli.job_id,
                            help="Job ids (32 hex digits), as dispatch returns them and "
                            "queue_status and job_status show them.")
        parser.add_argument("--queue", metavar="Q",
                            help="Cancel the jobs of queue Q (instead of IDs).")
        parser.add_argument("--job-class", metavar="C",
                            help="With --queue: only jobs of this job class (its registry "
                            "name, e.g. shop.jobs.SendReceipt).")
        parser.add_argument("--limit", type=cli.positive_int, metavar="N",
                            help="With --queue: cancel at most N jobs.")
        parser.add_argument("--connection", metavar="NAME",
                            help="The JOBQUEUE connection (IDs: default every connection; "
                            "--queue: DEFAULT_CONNECTION).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Cancel nothing; say what would be done.")
        parser.add_argument("--yes", action="store_true",
                            help="With --queue: do not ask for confirmation.")
        parser.add_argument("--json", action="store_true",
                            help="One JSON object per line: per ID, or the --queue report.")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        ids, queue = options["ids"], options["queue"]
        if bool(ids) == bool(queue):
            raise cli.usage_error("give job IDs, or --queue Q to cancel the jobs of a queue")
        if not queue and (options["job_class"] or options["limit"]):
            raise cli.usage_error("--job-class and --limit go with --queue")
        try:
            if queue:
                self._queue(queue, options)
            else:
                self._ids(ids, options)
        except ConfigurationError as exc:  # an unknown connection, or one that cannot
            raise cli.usage_error(str(exc)) from None

    def _ids(self, ids: list[str], options: dict[str, Any]) -> None:
        if options["dry_run"]:
            raise cli.usage_error("--dry-run goes with --queue (job_status shows what a "
                                  "cancel of IDs would find)")
        results = [cancel(job_id, options["connection"], by=cli.operator()) for job_id in ids]
        for result in results:
            if options["json"]:
                cli.json_line(result.as_dict(), self.stdout)
            else:
                self.stdout.write(_line(result))
        if any(result.outcome == "not_found" for result in results):
            sys.exit(1)

    def _queue(self, queue: str, options: dict[str, Any]) -> None:
        connection = get_transport(options["connection"]).name
        if not (options["dry_run"] or options["yes"]):
            self._confirm(queue, connection, options["job_class"])
        verb = "checked" if options["dry_run"] else "cancelled or stopped"
        progress = cli.Progress(self.stdout, options["verbosity"], verb, "job")
        report = cancel_jobs(queue, connection, job_class=options["job_class"],
                             by=cli.operator(), limit=options["limit"],
                             dry_run=options["dry_run"],
                             progress=progress)
        progress.finish()
        if options["json"]:
            cli.json_line(report.as_dict(), self.stdout)
        else:
            self.stdout.write(report_text(report, options["job_class"]))

    def _confirm(self, queue: str, connection: str, job_class: str | None) -> None:
        """Ask on a terminal; refuse elsewhere (cron, scripts) without ``--yes``."""
        if not sys.stdin.isatty():
            raise cli.usage_error("cancelling the jobs of a queue needs --yes when nobody "
                                  "can be asked (or --dry-run to see what it would do)")
        size = get_transport(connection).size(queue)
        which = f" of job class {cli.one_line(job_class)}" if job_class else ""
        question = (f"Cancel the jobs{which} of queue {cli.one_line(queue)} on connection "
                    f"{connection}? It holds {size.ready + size.delayed} waiting and "
                    f"{size.reserved} taken by workers (asked to stop). [y/N] ")
        if input(question).strip().lower() not in ("y", "yes"):
            raise cli.usage_error("nothing cancelled")


def _line(result: Cancelled) -> str:
    where = f"queue {result.queue} on connection {result.connection}"
    if result.outcome == "cancelled":
        kept = "" if result.failed_id is None else f"; kept as failed job {result.failed_id}"
        return f"{result.job_id}: cancelled (was {result.state} in {where}{kept})"
    if result.outcome == "requested":
        return f"{result.job_id}: asked to stop ({result.state} in {where})"
    return f"{result.job_id}: not found in any queue"
