"""Unique jobs: a job class with ``unique_for`` is queued only if no job with its key holds
the lock.

The lock is a coordination lock (:mod:`django_jobqueue.coordination`) in the job's queue,
held by the job's id and taken in the same atomic step as the push
(:meth:`~django_jobqueue.transports.Transport.push_guarded`): of many processes dispatching
one key at once, one queues a job. When it ends is the class's ``unique_until``:

- ``"finished"`` (the default, like Laravel's ``ShouldBeUnique``): when the job succeeds or
  fails for good, once the store has that end (its ack, or its failure recorded): a worker
  that dies in between leaves the key held, never released early; a job waiting to retry
  keeps it;
- ``"started"`` (Laravel's ``ShouldBeUniqueUntilProcessing``): when a worker starts it, so
  one more can be queued while it runs;
- ``"queued"``: only its ``unique_for`` ends it, whatever the job does: at most one such
  job per key is queued in any ``unique_for`` seconds.

Whatever the mode, the lock expires ``unique_for`` seconds after the dispatch (store clock):
a job deleted by hand, or a worker that dies between a job's end and the release, holds it
no longer than that. A job whose worker died keeps it while another worker collects and
retries the job, and releases it when that attempt ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .coordination import Lock
from .exceptions import PayloadError
from .logutil import log_event
from .shapes import is_number

if TYPE_CHECKING:
    from .jobs import Job

logger = logging.getLogger(__name__)

UNTIL = ("queued", "started", "finished")


@dataclass(frozen=True)
class UniqueLock:
    """What a unique job's payload carries (``"unique": {"key", "until"}``): the key its
    lock is named by, and when the job releases it."""

    key: str
    until: str

    @property
    def name(self) -> str:
        """The lock's name in the coordination store."""
        return f"unique:{self.key}"

    def guard(self, queue: str, job_id: str, ttl: float) -> Lock:
        """The lock this job takes at dispatch."""
        return Lock(queue, self.name, job_id, ttl)

    def as_json(self) -> dict[str, str]:
        return {"key": self.key, "until": self.until}

    @classmethod
    def of_payload(cls, body: Any) -> UniqueLock | None:
        """The lock a payload names; None for a plain job (or an unreadable entry)."""
        entry = body.get("unique") if isinstance(body, dict) else None
        if not isinstance(entry, dict):
            return None
        key, until = entry.get("key"), entry.get("until")
        if not isinstance(key, str) or until not in UNTIL:
            return None
        return cls(key, until)


def lock_for(job: Job) -> tuple[UniqueLock, float] | None:
    """The lock a dispatch of ``job`` takes and for how long; None when its class is not
    unique. Raises :class:`PayloadError` for a class whose options are wrong."""
    cls = type(job)
    ttl = cls.unique_for
    if ttl is None:
        return None
    if not is_number(ttl) or ttl <= 0:
        raise PayloadError(f"{cls.__name__}.unique_for must be a number of seconds above 0")
    if cls.unique_until not in UNTIL:
        raise PayloadError(
            f"{cls.__name__}.unique_until must be one of {', '.join(UNTIL)},"
            f" not {cls.unique_until!r}")
    key = job.unique_key()
    if not isinstance(key, str) or not key:
        raise PayloadError(f"{cls.__name__}.unique_key() must return a non-empty string")
    return UniqueLock(key, cls.unique_until), float(ttl)


#: The modes whose lock each moment ends. A job that failed for good before it could
#: start (a payload that no longer builds), or was cancelled, ends a ``"started"`` lock
#: too; its holder check makes that a no-op for one released already.
ENDS = {"started": ("started",), "finished": ("finished",), "failed": ("started", "finished"),
        "cancelled": ("started", "finished")}


def release(body: Any, job_id: str, moment: str) -> None:
    """Release the lock of the job ``job_id`` (its payload ``body``) if its mode ends it at
    ``moment`` (``"started"``, ``"finished"``, ``"failed"`` for good, or ``"cancelled"``).
    A store that does not answer is logged: the lock then ends with its ``unique_for``."""
    lock = UniqueLock.of_payload(body)
    if lock is None or lock.until not in ENDS[moment]:
        return
    from .transports import get_transport

    try:
        coordination = get_transport(body.get("connection")).coordination
        released = coordination.release(str(body.get("queue")), lock.name, job_id)
    except Exception as exc:  # never fails the job: the lock's time-to-live ends it
        log_event(logger, logging.WARNING, "unique_release_failed", id=job_id, key=lock.key,
                  error=exc)
        return
    log_event(logger, logging.DEBUG, "unique_released", id=job_id, key=lock.key,
              at=moment, released=released)


__all__ = ["UNTIL", "UniqueLock", "lock_for", "release"]
