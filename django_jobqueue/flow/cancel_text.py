"""What operators are told after cancelling the jobs of a queue: ``manage.py cancel_jobs
--queue`` prints it and the admin's jobs page of a queue shows it, so both surfaces say the
same thing. Stored names are printed with control characters escaped."""

from __future__ import annotations

from ..logutil import printable
from .cancel import CancelReport


def report_text(report: CancelReport, job_class: str | None = None) -> str:
    """``Cancelled 3 waiting jobs of queue q on connection c; asked 1 running job to stop.``,
    and how many were not found; ``job_class``: the filter the jobs were chosen by."""
    which = f" of job class {printable(job_class)}" if job_class else ""
    where = f"queue {printable(report.queue)} on connection {printable(report.connection)}"
    cancel_verb, ask_verb = ("Would cancel", "would ask") if report.dry_run else (
        "Cancelled", "asked")
    text = (f"{cancel_verb} {_plural(report.cancelled, 'waiting job')}{which} of {where}; "
            f"{ask_verb} {_plural(report.requested, 'running job')} to stop.")
    if report.not_found == 1:
        text += " 1 job was not found: it ended meanwhile."
    elif report.not_found:
        text += f" {report.not_found} jobs were not found: they ended meanwhile."
    return text


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
