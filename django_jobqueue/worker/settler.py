"""What settles failed attempts with the store, and has their hooks run after.

A retry is released with its delay. A permanent failure is recorded first (database, else
the Redis fallback), then its job is removed from the queue; only then does a horse call
its ``failed()`` hook. An attempt the supervisor ended (a killed horse, a hard timeout, an
abandoned lease) is settled the same way, then any horse runs its handlers and hooks. A
store that does not answer leaves the outcome queued in ``outcomes``, its lease renewed,
until it does. This is the worker's one caller of the failed-job store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .. import failures as failed_jobs
from .. import job_ends, metrics
from ..exceptions import TransportError
from ..failures.record import FailureRecord, outcome_of
from ..logutil import exception_for_log, log_event
from ..transports import Transport
from ..workflows import marks as workflow_marks
from ..workflows.advance import End, advance
from .claim import Claim
from .outcomes import Outcomes, Owed
from .protocol import Hook, StandIn, SystemFailure

logger = logging.getLogger("django_jobqueue.worker")

# Seconds before an outcome the store refused is tried again.
RETRY_OWED = 2.0

RunHook = Callable[[Hook | SystemFailure, int | None], None]
HandBack = Callable[[Claim, str], None]


class Settler:
    """Settles the outcomes due in ``outcomes`` with ``transport`` for worker ``worker``;
    ``run_hook(message, horse_pid)`` has a hook run, ``hand_back(claim, why)`` returns a job
    to the store uncharged."""

    def __init__(
        self, transport: Transport, worker: str, outcomes: Outcomes, run_hook: RunHook,
        hand_back: HandBack,
    ) -> None:
        self.transport, self.worker, self.outcomes = transport, worker, outcomes
        self.run_hook, self.hand_back = run_hook, hand_back

    # -- the queue -----------------------------------------------------------------------------
    def settle_due(self, now: float) -> None:
        """Release retries and record failures that are due; a store that does not answer
        is asked once per pass, and what it did not take waits ``RETRY_OWED`` seconds."""
        due = self.outcomes.take_due(now)
        retries = [item for item in due if item.failure.retry]
        for n, item in enumerate(retries):
            if not self._try([item], now, self._release):
                self._later(retries[n + 1:], now)  # the store does not answer: no more asks
                break
        failures = [item for item in due if not item.failure.retry]
        alone = [item for item in failures if item.alone]
        together = [item for item in failures if not item.alone]
        for item in alone:
            self._try([item], now, self._record)
        if together and not self._try(together, now, self._record):
            for item in together:  # waiting already; next time each is tried by itself
                item.alone = len(together) > 1

    def settle_before_stop(self) -> None:
        """A stop that cannot wait: retries, and failures the supervisor decided itself, are
        settled as decided (hooks are lost with the stop); a failure already recorded is
        removed; one not recorded is handed back uncharged, to run again and be recorded
        (with its hook) then."""
        for item in self.outcomes.take_due(float("inf")):
            try:
                if item.failure.retry:
                    self._release([item])
                    continue
                if item.ended is not None:
                    self._record([item])
                    continue
                if item.info is not None:
                    self.remove([item.claim])
                    continue
            except TransportError:
                # Its lease expires: collected then (a recorded failure is recorded once).
                continue
            self.hand_back(item.claim, "failed but not recorded before the stop")

    def _try(self, items: list[Owed], now: float, settle: Callable[[list[Owed]], None]) -> bool:
        """``settle(items)``; if that fails, they wait and try again (never dropped: an error
        that is not the store's is logged with its traceback and retried all the same)."""
        try:
            settle(items)
            return True
        except TransportError as exc:
            log_event(logger, logging.WARNING, "outcome_deferred", count=len(items),
                      first_id=items[0].claim.id, error=exc)
        except Exception as error:
            log_event(logger, logging.ERROR, "outcome_deferred", count=len(items),
                      first_id=items[0].claim.id, error=type(error).__name__,
                      traceback=exception_for_log(error))
        self._later(items, now)
        return False

    def _later(self, items: list[Owed], now: float) -> None:
        for item in items:
            item.due = now + RETRY_OWED
            self.outcomes.add(item)

    def _release(self, items: list[Owed]) -> None:
        for item in items:
            self.release(item)
            self._done(item)

    def _record(self, items: list[Owed]) -> None:
        self.record([item for item in items if item.info is None])
        self.tell_workflows(items)
        self.remove([item.claim for item in items],
                    {item.claim.id: item.outcome for item in items if item.not_failed})
        for item in items:
            self._done(item)

    def _done(self, item: Owed) -> None:
        """The store took ``item``: count it, and have its handlers and hooks run."""
        claim, failure, ended = item.claim, item.failure, item.ended
        if ended is None:
            if item.info is not None:
                stand_in = StandIn(item.payload, claim.attempts, failure.exception_class,
                                   failure.message)
                hook = Hook(claim.id, item.info, claim.timeout, self.worker, stand_in)
                self.run_hook(hook, item.horse_pid)
            return
        # Counted once settled: a store that is down makes it wait, and it is tried again.
        metrics.record_system_failure(claim.queue, item.name, ended.kind, failure.retry)
        self.run_hook(SystemFailure(
            ended.kind, ended.message, claim.id, item.payload, claim.attempts, self.worker,
            claim.timeout, item.info, failure.delay, ran=ended.ran,
        ), None)

    # -- the store -------------------------------------------------------------------------------
    def release(self, item: Owed) -> None:
        """Put a job to retry back in its queue, due after its delay."""
        claim, failure = item.claim, item.failure
        if not self.transport.release(claim.reserved, failure.delay, item.payload):
            _lease_lost(claim, "release")
        if item.ended is None:
            log_event(logger, logging.INFO, "job_retrying", job=failure.job_class, id=claim.id,
                      queue=claim.queue, attempt=claim.attempts, error=failure.exception_class,
                      retry_in=float(failure.delay))
        else:
            log_event(logger, logging.WARNING, "job_retrying", job=item.name, id=claim.id,
                      queue=claim.queue, attempt=claim.attempts, error=item.ended.kind,
                      retry_in=float(failure.delay))

    def record(self, items: list[Owed]) -> None:
        """Record permanent failures (a busy worker's batch: one write where the store
        can); each item keeps its ``failed_job`` info. The jobs stay queued: see
        :meth:`remove`."""
        if not items:
            return
        records = [self._failure_record(item) for item in items]
        recorded = failed_jobs.record_all(records)
        for item, record, stored in zip(items, records, recorded, strict=True):
            claim = item.claim
            event = _event(record.exception_class)
            level = logging.WARNING if event == "job_failed" else logging.INFO
            log_event(logger, level, event,
                      job=record.job_class, id=claim.id, queue=claim.queue,
                      attempts=claim.attempts, error=record.exception_class,
                      store=stored.store, failed_id=stored.id)
            item.info = {
                "store": stored.store,
                "id": stored.id,
                "uuid": claim.id,
                "queue": claim.queue,
                "connection": self.transport.name,
                "exception_class": record.exception_class,
                "attempts": claim.attempts,
                "fingerprint": stored.fingerprint,
                "new_fingerprint": stored.new_fingerprint,
            }

    def tell_workflows(self, items: list[Owed]) -> None:
        """Tell the workflows of jobs whose end is recorded (a chain held or cancelled, a
        batch's count): before the jobs leave their queue, see :mod:`..workflows.advance`."""
        ends = [End(item.claim.document, item.claim.id, item.outcome, item.claim.payload)
                for item in items if workflow_marks.matters(item.claim.document)]
        if ends:
            advance(ends)

    def remove(self, claims: list[Claim], ended: dict[str, str] | None = None) -> None:
        """Remove jobs whose failure is recorded (one round trip per queue); ``ended``
        names those that did not fail: job id -> ``cancelled`` or ``expired``."""
        if len(claims) == 1:
            if not self.transport.ack(claims[0].reserved):
                # Another worker runs the job again: it holds the job's key, not this one.
                _lease_lost(claims[0], "remove")
                return
        else:
            self.transport.ack_many([claim.reserved for claim in claims])
        ends = {"cancelled": job_ends.cancelled, "expired": job_ends.expired}
        for claim in claims:
            ends.get((ended or {}).get(claim.id, ""), job_ends.failed)(claim.document, claim.id)

    def move_fallback(self) -> int:
        """Move failures written to the Redis fallback into the database, once it answers."""
        return failed_jobs.move_fallback()

    def _failure_record(self, item: Owed) -> FailureRecord:
        claim, failure = item.claim, item.failure
        death: dict[str, Any] = item.ended.death if item.ended is not None else {}
        return FailureRecord(
            uuid=claim.id,
            connection=self.transport.name,
            queue=claim.queue,
            payload=item.payload,
            exception=failure.exception,
            exception_class=failure.exception_class,
            message=failure.message[:2000],
            job_class=str(failure.job_class)[:255],
            # A job ended before it started (cancelled, expired) did not use this attempt.
            attempts=claim.attempts - int(item.ended is not None and not item.ended.ran),
            errors=claim.errors_with(failure.error),
            worker=self.worker,
            **death,
        )


def _event(exception_class: str) -> str:
    """The log event of a job's end: cancelled and expired jobs did not fail."""
    return f"job_{outcome_of(exception_class)}"


def _lease_lost(claim: Claim, action: str) -> None:
    # Another worker took the job: it may run twice.
    log_event(logger, logging.WARNING, "lease_lost", id=claim.id, queue=claim.queue,
              action=action)


__all__ = ["RETRY_OWED", "Settler"]
