"""``manage.py failed_jobs``: list failed jobs, or ``failed_jobs show ID`` for one."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import failures
from ...exceptions import FailedJobNotFound
from .. import cli, render

if TYPE_CHECKING:
    from ...failures.base import FailedJobStore


class Command(BaseCommand):
    help = (
        "List failed jobs, newest first (filters narrow the list), like Laravel's "
        "queue:failed. 'failed_jobs show ID' prints everything about one: payload, exception "
        "and traceback, every attempt's error, how a killed work horse died, retry lineage "
        "and fingerprint. 'failed_jobs forget ID ...' deletes failed jobs (exit code 1 if "
        "one was not found)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # "show ID" and "forget ID ..." are positionals, not argparse sub-commands: a
        # sub-parser would not accept Django's global options (--settings, -v) after the ID.
        parser.add_argument("action", nargs="*", metavar="show ID | forget ID [ID ...]",
                            help="'show ID': everything about one failed job; 'forget ID "
                            "...': delete failed jobs. ID is what the list shows: a "
                            "failed-job id, or a job id (32 hex digits) looked up in every "
                            "part of the failed-job store.")
        cli.add_filters(parser)
        parser.add_argument("--limit", type=cli.positive_int, default=50, metavar="N",
                            help="Show at most N failed jobs (default 50).")
        parser.add_argument("--json", action="store_true",
                            help="One JSON object per line (per failed job) instead of text.")
        cli.add_store_choice(parser)
        parser.add_argument("--dry-run", action="store_true",
                            help="With 'forget': delete nothing, say which IDs exist.")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if options["dry_run"] and action[:1] != ["forget"]:
            raise cli.usage_error("--dry-run goes with 'forget ID ...'")
        if not action:
            self._list(options)
            return
        verb, refs = action[0], action[1:]
        if not ((verb == "show" and len(refs) == 1) or (verb == "forget" and refs)):
            raise cli.usage_error(f"unknown action {' '.join(action)!r}: use 'show ID', "
                                  "'forget ID [ID ...]', or no argument to list")
        if cli.criteria(options):
            raise cli.usage_error(f"'{verb} ID' takes no filters")
        if verb == "show":
            self._show(refs[0], options["json"], cli.chosen_store(options))
        else:
            self._forget(refs, options["dry_run"], cli.chosen_store(options))

    def _list(self, options: dict[str, Any]) -> None:
        filters, limit = cli.criteria(options), options["limit"]
        store = cli.chosen_store(options)
        items = store.select(limit, **filters)
        if options["json"]:
            for item in items:
                cli.json_line(render.summary(item), self.stdout)
            return
        if not items:
            self.stdout.write("No failed jobs.")
            return
        self.stdout.write(render.list_rows(items))
        total = store.count(**filters) if len(items) == limit else len(items)
        if total > len(items):
            self.stdout.write(f"Showing the newest {len(items)} of {total} (see --limit).")

    def _show(self, ref: str, as_json: bool, store: FailedJobStore) -> None:
        if not (ref.isdigit() or failures.is_job_id(ref)):
            raise cli.usage_error(f"not a failed-job id or job id: {ref}")
        try:
            item = failures.get(ref, store)
        except FailedJobNotFound as exc:
            raise CommandError(str(exc)) from None
        lineage = failures.lineage(item)
        same = failures.count(fingerprint=item.fingerprint) if item.fingerprint else 0
        if as_json:
            cli.json_line(render.details(item, lineage, same), self.stdout)
        else:
            self.stdout.write(render.show(item, lineage, same))

    def _forget(self, refs: list[str], dry_run: bool, store: FailedJobStore) -> None:
        bad = [ref for ref in refs if not (ref.isdigit() or failures.is_job_id(ref))]
        if bad:
            raise cli.usage_error(f"not a failed-job id or job id: {', '.join(bad)}")
        missing = [ref for ref in refs
                   if not failures.forget(ref, dry_run=dry_run, within=store)]
        done = len(refs) - len(missing)
        verb = "Would forget" if dry_run else "Forgot"
        self.stdout.write(f"{verb} {cli.plural(done, 'failed job')}.")
        if missing:
            self.stdout.write(f"Not found: {', '.join(missing)}")
            sys.exit(1)
