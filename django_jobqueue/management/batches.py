"""What the batch commands (``batch_status``, ``retry_batch``, ``cancel_batch``) share: the
batch's id and ``--connection`` arguments, and finding the batch or saying why not."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from ..exceptions import ConfigurationError
from ..workflows import BatchStatus, batch_status
from ..workflows.text import unknown_batch
from . import cli


def add_arguments(parser: CommandParser) -> None:
    """``ID`` and ``--connection NAME``."""
    parser.add_argument("id", metavar="ID", type=cli.batch_id,
                        help="The batch id (32 hex digits), as batch(...).dispatch() "
                        "returns it.")
    parser.add_argument("--connection", metavar="NAME",
                        help="Look for the batch only on this JOBQUEUE connection, its home "
                        "(default: every one).")


def found(options: dict[str, Any], *, failed_ids: int = 0, hint: str = "") -> BatchStatus:
    """The batch the options name; an unknown batch is a ``CommandError`` with exit code 1
    (with ``hint`` after why), an unknown connection a usage error (exit code 2)."""
    try:
        status = batch_status(options["id"], options["connection"], failed_ids=failed_ids)
    except ConfigurationError as exc:
        raise cli.usage_error(str(exc)) from None
    if status is None:
        raise CommandError(f"{unknown_batch(options['id'])}{hint}", returncode=1)
    return status
