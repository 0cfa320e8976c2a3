"""Report job failures to Sentry through the extension points every user has.

Two ways in, pick one (docs/observability.md):

- every failed attempt, retried or not: add ``"django_jobqueue.contrib.sentry.capture"`` to
  ``EXCEPTION_HANDLERS`` (it runs in the work horse, with the real traceback);
- only jobs that failed for good: ``job_failed.connect(capture_failed)`` (after the failure
  is recorded, so the event can carry the failed-job id and fingerprint).

Neither sends the job's arguments: they may hold secrets, and the admin has them, masked.
When ``sentry_sdk`` is not installed both do nothing, so settings can stay the same
everywhere. Sentry's own logging integration would also report the worker's
``event=job_raised`` lines: with ``capture``, set ``DEFAULT_EXCEPTION_HANDLER = False``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType, TracebackType
from typing import Any


def _sdk() -> ModuleType | None:
    try:
        import sentry_sdk
    except ImportError:
        return None
    return sentry_sdk


@contextmanager
def _scope(sdk: ModuleType) -> Iterator[Any]:
    # sentry-sdk 2 has new_scope(); 1.x only push_scope().
    opener = getattr(sdk, "new_scope", None) or sdk.push_scope
    with opener() as scope:
        yield scope


def _describe(scope: Any, job: Any, extra: dict[str, Any]) -> None:
    # The class's registered name: a job's own ``self.name`` (an argument) must not hide it.
    name = getattr(type(job), "name", None) or (type(job).__name__ if job is not None
                                                 else "unknown")
    scope.set_tag("jobqueue.job_class", name)
    # No queue tag here: ``job.queue`` is the class's default, not always the queue the job
    # was dispatched to. ``capture_failed`` has the real one from the failure record.
    scope.set_context("jobqueue", {
        "job_id": getattr(job, "job_id", None),
        "attempt": getattr(job, "attempt", None),
        "max_tries": getattr(job, "max_tries", None),
        "worker": getattr(job, "worker", None),
        **extra,
    })


def capture(
    job: Any,
    exc_type: type[BaseException],
    exc_value: BaseException,
    traceback: TracebackType | None,
) -> None:
    """An exception handler: report the attempt's exception, then let the chain go on."""
    sdk = _sdk()
    if sdk is None:
        return None
    with _scope(sdk) as scope:
        _describe(scope, job, {})
        sdk.capture_exception((exc_type, exc_value, traceback))
    return None  # not False: the next handler (the default log line) still runs


def capture_failed(sender: Any, job: Any = None, exception: BaseException | None = None,
                   failed_job: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """A ``job_failed`` receiver: report a job that failed for good, with its record."""
    sdk = _sdk()
    if sdk is None or exception is None:
        return
    info = failed_job or {}
    with _scope(sdk) as scope:
        _describe(scope, job, {key: info.get(key) for key in
                               ("store", "id", "attempts", "exception_class", "fingerprint")})
        if info.get("queue"):
            scope.set_tag("jobqueue.queue", info["queue"])
        if info.get("fingerprint"):
            # One Sentry issue per failure group, as the admin groups them.
            scope.fingerprint = ["django-jobqueue", str(info["fingerprint"])]
        sdk.capture_exception(exception)
