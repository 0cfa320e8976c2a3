"""``manage.py resume_queue QUEUE [QUEUE ...] [--connection NAME]``: workers take jobs from
paused queues again (Laravel's ``queue:resume``). Everything goes through
:mod:`django_jobqueue.flow.pause`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...flow.pause import resume_queue
from ...flow.pause_text import resumed_message
from .. import cli


class Command(BaseCommand):
    help = (
        "Resume queues of one connection that pause_queue (or the admin) paused: workers "
        "take jobs from them again. A queue that was not paused is said so and left as it "
        "is."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_queue_arguments(parser, "Queues to resume.")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        transport = cli.shared_transport(options["connection"])
        for queue in options["queues"]:
            resumed = resume_queue(queue, transport.name)
            self.stdout.write(resumed_message(queue, transport.name, resumed))
