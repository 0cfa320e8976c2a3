"""What a job's start and end mean beyond its queue: a unique job's lock ends, a scheduled
job's entry learns how its run went. Called by the work horse as a job starts, and by the
supervisor once the store has a job's end (its ack, or its failure for good recorded), so
a worker that dies in between leaves the lock held, not released early; no call can fail
the job."""

from __future__ import annotations

import datetime
from typing import Any

from . import unique
from .schedule import state as schedule_state


def matter(body: Any) -> bool:
    """Whether a job's end means more than its ack (checked for every job: two lookups)."""
    return isinstance(body, dict) and ("unique" in body or "schedule" in body)


def started(body: Any, job_id: str) -> None:
    """The job ``job_id`` (payload ``body``) is about to run."""
    unique.release(body, job_id, "started")


def scheduled_for(body: Any) -> datetime.datetime | None:
    """The slot of a job the schedule fired (None for any other job, or a run by hand)."""
    marker = body.get("schedule") if isinstance(body, dict) else None
    slot = marker.get("slot") if isinstance(marker, dict) else None
    if not isinstance(slot, (int, float)) or isinstance(slot, bool):
        return None
    return datetime.datetime.fromtimestamp(slot, datetime.UTC)


def succeeded(body: Any, job_id: str) -> None:
    """The job ran to the end and the store has its ack."""
    unique.release(body, job_id, "finished")
    schedule_state.record_outcome(body, job_id, "succeeded")


def failed(body: Any, job_id: str) -> None:
    """The job failed for good and its failure is recorded."""
    unique.release(body, job_id, "failed")
    schedule_state.record_outcome(body, job_id, "failed")


def cancelled(body: Any, job_id: str) -> None:
    """The job was cancelled and its record is kept: a unique job's key is free again
    (whatever it was held for but its ``unique_for``), and a scheduled job's entry learns
    that its run was cancelled."""
    unique.release(body, job_id, "cancelled")
    schedule_state.record_outcome(body, job_id, "cancelled")


def expired(body: Any, job_id: str) -> None:
    """The job was not started by its expiry and its record is kept: as a cancelled one,
    its key is free again, and a scheduled job's entry learns that its run expired."""
    unique.release(body, job_id, "cancelled")
    schedule_state.record_outcome(body, job_id, "expired")
