"""The supervisor's bookkeeping: turn an attempt's result into ack, release or a failure record.

Order for a permanent failure: record (database, else Redis fallback), then remove the job
from the queue; the ``failed()`` hook runs after, in a work horse. If no store answers,
:class:`TransportError` propagates and the job stays in flight to be settled later.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .. import failures as failed_jobs
from .. import metrics
from .. import payload as payload_codec
from ..exception_text import error_entry
from ..exceptions import PayloadError
from ..failures.record import FailureRecord
from ..jobs import Job, resolve
from ..logutil import log_event
from ..transports import Reserved, Transport
from .execute import SYSTEM_EXCEPTIONS, label_of, policy_decision, with_error

logger = logging.getLogger("django_jobqueue.worker")


class Bookkeeper:
    """Applies outcomes to one transport on behalf of worker ``worker``."""

    def __init__(self, transport: Transport, worker: str) -> None:
        self.transport = transport
        self.worker = worker

    def retry(self, job: Reserved, delay: float, payload: str) -> None:
        if not self.transport.release(job, delay, payload):
            _lease_lost(job, "release")

    def fail(self, job: Reserved, result: dict[str, Any], **death: Any) -> dict[str, Any]:
        """Record a permanent failure, then remove the job. Returns the ``failed_job`` info."""
        [info] = self.record_failures([(job, result, death)])
        self.remove([job])
        return info

    def record_failures(
        self, failures: list[tuple[Reserved, dict[str, Any], dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """Record permanent failures (a busy worker's batch: one write where the store
        can); returns each one's ``failed_job`` info. The jobs stay queued: see
        :meth:`remove`."""
        records = [self._record(job, result, death) for job, result, death in failures]
        recorded = failed_jobs.record_all(records)
        infos = []
        for (job, _, _), record, stored in zip(failures, records, recorded, strict=True):
            log_event(logger, logging.WARNING, "job_failed", job=record.job_class, id=job.id,
                      queue=job.queue, attempts=job.attempts, error=record.exception_class,
                      store=stored.store, failed_id=stored.id)
            infos.append({
                "store": stored.store,
                "id": stored.id,
                "uuid": job.id,
                "queue": job.queue,
                "connection": self.transport.name,
                "exception_class": record.exception_class,
                "attempts": job.attempts,
                "fingerprint": stored.fingerprint,
                "new_fingerprint": stored.new_fingerprint,
            })
        return infos

    def remove(self, jobs: list[Reserved]) -> None:
        """Remove jobs whose failure is recorded (one round trip per queue)."""
        if len(jobs) == 1:
            if not self.transport.ack(jobs[0]):
                _lease_lost(jobs[0], "remove")
        else:
            self.transport.ack_many(jobs)

    def _record(
        self, job: Reserved, result: dict[str, Any], death: dict[str, Any]
    ) -> FailureRecord:
        return FailureRecord(
            uuid=job.id,
            connection=self.transport.name,
            queue=job.queue,
            payload=result["payload"],
            exception=result["exception"],
            exception_class=result["exception_class"],
            message=result["message"][:2000],
            job_class=str(result["job_class"])[:255],
            attempts=job.attempts,
            errors=_errors_of(result["payload"], result["error"]),
            worker=self.worker,
            **death,
        )

    def settle(self, job: Reserved, result: dict[str, Any]) -> dict[str, Any] | None:
        """Apply a horse's result (not ``ok``: those are acked in batches by the caller)."""
        if result["status"] == "retry":
            self.retry(job, float(result["delay"]), result["payload"])
            log_event(logger, logging.INFO, "job_retrying", job=result["job_class"], id=job.id,
                      queue=job.queue, attempt=job.attempts, error=result["exception_class"],
                      retry_in=float(result["delay"]))
            return None
        return self.fail(job, result)

    def system_failure(
        self, job: Reserved, kind: str, message: str, **death: Any
    ) -> dict[str, Any]:
        """Settle an attempt that failed outside the job's code (killed, hard timeout,
        abandoned). Returns the message for a horse to run handlers and hooks."""
        exc = SYSTEM_EXCEPTIONS[kind](message)
        body, cls = _class_of(job.payload)
        decision = policy_decision(body, cls, job.attempts, exc)
        entry = error_entry(exc, job.attempts, self.worker, message)
        payload = with_error(job.payload, body, entry)
        hook: dict[str, Any] = {
            "op": "system", "kind": kind, "message": message, "id": job.id,
            "payload": payload, "attempts": job.attempts, "failed_job": None,
            "delay": decision.delay,
        }
        label = cls.name if cls else "unknown"
        if decision.retry:
            self.retry(job, decision.delay, payload)
            # Counted once settled: a store that is down makes the caller call this again.
            metrics.record_system_failure(job.queue, label, kind, retried=True)
            log_event(logger, logging.WARNING, "job_retrying", job=label, id=job.id,
                       queue=job.queue, attempt=job.attempts, error=kind,
                      retry_in=float(decision.delay))
            return hook
        result = {
            "payload": payload,
            "exception": f"django_jobqueue.exceptions.{kind}: {message}",
            "exception_class": f"django_jobqueue.exceptions.{kind}",
            "message": message,
            "job_class": label_of(cls, body),
            "error": entry,
        }
        hook["failed_job"] = self.fail(job, result, **death)
        metrics.record_system_failure(job.queue, label, kind, retried=False)
        return hook


def _class_of(raw: str) -> tuple[dict[str, Any] | None, type[Job] | None]:
    try:
        body = payload_codec.loads(raw)
    except PayloadError:
        return None, None
    try:
        return body, resolve(body["job"])
    except PayloadError:
        return body, None


def _errors_of(payload: str, last: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        errors = json.loads(payload).get("errors")
    except (ValueError, AttributeError, RecursionError):
        errors = None
    return errors if isinstance(errors, list) and errors else [last]


def _lease_lost(job: Reserved, action: str) -> None:
    # Another worker took the job: it may run twice.
    log_event(logger, logging.WARNING, "lease_lost", id=job.id, queue=job.queue, action=action)
