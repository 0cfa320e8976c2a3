"""django-jobqueue: background jobs for Django, best at what happens when they fail.

Public API: :class:`Job`, :func:`dispatch`, :func:`dispatch_many`,
:class:`ExponentialBackoff` and the exceptions. Importing this package loads no models.
"""

from __future__ import annotations

from .dispatch import Dispatched, dispatch, dispatch_many
from .exceptions import (
    AbandonedJobError,
    ConfigurationError,
    DontRetry,
    FailedJobNotFound,
    JobFailed,
    JobQueueError,
    JobTimeout,
    PayloadError,
    TransportError,
    UnknownJobClass,
    WorkHorseKilled,
)
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
    "JobFailed",
    "JobQueueError",
    "JobTimeout",
    "PayloadError",
    "TransportError",
    "UnknownJobClass",
    "WorkHorseKilled",
    "dispatch",
    "dispatch_many",
]

__version__ = "0.1.0"
