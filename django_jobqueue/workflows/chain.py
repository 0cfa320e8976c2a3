"""Chains: jobs that run one after another, each once the one before succeeded.

``chain(A(...), B(...), C(...)).dispatch()`` queues ``A``, carrying ``B`` and ``C``. When a
step succeeds, the worker that ran it pushes the next one before it acks the step, behind
a lock granted once, so a worker killed in between pushes it once, not twice, and never
loses it. When a step fails for good, the rest are *held*: kept in its failed-job record,
shown there and by :func:`~django_jobqueue.job_status` (``"held"``). Retrying that record
resumes the chain from the failed step; deleting it cancels the rest (kept as cancelled).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from django.db import DEFAULT_DB_ALIAS, transaction

from ..dispatch import Dispatched, Prepared, defers, push_prepared
from ..exceptions import PayloadError
from ..flow.names import FLOW_SCOPE, status_name
from ..logutil import log_event
from ..transports import get_transport
from .build import check_reachable, new_id, prepared, refuse_unique, with_mark, workflow_ttl
from .marks import CHAIN, ChainMark

if TYPE_CHECKING:
    from ..jobs import Job

logger = logging.getLogger("django_jobqueue.workflows")

#: The state ``job_status`` tells of a later step while the steps before it run.
WAITING = "waiting"


@dataclass(frozen=True)
class ChainDispatched:
    """A dispatched chain: its ``id`` and each step as dispatched (only the first is
    queued; the others' ids are known now and kept when they are pushed)."""

    id: str
    steps: tuple[Dispatched, ...]


class Chain:
    """Jobs to run in order, each after the one before succeeded (see :func:`chain`)."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        if not jobs:
            raise PayloadError("a chain needs at least one job")
        self.jobs = tuple(jobs)

    def dispatch(self, *, delay: float = 0, queue: str | None = None,
                 connection: str | None = None, using: str | None = None) -> ChainDispatched:
        """Queue the first step (after ``delay`` seconds; at the commit of a transaction
        on ``using``, as :func:`~django_jobqueue.dispatch` does). ``queue`` and
        ``connection``, when given, apply to every step. Every step is validated first,
        so a bad one queues nothing."""
        chain_id = new_id()
        steps = [prepared(job, delay=delay if n == 0 else 0, queue=queue, connection=connection)
                 for n, job in enumerate(self.jobs)]
        for ready, _ in steps[1:]:
            refuse_unique(ready, "a chain's later step")
        check_reachable(ready.connection for ready, _ in steps)
        first, body = steps[0]
        mark = ChainMark(chain_id, 0, len(steps), tuple(b for _, b in steps[1:]))
        first = with_mark(first, body, CHAIN, mark.as_json())
        pushed = _send(first, _waiting_notes(chain_id, steps), using or DEFAULT_DB_ALIAS)
        return ChainDispatched(chain_id, (pushed, *(ready.result for ready, _ in steps[1:])))


def chain(*jobs: Job) -> Chain:
    """The chain of ``jobs``: ``chain(A(1), B(2)).dispatch()`` runs ``B(2)`` once ``A(1)``
    succeeded (see :mod:`django_jobqueue.workflows.chain`)."""
    return Chain(jobs)


@dataclass(frozen=True)
class _Note:
    """The status record of a later step while the steps before it run."""

    connection: str
    job_id: str
    record: str

    def write(self) -> None:
        get_transport(self.connection).coordination.write(
            FLOW_SCOPE, status_name(self.job_id), self.record, ttl=workflow_ttl())


def _waiting_notes(chain_id: str, steps: Sequence[tuple]) -> list[_Note]:
    """A status record for each later step, so ``job_status`` tells what it waits on."""
    notes = []
    for n in range(1, len(steps)):
        ready, _ = steps[n]
        record = {"state": WAITING, "chain": chain_id, "after": steps[n - 1][0].result.id,
                  "step": n, "steps": len(steps), "queue": ready.result.queue,
                  "at": time.time()}
        notes.append(_Note(ready.connection, ready.result.id, json.dumps(record)))
    return notes


def _send(first: Prepared, notes: Sequence[_Note], using: str) -> Dispatched:
    """The later steps' notes, then the first step: both at once, or both at the commit
    of the transaction on ``using`` when the first step waits for it (then none if it
    rolls back). Notes first: once pushed, the first step may end and tell the second's
    status before a note written after it. (Where the first step joins the transaction, a
    note on a store outside it is kept if it rolls back, until ``WORKFLOW_TTL``.)"""
    if defers(get_transport(first.connection), using):
        transaction.on_commit(partial(_send_at_commit, first, notes, using), using=using,
                              robust=False)
        return first.result
    for note in notes:
        note.write()
    return push_prepared(first, using=using)


def _send_at_commit(first: Prepared, notes: Sequence[_Note], using: str) -> None:
    """The notes, then the first step, at the commit. A note whose store does not answer
    is logged and the chain queued all the same: its step's status reads ``unknown``
    until it is pushed, where a raise here would leave the chain never queued."""
    for note in notes:
        try:
            note.write()
        except Exception as error:
            log_event(logger, logging.WARNING, "chain_waiting_not_noted", id=note.job_id,
                      connection=note.connection, error=type(error).__name__,
                      detail=str(error)[:300])
    push_prepared(first, using=using)
