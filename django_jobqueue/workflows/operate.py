"""What operators do to workflows (the admin, the commands and the API call these):
retry a batch's failed children, cancel the rest of a batch, and what deleting a chain's
failed step or retrying a batch's child means for the workflow."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import failures
from .. import payload as payload_codec
from ..exceptions import PayloadError
from ..failures.record import FailureRecord
from ..failures.retrying import RetryReport
from ..flow.cancel import cancel
from ..flow.names import FLOW_SCOPE
from ..logutil import log_event
from ..transports import get_transport
from .advance import cancel_rest
from .build import workflow_ttl
from .marks import batch_of, batch_scope, cancel_name, chain_of

logger = logging.getLogger("django_jobqueue.workflows")

#: Pending members read per page when a batch's rest is cancelled.
PAGE = 500


@dataclass
class BatchCancelReport:
    """What :func:`cancel_batch` did: children ``cancelled`` (taken out of their queue and
    kept as cancelled), ``requested`` (a worker held them: asked to stop) and
    ``not_found`` (ended meanwhile, or a retry under a new id: stopped by the batch's
    cancel request when a worker takes it)."""

    batch_id: str
    counts: dict[str, int] = field(default_factory=lambda: {
        "cancelled": 0, "requested": 0, "not_found": 0})

    @property
    def cancelled(self) -> int:
        return self.counts["cancelled"]

    @property
    def requested(self) -> int:
        return self.counts["requested"]


def cancel_batch(batch_id: str, *, by: str = "", connection: str | None = None,
                 progress: Callable[[int], None] | None = None) -> BatchCancelReport:
    """Cancel the children of batch ``batch_id`` that have not ended: a cancel request for
    the batch (which workers read, as they read a job's), then each pending child
    cancelled by its id. Running children are asked to stop, as by
    :func:`~django_jobqueue.cancel`. Each ends as cancelled and is counted so; the batch
    completes once they are, and its ``on_failure`` and ``on_complete`` fire."""
    from .status import batch_status

    status = batch_status(batch_id, connection)
    if status is None:
        raise LookupError(f"no batch {batch_id} (never dispatched, or forgotten)")
    _request(batch_id, by, status.connections)
    report = BatchCancelReport(batch_id)
    tallies, scope = get_transport(status.home).coordination.tallies, batch_scope(batch_id)
    after = ""
    while page := tallies.members(scope, batch_id, "pending", after=after, limit=PAGE):
        for member, _ in page:
            outcome = _cancel_child(member, by, status.connections)
            report.counts[outcome] += 1
            if progress is not None:
                progress(sum(report.counts.values()))
        after = page[-1][0]
    log_event(logger, logging.INFO, "batch_cancelled", batch=batch_id, by=by,
              **report.counts)
    return report


def failed_children(batch_id: str, limit: int | None = None) -> list[FailureRecord]:
    """The failed-job records of batch ``batch_id``'s children that failed for good."""
    return failures.select(limit, batch=batch_id, outcome="failed")


def count_failed_children(batch_id: str) -> int:
    """How many of batch ``batch_id``'s children failed for good and are still recorded
    (what :func:`retry_failed_children` would retry)."""
    return failures.count(batch=batch_id, outcome="failed")


def retry_failed_children(batch_id: str, *, rate: float | None = None, dry_run: bool = False,
                          progress: Callable[[int], None] | None = None) -> RetryReport:
    """Retry every child of batch ``batch_id`` that failed for good (their records go,
    as any retry's do); the batch is complete again once they end, and fires its
    ``on_success`` if every child then succeeded. ``dry_run``: only check each could be
    retried; ``progress`` gets the running count of records handled."""
    report = failures.retry_matching(batch=batch_id, outcome="failed", rate=rate,
                                     dry_run=dry_run, progress=progress)
    if not dry_run:
        log_event(logger, logging.INFO, "batch_children_retried", batch=batch_id,
                  retried=len(report.retried), errors=len(report.errors))
    return report


def reopened(payload: dict[str, Any]) -> None:
    """A batch child is pushed again (an operator's retry): pending in the count again."""
    mark = batch_of(payload)
    if mark is not None:
        get_transport(mark.home).coordination.tallies.reopen(
            mark.scope, mark.id, [mark.member], workflow_ttl())


def discarded(records: Sequence[FailureRecord]) -> int:
    """Records of chain steps were deleted: the steps each held are kept as cancelled."""
    total = 0
    for record in records:
        try:
            chain = chain_of(payload_codec.loads(record.payload))
        except PayloadError:
            continue
        if chain is not None and chain.rest:
            total += cancel_rest(chain, record.uuid,
                                 f"its failed step {chain.step + 1} was deleted")
    return total


def _cancel_child(member: str, by: str, connections: Sequence[str]) -> str:
    for name in connections:
        outcome = cancel(member, name, by=by or "batch").outcome
        if outcome != "not_found":
            return outcome
    return "not_found"


def _request(batch_id: str, by: str, connections: Sequence[str]) -> None:
    """The batch's cancel request, on each connection of its children: a worker reads
    requests from its own."""
    value = json.dumps({"at": time.time(), "by": by})
    for name in connections:
        get_transport(name).coordination.write(
            FLOW_SCOPE, cancel_name(batch_id), value,
            ttl=workflow_ttl())


__all__ = ["BatchCancelReport", "cancel_batch", "count_failed_children", "discarded",
           "failed_children", "reopened", "retry_failed_children"]
