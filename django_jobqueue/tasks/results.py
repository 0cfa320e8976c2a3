"""The ``queue_task_results`` table: every write and read of a task's result.

Writes from a work horse go through :func:`guarded`: a results database that is down is
logged and the job goes on (its outcome is still settled by the engine, and a failure still
becomes a ``queue_failed_jobs`` row), because a result must never cost a job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import transaction
from django.utils import timezone

from ..exception_text import cap
from ..logutil import exception_for_log, log_event
from ..models import TaskResultRecord
from .compat import Task, TaskError, TaskResult, TaskResultStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")
Status = TaskResultRecord.Status


def guarded(what: str, result_id: str, write: Callable[[], T]) -> T | None:
    """Run a result write; log and return ``None`` if the database fails."""
    try:
        return write()
    except Exception as error:
        log_event(logger, logging.ERROR, "task_result_not_written", step=what, id=result_id,
                  error=type(error).__name__, traceback=exception_for_log(error))
        return None


def create(
    *, result_id: str, backend: str, task: Task, args: list[Any], kwargs: dict[str, Any],
    enqueued_at: dt.datetime, using: str,
) -> None:
    """The READY row written at enqueue."""
    TaskResultRecord.objects.using(using).create(
        id=result_id, backend=backend, task_path=task.module_path, queue=task.queue_name,
        priority=task.priority, args=args, kwargs=kwargs, run_after=task.run_after,
        enqueued_at=enqueued_at, status=Status.READY,
    )


def discard(result_id: str, using: str) -> None:
    """Delete a result whose job could not be dispatched."""
    TaskResultRecord.objects.using(using).filter(id=result_id).delete()


def fetch(result_id: str, backend: str, using: str) -> TaskResultRecord | None:
    """The row of ``result_id`` for ``backend``, or ``None``."""
    return TaskResultRecord.objects.using(using).filter(id=result_id, backend=backend).first()


def attempt_started(job: Any, using: str) -> TaskResultRecord:
    """Mark a RunTask attempt RUNNING on ``worker``; the row is rebuilt if it is missing
    (a results database other than the enqueuer's, or a pruned row of a retried job)."""
    now = timezone.now()
    with transaction.atomic(using=using):
        row = _locked(job, using, now)
        row.status = Status.RUNNING
        row.started_at = row.started_at or now
        row.last_attempted_at = now
        row.finished_at = None
        row.worker_ids = [*row.worker_ids, job.worker or "unknown"]
        row.save(using=using)
    return row


def succeeded(job: Any, value: Any, using: str) -> TaskResultRecord:
    """Mark the result SUCCESSFUL with its (already JSON-normalised) return value."""
    with transaction.atomic(using=using):
        row = _locked(job, using, timezone.now())
        row.status, row.return_value = Status.SUCCESSFUL, value
        row.finished_at = timezone.now()
        row.save(using=using)
    return row


def attempt_failed(job: Any, exception: BaseException, final: bool, using: str) -> TaskResultRecord:
    """Add the attempt's error; FAILED if ``final``, else READY again for the retry."""
    error = {
        "exception_class_path": _class_path(type(exception)),
        "traceback": cap("".join(traceback.format_exception(exception))),
    }
    with transaction.atomic(using=using):
        row = _locked(job, using, timezone.now())
        row.errors = [*row.errors, error]
        row.status = Status.FAILED if final else Status.READY
        row.finished_at = timezone.now() if final else None
        row.save(using=using)
    return row


def _locked(job: Any, using: str, now: dt.datetime) -> TaskResultRecord:
    rows = TaskResultRecord.objects.using(using).select_for_update()
    row = rows.filter(id=job.result_id).first()
    if row is None:
        row = TaskResultRecord(
            id=job.result_id, backend=job.backend, task_path=job.task, queue=job.queue_name,
            priority=job.priority, args=job.args, kwargs=job.kwargs, enqueued_at=now,
        )
    return row


def _class_path(cls: type) -> str:
    # Django's format, builtins included ("builtins.ValueError"), so that
    # TaskError.exception_class can resolve it.
    return f"{cls.__module__}.{cls.__qualname__}"


def as_enqueued(registered: Task, row: TaskResultRecord) -> Task:
    """``registered`` as it was enqueued: the row's backend, queue, priority and run_after.

    The registered task carries only its ``@task`` defaults; ``.using()`` changed these at
    enqueue and the row kept them. Validated against the row's backend (``InvalidTask``
    when they no longer fit it: a queue removed from its ``QUEUES`` since, say).
    """
    # replace(), not using(): using() keeps the registered run_after when the row has none.
    return dataclasses.replace(
        registered, backend=row.backend, queue_name=row.queue, priority=row.priority,
        run_after=row.run_after,
    )


def to_task_result(row: TaskResultRecord, task: Task) -> TaskResult:
    """The ``TaskResult`` a row stands for; ``task`` is the row's task :func:`as_enqueued`."""
    result = TaskResult(
        task=task, id=row.id, status=TaskResultStatus(row.status),
        enqueued_at=row.enqueued_at, started_at=row.started_at, finished_at=row.finished_at,
        last_attempted_at=row.last_attempted_at, args=row.args, kwargs=row.kwargs,
        backend=row.backend,
        errors=[TaskError(exception_class_path=e["exception_class_path"],
                          traceback=e["traceback"]) for e in row.errors],
        worker_ids=list(row.worker_ids),
    )
    if row.status == Status.SUCCESSFUL:
        object.__setattr__(result, "_return_value", row.return_value)
    return result


def prune(
    *, backend: str, older_than: dt.timedelta, using: str, dry_run: bool = False,
    batch_size: int = 1000,
) -> int:
    """Delete ``backend``'s finished results older than ``older_than``, in batches of ids
    (short statements, no long lock). Returns how many went (or would go)."""
    cutoff = timezone.now() - older_than
    matching = TaskResultRecord.objects.using(using).filter(
        backend=backend, finished_at__lt=cutoff,
        status__in=[Status.SUCCESSFUL, Status.FAILED],
    )
    if dry_run:
        return matching.count()
    deleted = 0
    while True:
        ids = list(matching.values_list("id", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += TaskResultRecord.objects.using(using).filter(id__in=ids).delete()[0]
