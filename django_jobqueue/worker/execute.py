"""Running one attempt of a job, in a work horse (or in-process for the memory transport).

The steps: rebuild the job from its payload through the registry, run ``handle()`` under its
timeout, and on an exception (``sys.exit()`` included: it ends the attempt, not the horse)
run the handler chain and let the retry policy decide (:func:`failure_of`, which the
supervisor uses too for attempts it ends). The result is a :class:`~.protocol.Result` the
supervisor settles with the store; job code never runs in the supervisor (only the
work-horse-killed handler does, as in RQ, since it is about a horse that is gone).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import job_ends, signals
from .. import payload as payload_codec
from ..conf import jobqueue_settings
from ..exception_text import class_path, error_entry, exception_text, safe_message
from ..exceptions import (
    AbandonedJobError,
    JobCancelled,
    JobExpired,
    JobFailed,
    JobTimeout,
    PayloadError,
    WorkHorseKilled,
)
from ..failures.record import outcome_of
from ..flow.running import RunContext, store_probe
from ..jobs import Job, resolve
from ..logutil import exception_for_log, log_event
from ..retry import decide, is_unrecoverable, retry_after_from_json
from .handlers import ExceptionHandler, run_chain
from .protocol import Failure, Hook, Result, Run, SystemFailure

logger = logging.getLogger("django_jobqueue.worker")

SYSTEM_EXCEPTIONS: dict[str, type[Exception]] = {
    "JobTimeout": JobTimeout,
    "WorkHorseKilled": WorkHorseKilled,
    "AbandonedJobError": AbandonedJobError,
    "JobCancelled": JobCancelled,
    "JobExpired": JobExpired,
}


@dataclass
class Pending:
    """A failed job whose ``failed()`` hook waits for the supervisor to record the failure."""

    job: Job | None
    job_id: str
    exception: BaseException
    timeout: float


class _Alarm(BaseException):
    """Raised by SIGALRM; a BaseException so ``except Exception`` in user code cannot eat it."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Alarm()


class _Exited(Exception):
    """Carries a coroutine's ``SystemExit`` or ``KeyboardInterrupt`` out of the event loop.
    Raised bare, asyncio lets them escape its machinery and leaves a task behind that raises
    them again at the loop's next run: the horse's next async job would fail with them."""

    def __init__(self, exited: BaseException) -> None:
        super().__init__(type(exited).__name__)
        self.exited = exited


async def _contained(awaitable: Any) -> Any:
    try:
        return await awaitable
    except (SystemExit, KeyboardInterrupt) as exited:
        raise _Exited(exited) from None


def job_exceptions() -> tuple[type[BaseException], ...]:
    """What job code may raise that fails the attempt (or is logged, from a hook) instead
    of ending the process running it: ``Exception``s, and ``SystemExit`` (``sys.exit()``).
    ``KeyboardInterrupt`` too where SIGINT is ignored, as in a work horse: only job code can
    raise it there. Elsewhere (``testing.work()`` in a test run) it is Ctrl-C, and stops."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return (Exception, SystemExit, KeyboardInterrupt)
    return (Exception, SystemExit)


def call_with_timeout(
    func: Callable[[], Any], timeout: float, loop: asyncio.AbstractEventLoop | None
) -> Any:
    """Call ``func`` (sync, or returning a coroutine) under ``timeout`` seconds.

    A SIGALRM timer bounds blocking code (``time.sleep``,
    busy loops); for coroutines ``asyncio.wait_for`` fires first and the timer, set a little
    later, only catches a coroutine that blocks its event loop.
    """
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    is_async = inspect.iscoroutinefunction(func)
    signal.setitimer(signal.ITIMER_REAL, timeout + (min(1.0, timeout / 2) if is_async else 0))
    try:
        result = func()
        if inspect.isawaitable(result):
            result = _await(result, timeout, loop or asyncio.new_event_loop())
        return result
    except _Alarm:
        raise JobTimeout(f"job exceeded its timeout of {timeout:g}s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _await(awaitable: Any, timeout: float, loop: asyncio.AbstractEventLoop) -> Any:
    try:
        return loop.run_until_complete(asyncio.wait_for(_contained(awaitable), timeout))
    except TimeoutError:
        raise JobTimeout(f"job exceeded its timeout of {timeout:g}s") from None
    except _Exited as carrier:
        exited = carrier.exited
    raise exited  # outside the handler: the carrier must not become its context


def rebuild(raw: str) -> tuple[dict[str, Any], Job]:
    """The payload and a fresh job instance; :class:`PayloadError` when that is impossible."""
    body = payload_codec.loads(raw)
    return body, build(body)


def build(body: dict[str, Any]) -> Job:
    """A job instance from a parsed payload, through the registry only."""
    cls = resolve(body["job"])
    args, kwargs = payload_codec.decode_data(body)
    try:
        job = cls(*args, **kwargs)
    except TypeError as exc:
        raise PayloadError(f"arguments no longer fit {cls.name}: {exc}") from exc
    return job


def run_attempt(
    run: Run,
    chain: Sequence[ExceptionHandler],
    loop: asyncio.AbstractEventLoop | None = None,
    cancelled: Callable[[str], bool] | None = None,
) -> tuple[Result, Pending | None]:
    """Run one attempt. Returns the result for the supervisor and, when the job failed for
    good, what its ``failed()`` hook needs once the failure is recorded. ``cancelled(id)``
    tells whether the job's cancel request reached its horse (default: ask the store)."""
    body: dict[str, Any] | None = None
    job: Job | None = None
    try:
        # The payload's one parse in this process; apart from rebuilding, so a failure of
        # an unknown class still names it.
        body = payload_codec.loads(run.payload)
        job = build(body)
        job.attempt, job.job_id, job.worker = run.attempts, run.id, run.worker
        job._jq_run = _context(run, body, cancelled)
        if "schedule" in body:
            job.scheduled_for = job_ends.scheduled_for(body)
        job_ends.started(body, run.id)
        value = call_with_timeout(job.handle, run.timeout, loop)
    except job_exceptions() as exc:
        tb = sys.exc_info()[2]
        if not isinstance(exc, JobCancelled):  # an end the job chose, not an error
            run_chain(chain, job, exc, tb)
        return _failed(run, body, job, exc, tb)
    job._jq_run.succeeded()
    signals.job_succeeded.send_robust(
        sender=type(job), job=job, job_id=run.id, attempt=run.attempts, result=value
    )
    return Result(run.id, type(job).name, recycle=False), None


