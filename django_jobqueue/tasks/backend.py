"""``JobQueueBackend``: Django's Tasks framework on django-jobqueue.

::

    TASKS = {
        "default": {
            "BACKEND": "django_jobqueue.tasks.JobQueueBackend",
            "QUEUES": ["default", "emails"],
            "OPTIONS": {"CONNECTION": "default", "MAX_TRIES": 3, "RETRY_AFTER": [10, 60]},
        }
    }
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core import checks
from django.db import connections
from django.utils import timezone

from ..conf import jobqueue_settings
from ..dispatch import dispatch
from . import known, policy, results
from .compat import (
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    normalize_json,
    task_enqueued,
)
from .job import RunTask

DEFAULT_RETENTION_DAYS = 7


class JobQueueBackend(BaseTaskBackend):
    """Runs tasks as django-jobqueue jobs: retries, timeouts, results, failed-job handling.

    OPTIONS: ``CONNECTION`` (a ``JOBQUEUE["CONNECTIONS"]`` name; default
    ``DEFAULT_CONNECTION``), ``MAX_TRIES``, ``RETRY_AFTER``, ``TIMEOUT`` (defaults for
    tasks that set none), ``RESULTS_DATABASE`` (default ``FAILED_DATABASE``) and
    ``RESULT_RETENTION_DAYS`` (default 7, used by ``prune_task_results``).
    """

    task_class = policy.JobQueueTask

    supports_defer = True
    """``run_after`` becomes the job's delay: the transport keeps it until due."""

    supports_async_task = True
    """Coroutine tasks run on the work horse's event loop, under the task's timeout."""

    supports_get_result = True
    """Results live in ``queue_task_results``, readable from any process."""

    supports_priority = True
    """Priorities order ready jobs within a queue on every transport (-100 to 100)."""

    @property
    def connection_name(self) -> str:
        return self.options.get("CONNECTION") or jobqueue_settings.DEFAULT_CONNECTION

    @property
    def results_database(self) -> str:
        return self.options.get("RESULTS_DATABASE") or jobqueue_settings.FAILED_DATABASE

    @property
    def retention(self) -> dt.timedelta:
        return dt.timedelta(days=self.options.get("RESULT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """Write the READY result, then dispatch the job (after the surrounding transaction
        commits, as for any job); send ``task_enqueued``."""
        self.validate_task(task)
        known.remember(task)
        # The same normalisation TaskResult applies: non-JSON arguments raise here.
        args, kwargs = normalize_json(list(args)), normalize_json(dict(kwargs))
        now, result_id = timezone.now(), uuid.uuid4().hex
        job = RunTask(
            backend=self.alias, task=task.module_path, args=args, kwargs=kwargs,
            result_id=result_id, queue_name=task.queue_name, priority=task.priority,
            policy=policy.resolve(task, self.options),
        )
        results.create(
            result_id=result_id, backend=self.alias, task=task, args=args, kwargs=kwargs,
            enqueued_at=now, using=self.results_database,
        )
        try:
            dispatch(
                job, delay=_delay(task.run_after, now), queue=task.queue_name,
                connection=self.connection_name, priority=task.priority,
            )
        except Exception:
            # Nothing will run it: no READY result may stay behind.
            results.discard(result_id, self.results_database)
            raise
        result = TaskResult(
            task=task, id=result_id, status=TaskResultStatus.READY, enqueued_at=now,
            started_at=None, finished_at=None, last_attempted_at=None, args=args,
            kwargs=kwargs, backend=self.alias, errors=[], worker_ids=[],
        )
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        """The stored result, its task as enqueued; ``TaskResultDoesNotExist`` for unknown
        ids (and for results of tasks this process cannot find, their code not being loaded
        here, or whose queue, priority or run_after this backend no longer accepts)."""
        row = results.fetch(str(result_id), self.alias, self.results_database)
        if row is None:
            raise TaskResultDoesNotExist(result_id)
        registered = known.find(row.task_path)
        if registered is None:
            raise TaskResultDoesNotExist(
                f"{result_id}: its task {row.task_path!r} is not registered in this process"
            )
        try:
            task = results.as_enqueued(registered, row)
        except InvalidTask as error:
            raise TaskResultDoesNotExist(
                f"{result_id}: its task {row.task_path!r} as enqueued no longer fits"
                f" backend {self.alias!r}: {error}"
            ) from error
        return results.to_task_result(row, task)

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        """Configuration errors at startup: connection, results database, policy."""
        yield from super().check(**kwargs)
        where = f"TASKS[{self.alias!r}]['OPTIONS']"
        if self.connection_name not in jobqueue_settings.CONNECTIONS:
            yield _error(
                f"{where}['CONNECTION'] is {self.connection_name!r}, which is not in"
                " JOBQUEUE['CONNECTIONS'].", 101,
            )
        if self.results_database not in connections:
            yield _error(
                f"{where}['RESULTS_DATABASE'] {self.results_database!r} is not in DATABASES.",
                102,
            )
        try:
            policy.validate(**{
                field: self.options.get(key) for field, key in policy.OPTION_KEYS.items()
            })
        except ValueError as exc:
            yield _error(f"{where}: {exc}", 103)
        days = self.options.get("RESULT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
        if not isinstance(days, (int, float)) or isinstance(days, bool) or days <= 0:
            yield _error(f"{where}['RESULT_RETENTION_DAYS'] must be a positive number.", 104)
        if "django_jobqueue" not in settings.INSTALLED_APPS:
            yield _error("JobQueueBackend needs 'django_jobqueue' in INSTALLED_APPS.", 105)


def _delay(run_after: dt.datetime | None, now: dt.datetime) -> float:
    if run_after is None:
        return 0.0
    if timezone.is_naive(run_after) and timezone.is_aware(now):
        now = timezone.make_naive(now)
    return max((run_after - now).total_seconds(), 0.0)


def _error(message: str, code: int) -> checks.Error:
    return checks.Error(message, id=f"django_jobqueue.E{code:03d}")
