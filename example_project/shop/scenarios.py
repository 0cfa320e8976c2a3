"""What ``manage.py demo`` dispatches, and how each job and task is written to end.

One place for the plan, so the command (``shop/management/commands/demo.py``) only runs
steps and compares outcomes with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from django_jobqueue import Dispatched, Job, dispatch_many
from shop import jobs

QUEUES = ["default", "emails", "payments", "reports"]
# The classes whose failed-job rows a new demo run removes first (PageOnCall never fails).
JOB_CLASSES = [
    jobs.SendReceipt,
    jobs.CallExternalAPIJob,
    jobs.ProcessDataJob,
    jobs.GenerateReportJob,
    jobs.ChargeCard,
    jobs.ExportOrdersJob,
    jobs.SyncStockJob,
    jobs.ShipOrder,
    jobs.ResizeImagesJob,
]
# Failed tasks are filed under their function's path.
TASK_PATHS = ["shop.tasks.send_newsletter", "shop.tasks.sync_loyalty_points"]


@dataclass(frozen=True)
class Expected:
    """What a dispatched job is written to do."""

    fails: bool
    attempts: int
    exception_class: str = ""

    def describe(self) -> str:
        if not self.fails:
            tries = "" if self.attempts == 1 else f" on attempt {self.attempts}"
            return f"succeeds{tries}"
        tries = "1 attempt" if self.attempts == 1 else f"{self.attempts} attempts"
        return f"fails after {tries} ({self.exception_class.rsplit('.', 1)[-1]})"


@dataclass(frozen=True)
class Planned:
    """One dispatched job or enqueued task. ``result`` is the task's ``TaskResult``."""

    name: str
    shown: str
    queue: str
    job_id: str
    delay: float
    expected: Expected
    result: Any = None


class _RollBack(Exception):
    """Ends the demo's rolled-back transaction."""


OK = Expected(fails=False, attempts=1)


def _job(job: Job, expected: Expected, dispatched: Dispatched) -> Planned:
    return Planned(
        type(job).__name__, repr(job), dispatched.queue, dispatched.id, dispatched.delay, expected
    )


def dispatch_jobs() -> list[Planned]:
    """Dispatch every demo job; returns them with what each is written to do."""
    receipts = [
        jobs.SendReceipt(order_id=1001, email="ada@example.com"),
        jobs.SendReceipt(order_id=1002, email="grace@example.com"),
        jobs.SendReceipt(order_id=1003, email="linus@example.com"),
    ]
    # dispatch_many: validated all together, pushed in one round trip.
    planned = [_job(j, OK, d) for j, d in zip(receipts, dispatch_many(receipts), strict=True)]
    late = jobs.SendReceipt(order_id=1004, email="barbara@example.com")
    planned.append(_job(late, OK, late.dispatch(delay=1)))  # ready in one second
    with transaction.atomic():
        # Queued only once the transaction commits (on Redis, pushed then); had it rolled
        # back, the job would never run (see dispatch_rolled_back).
        paid = jobs.SendReceipt(order_id=1006, email="edsger@example.com")
        planned.append(_job(paid, OK, paid.dispatch()))

    cases: list[tuple[Job, Expected]] = [
        (jobs.CallExternalAPIJob("https://partner.example.com/stock", {"sku": "A-1"}),
         Expected(False, 3)),
        (jobs.SyncStockJob(warehouse="north"), Expected(False, 2)),
        (jobs.ProcessDataJob({"rows": [3, 4, 5]}), OK),
        (jobs.ProcessDataJob({"rows": "3,4,5"}), Expected(True, 1, "ValueError")),
        (jobs.GenerateReportJob(report_id=7, user_email="ada@example.com"),
         Expected(True, 3, "Exception")),
        (jobs.ChargeCard(order_id=1005, amount="19.99"),
         Expected(True, 1, "shop.jobs.CardDeclined")),
        (jobs.ShipOrder(order_id=1005), Expected(True, 1, "django_jobqueue.exceptions.DontRetry")),
        (jobs.ExportOrdersJob(export_id=3),
         Expected(True, 2, "django_jobqueue.exceptions.JobTimeout")),
        (jobs.ResizeImagesJob(product_id=42),
         Expected(True, 1, "django_jobqueue.exceptions.WorkHorseKilled")),
    ]
    planned += [_job(job, expected, job.dispatch()) for job, expected in cases]
    return planned


def dispatch_duplicate(planned: list[Planned]) -> Dispatched:
    """Dispatch the north warehouse's stock sync again while the first one is queued: a
    unique job (``SyncStockJob.unique_for``), so nothing is queued and the answer names
    the job already there."""
    first = next(p for p in planned if p.shown == "SyncStockJob(warehouse='north')")
    again = jobs.SyncStockJob(warehouse="north").dispatch()
    if not again.duplicate or again.id != first.job_id:
        raise RuntimeError(f"expected a duplicate of job {first.job_id}, got {again}")
    return again


def free_unique_keys() -> None:
    """Demo only: free the key an interrupted earlier run may have left held (a lock ends
    by itself after ``unique_for``; the demo does not want to wait)."""
    from django_jobqueue.conf import jobqueue_settings
    from django_jobqueue.transports import get_transport
    from django_jobqueue.unique import UniqueLock

    key = jobs.SyncStockJob(warehouse="north").unique_key()
    queue = jobs.SyncStockJob.queue or jobqueue_settings.DEFAULT_QUEUE
    get_transport().coordination.write(queue, UniqueLock(key, "finished").name, None)


def schedule_lines() -> list[str]:
    """The schedule's entries, when each fires next: the workers fire them."""
    import time

    from django_jobqueue.schedule import entries

    now = time.time()
    lines = []
    for entry in entries():
        upcoming = time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                 time.gmtime(entry.timing.next_after(now)))
        lines.append(f"{entry.name:<34} {entry.timing.describe():<28} next {upcoming}")
    return lines


def dispatch_rolled_back() -> None:
    """A dispatch inside a transaction that rolls back: never queued."""
    try:
        with transaction.atomic():
            jobs.SendReceipt(order_id=1999, email="nobody@example.com").dispatch()
            raise _RollBack
    except _RollBack:
        pass


def enqueue_tasks() -> list[Planned]:
    """Enqueue the Django Tasks (shop/tasks.py), where the Tasks framework is installed."""
    if not settings.TASKS_AVAILABLE:
        return []
    from shop import tasks

    def planned(task: Any, expected: Expected, *args: Any) -> Planned:
        result = task.enqueue(*args)
        shown = f"{task.name}({', '.join(map(repr, args))}) [task]"
        return Planned(task.name, shown, task.queue_name, result.id, 0, expected, result)

    return [
        planned(tasks.send_newsletter, OK, 12, 3),
        planned(tasks.sync_loyalty_points, Expected(True, 2, "ConnectionError"), 1001),
    ]


def check_task_result(item: Planned) -> str:
    """A problem with a task's result (it is read again from the results table), or ''."""
    result = item.result
    result.refresh()
    status = str(getattr(result.status, "value", result.status))
    want = "FAILED" if item.expected.fails else "SUCCESSFUL"
    if status != want:
        return f"task {item.name}: result {status}, expected {want}"
    if not item.expected.fails and result.return_value != {"issue": 12, "sent": 3}:
        return f"task {item.name}: return value {result.return_value!r}"
    return ""
