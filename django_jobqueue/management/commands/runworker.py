"""``manage.py runworker``: run jobs from one connection's queues."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...exceptions import ConfigurationError
from ...logutil import KeyValueFormatter
from ...queue_names import unknown_queue_warnings
from ...worker.burst import StoreGaveUp
from ...worker.heap import freeze_startup_objects
from ...worker.options import (
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    WorkerOptions,
    number_type,
)
from ...worker.supervisor import Supervisor

_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}
PORT = number_type(int, minimum=0, maximum=65535)


class Command(BaseCommand):
    help = (
        "Run a django-jobqueue worker: a supervisor that reserves jobs from QUEUE(s) and runs "
        "them in long-lived work-horse processes. First SIGTERM/SIGINT: finish current jobs "
        "and exit; second: stop at once (interrupted jobs go back to the queue)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "queues", nargs="*", metavar="QUEUE",
            help="Queues to take jobs from, in order of preference (default: DEFAULT_QUEUE).",
        )
        parser.add_argument("--connection", help="JOBQUEUE connection name (default: "
                            "DEFAULT_CONNECTION).")
        parser.add_argument("--burst", action="store_true", help="Exit once no job is ready "
                            "or delayed and none is running.")
        parser.add_argument("--burst-store-wait", type=POSITIVE, dest="store_wait",
                            metavar="SECONDS", help="With --burst: give up (exit code 1) "
                            "when the store has not answered for this long (default 30).")
        parser.add_argument("--no-scheduler", action="store_false", dest="scheduler",
                            help="Do not fire the schedule's periodic jobs (by default every "
                            "worker does, each slot once in all; --burst never does).")
        parser.add_argument("--max-jobs", type=POSITIVE_INT, help="Exit after starting this "
                            "many jobs.")
        parser.add_argument("--max-time", type=POSITIVE, help="Exit after this many seconds "
                            "(current jobs finish first).")
        parser.add_argument("--sleep", type=NON_NEGATIVE, help="Seconds an idle worker waits "
                            "between polls (default: SLEEP setting).")
        parser.add_argument("--concurrency", type=POSITIVE_INT, default=1, help="Number of work "
                            "horses (child processes running jobs), default 1.")
        parser.add_argument("--timeout", type=POSITIVE, help="Timeout in seconds for jobs whose "
                            "class sets none (default: DEFAULT_TIMEOUT setting).")
        parser.add_argument("--exception-handler", action="append", default=[],
                            dest="exception_handlers", metavar="DOTTED.PATH",
                            help="Exception handler (job, exc_type, exc_value, traceback) "
                            "added after EXCEPTION_HANDLERS; repeatable.")
        parser.add_argument("--disable-default-exception-handler", action="store_true",
                            default=None, help="Do not log failures with the default "
                            "handler.")
        parser.add_argument("--work-horse-killed-handler", metavar="DOTTED.PATH",
                            help="Called with (job, retpid, ret_val, rusage) when a work "
                            "horse dies.")
        parser.add_argument("--name", help="Worker name in logs and failure records "
                            "(default: host.pid).")
        parser.add_argument("--shutdown-timeout", type=NON_NEGATIVE, help="Seconds current jobs "
                            "get to finish after the first SIGTERM (default: setting).")
        parser.add_argument("--memory-limit", type=POSITIVE, dest="memory_limit_mb",
                            metavar="MB", help="Kill a horse whose job passes this resident "
                            "memory (the attempt fails with WorkHorseKilled).")
        parser.add_argument("--horse-max-jobs", type=POSITIVE_INT, help="Recycle a horse "
                            "after this many jobs.")
        parser.add_argument("--prefetch", type=NON_NEGATIVE_INT, help="Jobs reserved ahead "
                            "of the horses, so a horse that finishes starts the next "
                            "without waiting for the store (default: PREFETCH, else 32 "
                            "per horse; 0 turns it off). "
                            "Prefetched jobs of a worker that dies go back to the queue "
                            "without losing an attempt.")
        parser.add_argument("--metrics-port", type=PORT, metavar="PORT", help="Serve "
                            "Prometheus metrics on this port (METRICS_ADDR, default "
                            "127.0.0.1; 0 picks a free port; default: METRICS_PORT, else "
                            "none). Needs the 'metrics' extra (prometheus-client).")

    def get_check_kwargs(self, options: dict[str, Any]) -> dict[str, Any]:
        # Django 6.1 runs the database-specific model checks on every alias when none is
        # named, which connects to each database: a worker must start while one is down
        # (it reconnects; failures go to the Redis fallback). As on Django 5.2: none.
        return {**super().get_check_kwargs(options), "databases": []}

    def handle(self, *args: Any, **options: Any) -> None:
        self._configure_logging(options["verbosity"])
        fields = WorkerOptions.__dataclass_fields__
        worker_options = WorkerOptions(**{k: v for k, v in options.items() if k in fields})
        try:
            supervisor = Supervisor(worker_options)
        except ConfigurationError as exc:
            # A connection or handler named on the command line or in settings that cannot
            # work: a usage error (2), like every command's bad arguments.
            raise CommandError(str(exc), returncode=2) from exc
        # Told at start, then run anyway: jobs may be dispatched to it later.
        for line in unknown_queue_warnings(supervisor.queues, supervisor.transport):
            self.stderr.write(line, style_func=self.style.WARNING)
        freeze_startup_objects()
        try:
            supervisor.run()
        except StoreGaveUp as exc:
            raise CommandError(str(exc)) from exc

    @staticmethod
    def _configure_logging(verbosity: int) -> None:
        # Only when the project configured nothing for us: never override LOGGING.
        logger = logging.getLogger("django_jobqueue")
        if logger.handlers or logging.getLogger().handlers:
            return
        handler = logging.StreamHandler()
        handler.setFormatter(KeyValueFormatter())
        logger.addHandler(handler)
        logger.setLevel(_LEVELS.get(verbosity, logging.INFO))
