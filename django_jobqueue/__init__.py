"""django-jobqueue: background jobs for Django, best at what happens when they fail.

Public API: :class:`Job`, :func:`dispatch`, :func:`dispatch_many`,
:class:`ExponentialBackoff`, :func:`cancel`, :func:`cancel_jobs`, :func:`job_status` and
the exceptions. Importing this package loads no models.
"""

from __future__ import annotations

from .dispatch import Dispatched, dispatch, dispatch_many
from .exceptions import (
    AbandonedJobError,
    ConfigurationError,
    DontRetry,
    FailedJobNotFound,
    JobCancelled,
    JobExpired,
    JobFailed,
    JobQueueError,
    JobTimeout,
    PayloadError,
    TransportError,
    UnknownJobClass,
    WorkHorseKilled,
)
from .flow.cancel import cancel, cancel_jobs
from .flow.status import JobStatus, job_status
from .jobs import Job
from .retry import ExponentialBackoff

__all__ = [
    "AbandonedJobError",
    "ConfigurationError",
    "Dispatched",
    "DontRetry",
    "ExponentialBackoff",
    "FailedJobNotFound",
    "Job",
    "JobCancelled",
    "JobExpired",
    "JobFailed",
    "JobQueueError",
    "JobStatus",
    "JobTimeout",
    "PayloadError",
    "TransportError",
    "UnknownJobClass",
    "WorkHorseKilled",
    "cancel",
    "cancel_jobs",
    "dispatch",
    "dispatch_many",
    "job_status",
]

__version__ = "0.1.0"
