"""What a job's start and end mean beyond its queue: a unique job's lock ends, a scheduled
job's entry learns how its run went. Called by the work horse (start, success) and by the
supervisor once a failure for good is recorded; neither call can fail the job."""

from __future__ import annotations

from typing import Any

from . import unique
from .schedule import state as schedule_state


def started(body: Any, job_id: str) -> None:
    """The job ``job_id`` (payload ``body``) is about to run."""
    unique.release(body, job_id, "started")


def succeeded(body: Any, job_id: str) -> None:
    """The job ran to the end."""
    unique.release(body, job_id, "finished")
    schedule_state.record_outcome(body, job_id, "succeeded")


def failed(body: Any, job_id: str) -> None:
    """The job failed for good and its failure is recorded."""
    unique.release(body, job_id, "finished")
    schedule_state.record_outcome(body, job_id, "failed")
