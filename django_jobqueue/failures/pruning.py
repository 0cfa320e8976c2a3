"""Pruning failed jobs: the table in batches, and the Redis store by age or queue."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from ..exceptions import TransportError
from ..logutil import log_event
from .stores import database_store, redis_is_primary, redis_store

logger = logging.getLogger(__name__)

# Later than any stored ISO timestamp: "every entry" for the Redis age filter.
_END_OF_TIME = dt.datetime.max.replace(tzinfo=dt.UTC)


@dataclass
class PruneReport:
    """What a prune deleted (or, ``dry_run``, would delete): table rows and Redis entries,
    by queue; ``fallback_error`` says why the Redis store could not be pruned."""

    by_queue: dict[str, int] = field(default_factory=dict)
    fallback: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    fallback_error: str = ""

    @property
    def total(self) -> int:
        """Rows and entries removed (or that would be)."""
        return sum(self.by_queue.values()) + sum(self.fallback.values())


def prune_report(
    *,
    older_than: dt.timedelta | None = None,
    keep: int | None = None,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
    everything: bool = False,
    dry_run: bool = False,
    **criteria: Any,
) -> PruneReport:
    """Delete failed jobs older than ``older_than``, matching ``criteria``, beyond the newest
    ``keep`` (each optional; with none of them nothing happens unless ``everything=True``).

    The table is pruned in batches of ``batch_size`` ids (``progress`` gets the running
    total). The Redis store is pruned too when no criterion but ``queue`` narrows the prune
    and ``keep`` is not given (it can only filter by age and queue).
    """
    narrowed = {k: v for k, v in criteria.items() if v is not None}
    if older_than is None and keep is None and not narrowed and not everything:
        raise ValueError("prune() needs older_than, keep or a filter (or everything=True)")
    if keep is not None and keep < 0:
        raise ValueError("keep must be 0 or more")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    redis_can = keep is None and set(narrowed) <= {"queue"}
    if redis_is_primary() and not redis_can:
        raise ValueError("the Redis store can only be pruned by age and queue")
    before = timezone.now() - older_than if older_than is not None else None
    report = PruneReport(dry_run=dry_run)
    if not redis_is_primary():
        report.by_queue = database_store().prune(
            before=before, keep=keep, batch_size=batch_size, progress=progress,
            dry_run=dry_run, **narrowed,
        )
    fallback = redis_store()
    if fallback is not None and redis_can:
        try:
            report.fallback = fallback.prune_by_queue(
                before or _END_OF_TIME, queue=narrowed.get("queue"), dry_run=dry_run
            )
        except TransportError as exc:
            log_event(logger, logging.WARNING, "fallback_prune_failed", error=exc)
            report.fallback_error = str(exc)
    return report


def prune(**options: Any) -> int:
    """:func:`prune_report`, returning the number of rows and entries removed."""
    return prune_report(**options).total
