"""The shop's failure hooks, named by dotted path in settings.JOBQUEUE (docs/alerts.md).

- ``log_attempt``: the exception-handler chain (after
  ``django_jobqueue.contrib.sentry.capture``, which reports to Sentry where ``sentry_sdk`` is
  installed), called in the work horse for every failed attempt, retries included.
- ``horse_killed``: the WORK_HORSE_KILLED_HANDLER, called in the worker's supervisor.
- ``new_kind_of_failure``: the NEW_FINGERPRINT_HANDLER, called once per kind of failure.

The ``job_failed`` receiver is in ``shop/receivers.py``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)


def log_attempt(job: Any, exc_type: Any, exc_value: BaseException, traceback: Any) -> bool:
    """One line per failed attempt; ``False`` ends the chain, so the built-in handler (the
    whole traceback) does not run: the traceback is kept in queue_failed_jobs anyway."""
    logger.warning(
        "attempt failed: job=%s attempt=%s error=%s: %s",
        type(job).__name__ if job is not None else "?",
        getattr(job, "attempt", "?"),
        exc_type.__name__,
        exc_value,
    )
    return False


def horse_killed(job: Any, retpid: int, ret_val: int, rusage: Any) -> None:
    """A work horse died mid-job; the attempt fails with ``WorkHorseKilled`` after this."""
    logger.error(
        "work horse killed: job=%s pid=%s exit=%s peak_rss_kib=%s",
        type(job).__name__ if job is not None else "?",
        retpid,
        os.waitstatus_to_exitcode(ret_val),
        rusage.ru_maxrss,
    )


def new_kind_of_failure(record: Any) -> None:
    """The first failure of its kind: page someone. This runs while the worker records the
    failure, so the slow part (a chat message, an e-mail) is a job of its own."""
    from shop.jobs import PageOnCall  # late: settings name this module before apps load

    PageOnCall(
        job_class=record.job_class,
        exception_class=record.exception_class,
        fingerprint=record.fingerprint,
    ).dispatch()
