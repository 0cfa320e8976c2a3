"""``manage.py job_status``: where jobs are and how far they got."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...exceptions import ConfigurationError
from ...flow.status import JobStatus, job_status
from ...status import format_age
from .. import cli


class Command(BaseCommand):
    help = (
        "Show the state of jobs: queued, delayed, running (with the progress it reported), "
        "succeeded, failed, cancelled, expired, waiting (a chain's later step: the step "
        "before it has not ended), held (the step before it failed for good: retrying that "
        "failed job resumes the chain), or unknown (never dispatched, or succeeded long "
        "ago). Exit code 1 if one is unknown."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="+", metavar="ID", type=cli.job_id,
                            help="Job ids (32 hex digits), as dispatch returns them.")
        parser.add_argument("--connection", metavar="NAME",
                            help="Look only on this JOBQUEUE connection (default: every one).")
        parser.add_argument("--json", action="store_true",
                            help="One JSON object per line and job.")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        ids = options["ids"]
        try:
            found = [job_status(job_id, options["connection"]) for job_id in ids]
        except ConfigurationError as exc:
            raise cli.usage_error(str(exc)) from None
        for status in found:
            if options["json"]:
                cli.json_line(status.as_dict(), self.stdout)
            else:
                self.stdout.write(_text(status))
        if any(status.state == "unknown" for status in found):
            sys.exit(1)


def _text(status: JobStatus) -> str:
    """One job, for a person: its state and where, then what goes with it."""
    where = f" in queue {cli.one_line(status.queue)}" if status.queue else ""
    where += f" on connection {status.connection}" if status.connection else ""
    lines = [f"{status.id}: {status.state}{where}"]
    if status.due_in is not None:
        lines.append(f"  due in {format_age(max(status.due_in, 0.0))}")
    if status.progress is not None:
        lines.append(f"  progress: {_progress(status)}")
    if status.cancel_requested:
        lines.append("  cancel requested: its worker stops it")
    if status.waiting_on:
        # A later step of a chain: what it waits for, and, held, the record to retry.
        lines.append(f"  waiting on job {status.waiting_on}")
        show = f" (failed_jobs show {status.failed_id})" if status.failed_id is not None else ""
        lines.append(f"  {cli.one_line(status.message, 300)}{show}")
    elif status.failed_id is not None:
        lines.append(f"  failed job {status.failed_id}: {cli.one_line(status.exception_class)}: "
                     f"{cli.one_line(status.message, 200)} (failed_jobs show "
                     f"{status.failed_id})")
    return "\n".join(lines)


def _progress(status: JobStatus) -> str:
    progress = status.progress
    assert progress is not None
    if progress.done is not None and progress.total is not None:
        count = f"{progress.done} of {progress.total}"
        if progress.percent is not None:
            count += f" ({progress.percent:g}%)"
    else:
        count = f"{progress.done} done" if progress.done is not None else ""
    message = cli.one_line(progress.message, 200)
    told = ", ".join(part for part in (count, message) if part) or "reported"
    return f"{told}, {format_age(max(time.time() - progress.at, 0.0))} ago"
