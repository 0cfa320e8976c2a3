"""``RunTask``: the one job class that runs every Django Tasks task through the engine.

A task travels as a job whose arguments name the backend alias, the task's path and its
arguments; retries, timeouts, leases, abandoned-job recovery and failure recording are
the engine's, exactly as for any job. ``handle()`` marks the attempt RUNNING, resolves the
task through :mod:`.known` (never by importing the stored path) and calls it; the
outcome is written by the receivers in :mod:`.receivers`.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from ..conf import jobqueue_settings
from ..exceptions import DontRetry, UnknownJobClass
from ..jobs import Job
from ..models import TaskResultRecord
from ..retry import retry_after_from_json
from . import known, results
from .compat import (
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskContext,
    normalize_json,
    task_backends,
    task_started,
)

logger = logging.getLogger(__name__)


class UnknownTask(UnknownJobClass, DontRetry):
    """A RunTask names a task this worker does not know: fails at once (retry it from the
    failed jobs once the code is deployed)."""


class UnrunnableTask(InvalidTask, DontRetry):
    """A RunTask's stored queue, priority or run_after no longer fit its backend (a queue
    removed from its ``QUEUES`` since the task was enqueued, say): fails at once (retry it
    from the failed jobs once the setting is back)."""


class RunTask(Job):
    """Runs one Django Tasks task. Built by ``JobQueueBackend.enqueue``, not by hand."""

    name = "django_jobqueue.tasks.RunTask"

    def __init__(
        self, backend: str, task: str, args: list[Any], kwargs: dict[str, Any],
        result_id: str, queue_name: str = "default", priority: int = 0,
        policy: dict[str, Any] | None = None,
    ) -> None:
        self.backend = backend
        self.task = task
        self.args = args
        self.kwargs = kwargs
        # The result id stays the same when an operator retries the failed job (which
        # gives the job a new id): the retried run updates the original result.
        self.result_id = result_id
        self.queue_name = queue_name
        self.priority = priority
        self.policy = policy or {}

    @classmethod
    def label(cls, payload: dict[str, Any]) -> str:
        """Failed tasks are filed under the task's path, so the admin and the commands
        filter and group them by task, not all under ``RunTask``."""
        task = ((payload.get("data") or {}).get("kwargs") or {}).get("task")
        return task if isinstance(task, str) and task else cls.name

    def dispatch_overrides(self) -> dict[str, Any]:
        """The first job id is the result id; the task's policy goes into the payload."""
        overrides: dict[str, Any] = {"id": self.result_id, **self.policy}
        if "retry_after" in overrides:
            overrides["retry_after"] = retry_after_from_json(overrides["retry_after"])
        return overrides

    def handle(self) -> Any:
        """Mark the attempt RUNNING, resolve the task as enqueued and call it (coroutines are
        returned for the engine to await under the job's timeout)."""
        using = results_database(self.backend)
        row = results.guarded(
            "started", self.result_id, lambda: results.attempt_started(self, using)
        )
        stored = row is not None
        row = row or self._row_in_memory()
        task = self._task_as_enqueued(row)
        result = results.to_task_result(row, task)
        if stored:
            task_started.send(sender=type(task.get_backend()), task_result=result)
        args = list(self.args)
        if task.takes_context:
            args.insert(0, TaskContext(task_result=result))
        if inspect.iscoroutinefunction(task.func):
            return _await_json(task.func(*args, **self.kwargs))
        return normalize_json(task.func(*args, **self.kwargs))

    def _task_as_enqueued(self, row: TaskResultRecord) -> Task:
        registered = known.find(self.task)
        if registered is None:
            raise UnknownTask(
                f"no task {self.task!r} is registered in this worker: is its app installed"
                " and is it defined with @task in the app's tasks module?"
            )
        try:
            return results.as_enqueued(registered, row)
        except InvalidTask as error:
            raise UnrunnableTask(
                f"task {self.task!r} as enqueued (queue {row.queue!r}, priority"
                f" {row.priority}) no longer fits backend {self.backend!r}: {error}"
            ) from error

    def _row_in_memory(self) -> TaskResultRecord:
        """A RUNNING row built from the job, for the context when the results database is
        unreachable (``run_after`` is not in the job: it is ``None`` here)."""
        return TaskResultRecord(
            id=self.result_id, backend=self.backend, task_path=self.task, queue=self.queue_name,
            priority=self.priority, status=TaskResultRecord.Status.RUNNING, args=self.args,
            kwargs=self.kwargs, worker_ids=[self.worker] * self.attempt,
        )

    def __repr__(self) -> str:
        return f"RunTask({self.task}, id={self.result_id})"


async def _await_json(coroutine: Any) -> Any:
    return normalize_json(await coroutine)


def results_database(backend: str) -> str:
    """The results database of backend ``backend`` (``FAILED_DATABASE`` if unknown)."""
    try:
        instance: BaseTaskBackend = task_backends[backend]
    except Exception:
        return jobqueue_settings.FAILED_DATABASE
    return getattr(instance, "results_database", jobqueue_settings.FAILED_DATABASE)
