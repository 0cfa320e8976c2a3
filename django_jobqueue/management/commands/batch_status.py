"""``manage.py batch_status``: how far a batch got."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...workflows import BatchStatus
from ...workflows.text import counts_text, title
from .. import batches, cli
from ..render import when


class Command(BaseCommand):
    help = (
        "Show a batch's progress: how many of its jobs succeeded, failed, were cancelled or "
        "are pending (with the percentage ended), its callbacks, the connections of its "
        "jobs, whether the rest was cancelled, and the first ids of its failed jobs. Exit "
        "code 1 if no store knows the batch (never dispatched, or forgotten)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        batches.add_arguments(parser)
        parser.add_argument("--failed", type=cli.count, default=10, metavar="N",
                            help="List the ids of at most N failed jobs (default 10; 0: "
                            "none).")
        parser.add_argument("--json", action="store_true", help="One JSON object.")

    @cli.store_errors
    def handle(self, *args: Any, **options: Any) -> None:
        status = batches.found(options, failed_ids=options["failed"])
        if options["json"]:
            cli.json_line(status.as_dict(), self.stdout)
        else:
            self.stdout.write(_text(status))


def _text(status: BatchStatus) -> str:
    """The batch, for a person: its name and counts, then what goes with them."""
    state = "complete" if status.complete else "running"
    facts = [
        ("Created", when(status.created_at)),
        ("Progress", counts_text(status)),
        ("State", state + (", the rest was cancelled (workers stop any job of it they take)"
                           if status.cancel_requested else "")),
        ("Callbacks", ", ".join(status.callbacks) or "none"),
        ("Connections", ", ".join(status.connections)),
    ]
    if status.failed_ids:
        more = status.failed > len(status.failed_ids)
        facts.append(("Failed jobs", ", ".join(status.failed_ids) + (" ..." if more else "")))
    if status.failed:
        facts.append(("Retry them", f"manage.py retry_batch {status.id}"))
    width = max(len(label) for label, _ in facts) + 1
    lines = [f"{title(status).capitalize()} on connection {status.home}"]
    lines += [f"  {(label + ':').ljust(width)} {cli.one_line(value)}" for label, value in facts]
    return "\n".join(lines)
