"""Exceptions raised by django-jobqueue.

Stored failures keep an exception as class path, message and traceback text; these classes
are never rebuilt from stored data by importing a name.
"""

from __future__ import annotations


class JobQueueError(Exception):
    """Base class of every django-jobqueue exception."""


class ConfigurationError(JobQueueError):
    """The JOBQUEUE setting names something that does not exist or cannot work."""


class PayloadError(JobQueueError, ValueError):
    """A payload cannot be built (at dispatch) or read back (in the worker)."""


class UnknownJobClass(PayloadError):
    """A payload names a job class that is not registered in this process."""


class JobTimeout(JobQueueError):
    """A job ran past its ``timeout``."""


class WorkHorseKilled(JobQueueError):
    """The work horse running the job died (OOM kill, segfault, ``os._exit``, hard timeout)."""


class AbandonedJobError(JobQueueError):
    """The job's lease expired: the worker running it died and another worker collected it."""


class JobFailed(JobQueueError):
    """Stands in for a job's own exception in ``failed()`` when the hook runs in another
    work horse than the one that raised it (that horse died first). ``exception_class``
    and ``message`` are the original's."""

    def __init__(self, exception_class: str, message: str) -> None:
        super().__init__(f"{exception_class}: {message}" if exception_class else message)
        self.exception_class = exception_class
        self.message = message


class DontRetry(JobQueueError):
    """Raise (ideally ``from`` the real error) to fail a job at once, without retries."""


class TransportError(JobQueueError):
    """A transport could not reach its store; the operation may be retried later."""


class FailedJobNotFound(JobQueueError, LookupError):
    """No failed job has the given id."""


class UnknownScheduleEntry(JobQueueError, LookupError):
    """No schedule entry has this name (the message suggests a close one)."""


class DuplicateJob(JobQueueError):
    """A unique job cannot be queued again while another job holds its key (an operator's
    retry of a failed unique job; a dispatch answers ``Dispatched(duplicate=True)``)."""


class JobCancelled(JobQueueError):
    """The job was cancelled by an operator: removed before it ran, or stopped while it ran.
    Raise it from ``handle()`` once :attr:`~django_jobqueue.Job.cancel_requested` is set to
    stop early. A cancelled job is kept in the failed-job store under this class, but it is
    not a failure: no retry, no ``failed()``, no ``job_failed`` (``job_cancelled`` instead)."""


class JobExpired(JobQueueError):
    """The job did not start before its expiry (``expires_after``, ``dispatch(expires_at=)``)
    and never ran; it is kept in the failed-job store under this class, as cancelled ones
    are: no retry, no ``failed()``, no ``job_failed``."""



#: Exceptions that end a job without failing it: never retried, no ``failed()``, no
#: ``job_failed``; kept in the failed-job store, told apart by class
#: (:func:`django_jobqueue.failures.record.outcome_of`).
ENDINGS: tuple[type[JobQueueError], ...] = (JobCancelled, JobExpired)
