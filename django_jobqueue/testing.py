"""Helpers for users' tests: run queued jobs in this process.

With the memory transport (``django_jobqueue.transports.memory.MemoryTransport``) a test
dispatches jobs and then calls :func:`work` to run them, with the same retry policy,
exception handlers, failure recording, ``failed()`` hooks and signals as a real worker. It
works with the other transports too, when a test wants jobs run without a subprocess.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from . import job_ends
from .conf import jobqueue_settings
from .flow.limits import expired, expiry_message
from .flow.names import FLOW_SCOPE
from .flow.pause import paused
from .transports import Reserved, Transport, get_transport
from .worker.claim import Claim
from .worker.execute import run_attempt, run_failed_hook
from .worker.handlers import build_chain
from .worker.outcomes import Ended, Outcomes, Owed
from .worker.protocol import Run
from .worker.settler import Settler
from .workflows import marks as workflow_marks
from .workflows.advance import End, advance

_tokens = itertools.count()


@dataclass
class WorkResult:
    """What :func:`work` did."""

    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    #: Jobs not started by their expiry: kept as expired, never run.
    expired: int = 0
    #: Jobs that saw their cancel request and stopped (``JobCancelled``): kept as cancelled.
    cancelled: int = 0

    @property
    def attempts(self) -> int:
        return self.succeeded + self.retried + self.failed + self.expired + self.cancelled


def work(
    queues: Sequence[str] | None = None,
    *,
    connection: str | None = None,
    max_jobs: int | None = None,
    wait_for_delayed: float = 0.0,
    exception_handlers: Sequence[str] = (),
) -> WorkResult:
    """Run ready jobs in this process until none is left (or ``max_jobs`` attempts ran).

    ``wait_for_delayed``: also wait up to this many seconds for delayed jobs (retries in
    backoff) to fall due and run them. Paused queues are left alone, and a job past its
    expiry is kept as expired without running, as a worker would; concurrency and rate
    limits do not apply (one job runs at a time here).
    """
    transport = get_transport(connection)
    queues = _not_paused(transport, list(queues or [jobqueue_settings.DEFAULT_QUEUE]))
    books = _settler(transport)
    chain = build_chain(exception_handlers)
    loop = asyncio.new_event_loop()
    result = WorkResult()
    give_up_at = time.monotonic() + wait_for_delayed
    try:
        while max_jobs is None or result.attempts < max_jobs:
            token = f"inline:{next(_tokens)}"
            jobs = transport.reserve(queues, 1, jobqueue_settings.LEASE, token)
            if not jobs:
                if not _any_delayed(transport, queues) or time.monotonic() >= give_up_at:
                    break
                transport.wait(queues, 0.05)
                continue
            _run_one(jobs[0], books, chain, loop, result)
    finally:
        loop.close()
    return result


def _not_paused(transport: Transport, queues: list[str]) -> list[str]:
    """``queues`` but the paused ones, as a worker would take them."""
    stopped = paused(transport.name, queues)
    return [queue for queue in queues if queue not in stopped]


def _settler(transport: Transport) -> Settler:
    # Outcomes are settled at once, never queued: a store that does not answer raises to
    # the test, and the hooks run here, not in a horse.
    return Settler(transport, "inline", Outcomes(), lambda message, pid: None,
                   lambda claim, why: None)


def _run_one(job: Reserved, books: Settler, chain: list, loop, result: WorkResult) -> None:
    claim = Claim.of(job, float(jobqueue_settings.DEFAULT_TIMEOUT))
    now = time.time()
    if expired(claim.document, now):
        _end_unstarted(claim, books, "JobExpired", expiry_message(claim.document, now))
        result.expired += 1
        return
    if _batch_cancelled(books.transport, claim.document):
        _end_unstarted(claim, books, "JobCancelled",
                       "cancelled before it started: its batch's rest was cancelled")
        result.cancelled += 1
        return
    run = Run(claim.id, claim.payload, claim.attempts, "inline", claim.timeout)
    outcome, pending = run_attempt(run, chain, loop)
    if outcome.failure is None:
        if workflow_marks.matters(claim.document):
            advance([End(claim.document, claim.id, "succeeded", claim.payload)])
        books.transport.ack(job)
        job_ends.succeeded(claim.document, claim.id)
        result.succeeded += 1
        return
    item = Owed.failed(claim, outcome.failure, outcome.job, horse_pid=os.getpid())
    if item.failure.retry:
        books.release(item)
        result.retried += 1
        return
    books.record([item])
    books.tell_workflows([item])
    books.remove([claim], {claim.id: item.outcome} if item.not_failed else None)
    if item.not_failed:
        result.cancelled += 1
    else:
        result.failed += 1
    if pending is not None and item.info is not None:
        run_failed_hook(pending, item.info, loop)


def _end_unstarted(claim: Claim, books: Settler, kind: str, message: str) -> None:
    """A job that must not run (expired, its batch cancelled): kept as a worker keeps it."""
    owed = Owed.ended_by(claim, Ended(kind, message, ran=False), "inline")
    books.record([owed])
    books.tell_workflows([owed])
    books.remove([claim], {claim.id: owed.outcome})


def _batch_cancelled(transport: Transport, document: object) -> bool:
    """Whether the job is a child of a batch whose rest was cancelled (a worker's gate
    reads the same request)."""
    mark = workflow_marks.batch_of(document)
    if mark is None:
        return False
    name = workflow_marks.cancel_name(mark.id)
    return name in transport.coordination.read(FLOW_SCOPE, [name])


def _any_delayed(transport, queues: Sequence[str]) -> bool:
    # Ready counts too: a delayed job that fell due since the empty reserve is ready now.
    return any(size.delayed or size.ready for size in map(transport.size, queues))