def _context(
    run: Run, body: dict[str, Any], cancelled: Callable[[str], bool] | None
) -> RunContext:
    connection = str(body.get("connection") or jobqueue_settings.DEFAULT_CONNECTION)
    probe = (lambda: cancelled(run.id)) if cancelled is not None else store_probe(
        connection, run.id)
    return RunContext(run.id, str(body.get("queue") or ""), connection, probe,
                      batch=body.get("batch"), callback=body.get("batch_callback"))


def _failed(
    run: Run, body: dict[str, Any] | None, job: Job | None, exc: BaseException, tb: Any
) -> tuple[Result, Pending | None]:
    cls = type(job) if job is not None else None
    failure = failure_of(exc, run.attempts, run.worker, cls, body, tb)
    # A metrics label: the registry's name, never one a payload made up.
    result = Result(run.id, cls.name if cls is not None else "unknown", False, failure)
    if failure.retry:
        signals.job_retrying.send_robust(
            sender=cls or Job, job=job, job_id=run.id, exception=exc, attempt=run.attempts,
            delay=failure.delay,
        )
        return result, None
    return result, Pending(job, run.id, exc, run.timeout)


def failure_of(
    exc: BaseException,
    attempt: int,
    worker: str,
    cls: type[Job] | None,
    body: dict[str, Any] | None,
    tb: Any = None,
) -> Failure:
    """The one way a failed attempt becomes a :class:`Failure`, whether it failed in job
    code (in a horse) or the supervisor ended it (``tb`` None): the retry policy's
    decision, the error entry, the stored text and the class it is filed under."""
    text = safe_message(exc)
    entry = error_entry(exc, attempt, worker, text)
    # A job that cannot be rebuilt will not rebuild next time either: no retries.
    decision = policy_decision(body, cls, attempt, exc)
    return Failure(
        retry=decision.retry,
        delay=decision.delay,
        error=entry,
        exception=exception_text(exc, tb, text),
        exception_class=entry["exception_class"],
        message=text,
        job_class=label_of(cls, body),
    )


def label_of(cls: type[Job] | None, body: dict[str, Any] | None) -> str:
    """The ``job_class`` a failure is filed under; a broken label hook falls back to the
    registry name, an unknown class to the name the payload gives."""
    if cls is None or body is None:
        return str((body or {}).get("job", "?"))
    try:
        return str(cls.label(body))[:255]
    except Exception as error:
        log_event(logger, logging.ERROR, "job_label_raised", job=cls.name,
                  error=type(error).__name__, traceback=exception_for_log(error))
        return cls.name


def policy_decision(
    body: dict[str, Any] | None, cls: type[Job] | None, attempt: int, exc: BaseException
) -> Any:
    """The retry policy applied to a job's payload and class."""
    if body is None or cls is None:
        return decide(attempts=attempt, max_tries=1, retry_after=0, unrecoverable=True)
    max_tries = int(body.get("max_tries") or cls.max_tries or jobqueue_settings.DEFAULT_MAX_TRIES)
    try:
        # A policy set per instance travels in the payload and wins over the class's.
        stored = body.get("retry_after")
        retry_after = cls.retry_after if stored is None else retry_after_from_json(stored)
        if retry_after is None:
            retry_after = jobqueue_settings.DEFAULT_RETRY_AFTER
        return decide(
            attempts=attempt,
            max_tries=max_tries,
            retry_after=retry_after,
            unrecoverable=is_unrecoverable(exc, cls.dont_retry),
        )
    except Exception as error:
        log_event(logger, logging.ERROR, "retry_after_raised", job=cls.name, retry_in=0.0,
                  error=type(error).__name__, traceback=exception_for_log(error))
        return decide(attempts=attempt, max_tries=max_tries, retry_after=0)


