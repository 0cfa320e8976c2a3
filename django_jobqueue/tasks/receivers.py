"""Outcomes of RunTask attempts, written to the task's result from the engine's signals.

Connected in ``AppConfig.ready()`` when ``TASKS`` uses our backend. They run in the work
horse (or the in-process ``testing.work()``), after the engine has decided the outcome, so
a task's result never disagrees with its job: a retry leaves it READY with one more error,
a permanent failure makes it FAILED once the ``queue_failed_jobs`` row exists.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ..signals import job_failed, job_retrying, job_succeeded
from . import known, results
from .compat import InvalidTask, task_finished
from .job import RunTask, results_database


def on_succeeded(sender: Any, job: RunTask, result: Any = None, **kwargs: Any) -> None:
    """SUCCESSFUL with the return value, then ``task_finished``."""
    using = results_database(job.backend)
    row = results.guarded("succeeded", job.result_id, lambda: results.succeeded(job, result, using))
    _finished(job, row)


def on_retrying(sender: Any, job: RunTask | None, exception: BaseException, **kwargs: Any) -> None:
    """One more error; READY until the retry runs."""
    if job is None:
        return
    using = results_database(job.backend)
    results.guarded(
        "retrying", job.result_id,
        lambda: results.attempt_failed(job, exception, final=False, using=using),
    )


def on_failed(sender: Any, job: RunTask | None, exception: BaseException, **kwargs: Any) -> None:
    """FAILED with the last error, then ``task_finished``."""
    if job is None:
        return
    using = results_database(job.backend)
    row = results.guarded(
        "failed", job.result_id,
        lambda: results.attempt_failed(job, exception, final=True, using=using),
    )
    _finished(job, row, exception)


def _finished(job: RunTask, row: Any, exception: BaseException | None = None) -> None:
    registered = known.find(job.task)
    if row is None or registered is None:
        return  # no result or no task to describe: nothing a receiver could use
    try:
        task = results.as_enqueued(registered, row)
    except InvalidTask:
        return  # the attempt failed with UnrunnableTask: no valid task to describe
    send = partial(task_finished.send, sender=type(task.get_backend()),
                   task_result=results.to_task_result(row, task))
    if exception is None:
        send()
        return
    # The framework's own receiver logs a FAILED task with its logger's exception(), which
    # reads the exception being handled: without one it logs "NoneType: None".
    saved = exception.__traceback__, exception.__context__, exception.__suppress_context__
    try:
        raise exception
    except BaseException:
        send()
    finally:
        # Re-raising added this frame to the traceback (and may have set a context): later
        # receivers, error reporters included, must see the exception as the job raised it.
        exception.__traceback__, exception.__context__, exception.__suppress_context__ = saved


def connect() -> None:
    """Connect the receivers (idempotent)."""
    job_succeeded.connect(on_succeeded, sender=RunTask, dispatch_uid="jobqueue.tasks.ok")
    job_retrying.connect(on_retrying, sender=RunTask, dispatch_uid="jobqueue.tasks.retry")
    job_failed.connect(on_failed, sender=RunTask, dispatch_uid="jobqueue.tasks.failed")
