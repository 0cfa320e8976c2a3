"""``manage.py queue_status``: ready, delayed and reserved jobs, the oldest waiting job's age
and any pause per connection and queue, then the live workers of each connection."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...exceptions import ConfigurationError
from ...flow.pause_text import since_text
from ...flow.progress import Progress
from ...status import ConnectionWorkers, QueueStatus, format_age, queue_status, worker_status
from ...transports import CurrentJob
from ...workflows.status import held_chains
from .. import cli
from ..render import table

# A progress message in the workers table: the table stays readable on a terminal.
MESSAGE_CHARS = 30


class Command(BaseCommand):
    help = (
        "Show how many jobs are ready, delayed (waiting for their time or a retry backoff) "
        "and reserved (running) in each queue of each connection, how long the oldest ready "
        "job has waited, which queues are paused (pause_queue), and the live workers with "
        "their last heartbeat and current jobs (with the progress they reported). "
        "Queues: DEFAULT_QUEUE, those named by job classes and those seen in failed jobs, "
        "unless --queue is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connection", action="append", metavar="NAME",
                            help="Only this JOBQUEUE connection (repeatable; default: every "
                            "connection other processes can see, i.e. not memory ones).")
        parser.add_argument("--queue", action="append", metavar="Q",
                            help="Only this queue (repeatable).")
        parser.add_argument("--held", action="store_true",
                            help="Also count, per queue, the chain steps that failed for good "
                            "and hold the rest of their chain (reads the queue's failed "
                            "jobs: slower on a big failed-job table).")
        parser.add_argument("--json", action="store_true",
                            help='One JSON object per line: per queue and connection '
                            '("kind": "queue"), then per connection its workers '
                            '("kind": "workers").')

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rows = queue_status(options["connection"], options["queue"])
            workers = worker_status(options["connection"])
        except ConfigurationError as exc:
            raise cli.usage_error(str(exc)) from None
        held = ({(row.connection, row.queue): held_chains(row.connection, row.queue)
                 for row in rows} if options["held"] else None)
        if options["json"]:
            for row in rows:
                extra = {} if held is None else {"held_chains": held[row.connection, row.queue]}
                cli.json_line({"kind": "queue", **row.as_dict(), **extra}, self.stdout)
            for group in workers:
                cli.json_line({"kind": "workers", **group.as_dict()}, self.stdout)
            return
        self.stdout.write(_queues_table(rows, held))
        self.stdout.write("\n" + _workers_table(workers))


def _queues_table(rows: Sequence[QueueStatus],
                  held: dict[tuple[str, str], int] | None = None) -> str:
    """The queues; ``held``: the column of held chain steps, by connection and queue."""
    now = time.time()
    lines = [[r.connection, r.queue, r.ready, r.delayed, r.reserved, format_age(r.oldest_age)]
             if not r.error else [r.connection, r.queue, "?", "?", "?", "?"] for r in rows]
    headers = ["connection", "queue", "ready", "delayed", "reserved", "oldest"]
    if held is not None:
        headers.append("held chains")
        for line, r in zip(lines, rows, strict=True):
            line.append(held[r.connection, r.queue])
    return table([*headers, ""],
                 [[*line, _notes(r, now)] for line, r in zip(lines, rows, strict=True)])


def _notes(row: QueueStatus, now: float) -> str:
    """The last column: the pause, and why the store's numbers are missing."""
    notes = [f"paused {since_text(row.paused_at, row.paused_by, now)}"] if row.paused else []
    if row.error:
        notes.append(f"unavailable: {row.error}")
    return "; ".join(notes)


def _workers_table(groups: Sequence[ConnectionWorkers]) -> str:
    now = time.time()
    lines: list[list[Any]] = []
    notes = []
    for group in groups:
        if group.error:
            notes.append(f"{group.connection}: workers unavailable: {group.error}")
        elif not group.tracked:
            notes.append(f"{group.connection}: this transport keeps no worker registry")
        for w in group.workers:
            running = ", ".join(_running(job, group.progress.get(job.id), now)
                                for job in w.current) or "-"
            lines.append([group.connection, w.name, w.host, w.pid, ",".join(w.queues),
                          w.concurrency, f"{format_age(w.heartbeat_age)} ago",
                          w.jobs_processed, running])
    if not lines:
        return "\n".join(["No live workers.", *notes])
    headers = ["connection", "worker", "host", "pid", "queues", "horses", "heartbeat", "jobs",
               "running"]
    return "\n".join([table(headers, lines), *notes])


def _running(job: CurrentJob, progress: Progress | None, now: float) -> str:
    """``shop.jobs.Import <id> (3m 05s, 40/100 40% rows)``: a busy horse's job, for how long
    it has run and, compactly, the progress it reported."""
    told = [format_age(now - job.started_at)]
    if progress is not None:
        told.append(" ".join(part for part in (progress.counted(),
                                               cli.one_line(progress.message, MESSAGE_CHARS))
                             if part) or "reported")
    return f"{job.job_class} {job.id} ({', '.join(told)})"
