"""What operators are told about batches: ``manage.py batch_status``, ``retry_batch`` and
``cancel_batch`` print it and the admin's batch page shows it, so both surfaces say the
same thing. Stored names are printed with control characters escaped."""

from __future__ import annotations

from ..failures.retrying import RetryReport
from ..logutil import printable
from .operate import BatchCancelReport
from .status import BatchStatus


def unknown_batch(batch_id: str) -> str:
    """Why a batch id finds nothing."""
    return (f"No batch {printable(batch_id)}: it was never dispatched, or it was forgotten"
            " WORKFLOW_TTL after its last change.")


def title(status: BatchStatus) -> str:
    """``batch <id> "nightly import"``."""
    named = f' "{printable(status.name)}"' if status.name else ""
    return f"batch {status.id}{named}"


def counts_text(status: BatchStatus) -> str:
    """``8 of 10 jobs ended (80%): 6 succeeded, 1 failed, 1 cancelled; 2 pending``."""
    ended = status.total - status.pending
    return (f"{ended} of {_plural(status.total, 'job')} ended ({status.percent:.0f}%): "
            f"{status.succeeded} succeeded, {status.failed} failed, {status.cancelled} "
            f"cancelled; {status.pending} pending")


def cancel_text(report: BatchCancelReport) -> str:
    """``Cancelled 3 waiting jobs of batch <id>; asked 1 running job to stop.``, and how
    many were not found."""
    text = (f"Cancelled {_plural(report.cancelled, 'waiting job')} of batch {report.batch_id};"
            f" asked {_plural(report.requested, 'running job')} to stop.")
    missing = report.counts["not_found"]
    if missing:
        # A child is looked for by the id it was dispatched with: one retried since runs
        # under a new id, which only the batch's cancel request reaches.
        were, its = ("was", "its") if missing == 1 else ("were", "their")
        text += (f" {_plural(missing, 'job')} {were} not found under {its} first id (ended"
                 " meanwhile, or retried since under a new id: a worker that takes one stops"
                 " it, as the batch's cancel request says).")
    return text


def retry_text(batch_id: str, report: RetryReport) -> str:
    """``Retried 2 failed children of batch <id> (default 2).`` (``Would retry`` for a dry
    run), and how many were kept."""
    done = len(report.planned if report.dry_run else report.retried)
    if not done and not report.errors:
        return f"Batch {batch_id} has no failed child to retry."
    verb = "Would retry" if report.dry_run else "Retried"
    queues = ", ".join(f"{printable(queue)} {n}" for queue, n in sorted(report.queues.items()))
    text = f"{verb} {_plural(done, 'failed child', 'failed children')} of batch {batch_id}"
    text += f" ({queues})." if done else "."
    if report.errors:
        text += f" Kept {len(report.errors)} that cannot be retried."
    return text


def _plural(n: int, noun: str, nouns: str = "") -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {nouns or noun + 's'}"
