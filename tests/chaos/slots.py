"""Which schedule slot each job run belongs to, as the work horse read it from the payload.

A fired job's payload carries ``"schedule": {"entry", "slot"}``, but the job cannot see its
payload, and every fire of an entry builds the same job (no argument names the slot). So
the chaos workers wrap :func:`django_jobqueue.job_ends.started`, the one call where the
horse holds the parsed payload and the job's id, just before ``handle()``: for a fired job
it appends a ``slot`` line (id, entry, slot) to the ledger, then calls the original.

This is the job's own view, not the scheduler's: a slot fired twice is two job ids with one
slot, whichever worker pushed them and whether or not it lived to log it (scenario 15 sets
these lines against the workers' ``schedule_fired`` log lines).
"""

from __future__ import annotations

from typing import Any

from tests.support import ledger


def install() -> None:
    """Wrap ``job_ends.started`` in this process (and the horses it forks). Idempotent."""
    from django_jobqueue import job_ends

    original = job_ends.started
    if getattr(original, "_chaos_slots", False):
        return

    def started(body: Any, job_id: str) -> None:
        marker = body.get("schedule") if isinstance(body, dict) else None
        if isinstance(marker, dict):
            ledger.write("slot", id=job_id, entry=marker.get("entry"), slot=marker.get("slot"))
        original(body, job_id)

    started._chaos_slots = True  # type: ignore[attr-defined]
    job_ends.started = started  # type: ignore[assignment]
