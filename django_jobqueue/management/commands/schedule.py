"""``manage.py schedule``: the periodic jobs with their last run, last outcome and next run;
``schedule enable|disable|run NAME`` for one entry. Everything goes through
:mod:`django_jobqueue.schedule.service`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...exceptions import UnknownScheduleEntry
from ...schedule import listing, service
from ...schedule.listing import Row, moment_text
from .. import cli
from ..render import table

HEADERS = ["name", "job", "when", "queue", "enabled", "last run", "last job", "outcome",
           "next run", ""]
UNKNOWN = "?"  # what only the store knows, when it did not answer


class Command(BaseCommand):
    help = (
        "List the schedule's entries (JOBQUEUE['SCHEDULE'] and job classes' `schedule`): job, "
        "when it fires, queue, whether it is enabled, its last run and last outcome, and its "
        "next run. 'schedule enable NAME' and 'schedule disable NAME' override the entry's "
        "ENABLED until changed again; 'schedule run NAME' queues its job now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # Positionals, not argparse sub-commands: a sub-parser would not accept Django's
        # global options (--settings, -v) after the name (as in failed_jobs).
        parser.add_argument("action", nargs="*",
                            metavar="list | enable NAME | disable NAME | run NAME",
                            help="'list' (the default): every entry. 'enable NAME': fire "
                            "from its next slot on (slots missed while disabled are not "
                            "fired). 'disable NAME': stop firing. 'run NAME': queue its job "
                            "now, enabled or not, without touching its slots.")
        parser.add_argument("--json", action="store_true",
                            help="With 'list': one JSON object per line (per entry) instead "
                            "of the table.")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        verb, *names = options["action"] or ["list"]
        if verb == "list" and not names:
            self._list(options["json"])
            return
        act = ACTIONS.get(verb)
        if act is None or len(names) != 1:
            raise cli.usage_error(f"unknown action {' '.join(options['action'])!r}: use "
                                  "'list', 'enable NAME', 'disable NAME' or 'run NAME'")
        if options["json"]:
            raise cli.usage_error("--json goes with 'list'")
        try:
            self.stdout.write(act(names[0]))
        except UnknownScheduleEntry as exc:
            raise CommandError(str(exc)) from None

    def _list(self, as_json: bool) -> None:
        statuses = service.overview()
        if as_json:
            for status in statuses:
                cli.json_line(listing.as_json(status), self.stdout)
            return
        if not statuses:
            self.stdout.write("No schedule entries (JOBQUEUE['SCHEDULE'] is empty and no job "
                              "class declares `schedule`).")
            return
        self.stdout.write(table(HEADERS, [_cells(row) for row in listing.rows(statuses)]))


def _cells(row: Row) -> list[str]:
    queue = row.queue if row.connection is None else f"{row.queue} ({row.connection})"
    fixed = [row.name, row.job, row.timing, queue]
    if row.error:
        return [*fixed, *[UNKNOWN] * 5, f"unavailable: {row.error}"]
    last = "-" if row.last_run is None else moment_text(row.last_run,
                                                        "run now" if row.by_hand else "")
    outcome = "-" if row.outcome_at is None else f"{row.outcome} {moment_text(row.outcome_at)}"
    next_run = "-" if row.next_run is None else moment_text(row.next_run)
    return [*fixed, row.enabled_text, last, row.last_job or "-", outcome, next_run, ""]


def enable(name: str) -> str:
    return listing.enabled_message(service.enable(name))


def disable(name: str) -> str:
    service.disable(name)
    return listing.disabled_message(name)


def run(name: str) -> str:
    return listing.run_message(name, service.run_now(name))


ACTIONS: dict[str, Callable[[str], str]] = {"enable": enable, "disable": disable, "run": run}
