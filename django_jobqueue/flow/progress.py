"""Progress a running job reported (``self.set_progress(done, total, message)``), read back
from its status record (:func:`~.names.status_name`, written by :mod:`.running`).

Kept apart from :mod:`.status` so that pages listing many jobs (``queue_status``, the
admin's Queues page and a queue's jobs) can read the progress of all of them in one read of
the store, without importing the job lookup that :mod:`.status` needs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.db import DatabaseError

from ..exceptions import JobQueueError
from ..logutil import log_event
from ..payload import json_object
from ..shapes import is_number
from ..transports import Transport
from .names import FLOW_SCOPE, status_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """What a running job last reported with ``set_progress``: ``done`` of ``total`` (either
    may be ``None``), a ``message``, and when (``at``, epoch seconds)."""

    done: int | None
    total: int | None
    message: str
    at: float

    @property
    def percent(self) -> float | None:
        """``done`` as a percentage of ``total``; ``None`` without both (or a zero total)."""
        if self.done is None or not self.total:
            return None
        return round(100.0 * self.done / self.total, 1)

    def counted(self) -> str:
        """The counts in a few characters: ``3/4 75%``, ``3/?`` (no total), or ``""``."""
        if self.done is None:
            return ""
        if self.total is None:
            return f"{self.done}/?"
        percent = self.percent
        return f"{self.done}/{self.total}" + ("" if percent is None else f" {percent:g}%")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the ``percent``."""
        return {**asdict(self), "percent": self.percent}


def from_record(record: dict[str, Any] | None) -> Progress | None:
    """The progress a status record holds; ``None`` without a record."""
    if record is None:
        return None
    done, total, message, at = (record.get(key) for key in ("done", "total", "message", "at"))
    return Progress(_count(done), _count(total), str(message or ""),
                    float(at) if is_number(at) else 0.0)


def progress_of(transport: Transport, job_ids: Sequence[str]) -> dict[str, Progress]:
    """The progress of those of ``job_ids`` that reported any, by job id: one read of
    ``transport``'s coordination store, however many ids (none: no read). A record that
    cannot be read is left out; a store that does not answer raises its error."""
    names = {status_name(job_id): job_id for job_id in dict.fromkeys(job_ids)}
    if not names:
        return {}
    found = transport.coordination.read(FLOW_SCOPE, list(names))
    result = {}
    for name, job_id in names.items():
        progress = from_record(json_object(found.get(name)))
        if progress is not None:
            result[job_id] = progress
    return result


def reported(transport: Transport, job_ids: Sequence[str]
             ) -> tuple[dict[str, Progress], str]:
    """:func:`progress_of`, for pages that list jobs: a store that does not answer gives no
    progress and the reason (logged as ``progress_unavailable``), never an error: the jobs
    are the answer, their progress only adds to it."""
    try:
        return progress_of(transport, job_ids), ""
    except (JobQueueError, DatabaseError, NotImplementedError) as exc:
        log_event(logger, logging.WARNING, "progress_unavailable", connection=transport.name,
                  error=exc)
        return {}, str(exc) or type(exc).__name__


def _count(value: Any) -> int | None:
    return int(value) if is_number(value) else None


__all__ = ["Progress", "from_record", "progress_of", "reported"]