def run_failed_hook(
    pending: Pending, failed_job: dict[str, Any], loop: asyncio.AbstractEventLoop | None = None
) -> None:
    """Call ``job.failed(exception)`` then send ``job_failed``; errors are logged only. A
    job that ended cancelled or expired failed nothing: ``job_cancelled`` is sent instead."""
    job = pending.job
    told = str(failed_job.get("exception_class") or "")
    if _not_a_failure(pending.exception) or outcome_of(told) == "cancelled":
        _ended_not_failed(job, pending.job_id, pending.exception, failed_job, running=True)
        return
    if job is not None:
        try:
            call_with_timeout(lambda: job.failed(pending.exception), pending.timeout, loop)
        except job_exceptions() as error:
            log_event(logger, logging.ERROR, "failed_hook_raised", job=type(job).name,
                      id=pending.job_id, error=type(error).__name__,
                      traceback=exception_for_log(error))
    signals.job_failed.send_robust(
        sender=type(job) if job is not None else Job,
        job=job,
        job_id=pending.job_id,
        exception=pending.exception,
        failed_job=failed_job,
    )


def stand_in(hook: Hook) -> Pending:
    """What a ``failed()`` hook needs when the horse that ran the job is gone: the job
    rebuilt from its payload and a :class:`JobFailed` carrying the original exception's
    class and message (the exception itself lived in that horse)."""
    told = hook.stand_in
    if told is None:  # never sent so: only the horse holding the exception gets no stand-in
        return Pending(None, hook.id, JobFailed("", ""), hook.timeout)
    exc = JobFailed(told.exception_class, told.message)
    job = _rebuilt(told.payload, told.attempts, hook.id, hook.worker)
    return Pending(job, hook.id, exc, hook.timeout)


def run_system_failure(
    message: SystemFailure,
    chain: Sequence[ExceptionHandler],
    loop: asyncio.AbstractEventLoop | None = None,
) -> None:
    """Handlers and hooks for a failure the supervisor saw: a killed horse, a hard timeout,
    an abandoned job. The exception is one of ours, built here, never imported by name."""
    exc = SYSTEM_EXCEPTIONS[message.kind](message.message)
    job = _rebuilt(message.payload, message.attempts, message.id, message.worker)
    if isinstance(exc, (JobCancelled, JobExpired)):
        # Not a failure: no handlers, no failed(), no job_failed.
        _ended_not_failed(job, message.id, exc, message.failed_job or {},
                          running=message.ran)
        return
    run_chain(chain, job, exc, None)
    if message.failed_job is None:
        signals.job_retrying.send_robust(
            sender=type(job) if job else Job, job=job, job_id=message.id, exception=exc,
            attempt=message.attempts, delay=message.delay,
        )
        return
    pending = Pending(job, message.id, exc, message.timeout)
    run_failed_hook(pending, message.failed_job, loop)


def _not_a_failure(exc: BaseException) -> bool:
    if isinstance(exc, JobFailed):  # a stand-in names the class the other horse had
        return outcome_of(exc.exception_class) != "failed"
    return isinstance(exc, (JobCancelled, JobExpired))


def _ended_not_failed(
    job: Job | None, job_id: str, exc: BaseException, record: dict[str, Any], running: bool
) -> None:
    """A cancelled job's ``job_cancelled`` (an expired one has no signal of its own: it
    never ran, and its record and log line say so)."""
    name = exc.exception_class if isinstance(exc, JobFailed) else class_path(type(exc))
    if outcome_of(name) != "cancelled" and outcome_of(
            str(record.get("exception_class") or "")) != "cancelled":
        return
    signals.job_cancelled.send_robust(
        sender=type(job) if job is not None else Job, job=job, job_id=job_id,
        queue=record.get("queue", ""), connection=record.get("connection", ""),
        running=running,
    )


def _rebuilt(raw: str, attempts: int, job_id: str, worker: str) -> Job | None:
    try:
        _, job = rebuild(raw)
    except Exception:  # an __init__ that raises, too: handlers and signal get no job
        return None
    job.attempt, job.job_id, job.worker = attempts, job_id, worker
    return job


__all__ = [
    "Pending",
    "call_with_timeout",
    "class_path",
    "exception_text",
    "failure_of",
    "rebuild",
    "run_attempt",
    "run_failed_hook",
    "run_system_failure",
    "stand_in",
]
