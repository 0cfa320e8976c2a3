"""Where flow control keeps its records in a connection's coordination store.

Every record lives in one scope, :data:`FLOW_SCOPE`: none joins a guarded push, so none
needs its queue's Redis Cluster slot, and a worker reads all it needs in one round trip.
"""

from __future__ import annotations

#: The coordination scope of pauses, cancel requests, progress and limits.
FLOW_SCOPE = "flow"
#: Seconds a cancel request is kept: a job it names that is still waiting then (a long
#: delay) is cancelled when a worker takes it, as long as the request lives.
CANCEL_KEPT = 7 * 24 * 3600.0


def paused_name(queue: str) -> str:
    """The durable value that says ``queue`` is paused (JSON ``{"at", "by"}``)."""
    return f"paused:{queue}"


def cancel_name(job_id: str) -> str:
    """The cancel request of job ``job_id`` (JSON ``{"at", "by"}``, kept
    :data:`CANCEL_KEPT` seconds)."""
    return f"cancel:{job_id}"


def status_name(job_id: str) -> str:
    """The status record a running job writes (``set_progress``) and its end updates."""
    return f"status:{job_id}"
