"""``manage.py pause_queue QUEUE [QUEUE ...] [--connection NAME]``: workers take no new jobs
from these queues until ``resume_queue`` (Laravel's ``queue:pause``). Everything goes
through :mod:`django_jobqueue.flow.pause`."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...flow.pause import pause_queue
from ...flow.pause_text import paused_message
from ...queue_names import unknown_queue_warnings
from .. import cli

BY = "command"  # who paused, as queue_status and the admin show it


class Command(BaseCommand):
    help = (
        "Pause queues of one connection: workers take no new jobs from them (jobs they run "
        "already finish); dispatch still queues jobs there. The pause is kept in the "
        "connection's store, so it survives restarts, until resume_queue; queue_status and "
        "the admin's Queues page show it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_queue_arguments(parser, "Queues to pause (a queue holding no jobs yet can be "
                                "paused ahead of them).")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        transport = cli.shared_transport(options["connection"])
        # Said first, then paused anyway: jobs may be dispatched to it later.
        for line in unknown_queue_warnings(options["queues"], transport,
                                           "the pause holds back only jobs dispatched later"):
            self.stderr.write(line, style_func=self.style.WARNING)
        for queue in options["queues"]:
            asked_at = time.time()
            pause = pause_queue(queue, transport.name, by=BY)
            self.stdout.write(paused_message(pause, asked_at))
