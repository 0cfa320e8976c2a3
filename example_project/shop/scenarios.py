"""What ``manage.py demo`` dispatches, and how each job and task is written to end.

One place for the plan, so the command (``shop/management/commands/demo.py``) only runs
steps and compares outcomes with it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from django_jobqueue import Dispatched, Job, cancel, dispatch_many, job_status
from django_jobqueue.flow.pause import resume_queue
from django_jobqueue.workflows import BatchDispatched, ChainDispatched, batch, batch_status, chain
from shop import jobs, partners

QUEUES = ["default", "emails", "payments", "reports", "imports"]
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
    jobs.SyncShopCatalog,
    jobs.PublishListing,
    jobs.FlashSaleReminder,
    jobs.ImportProductsJob,
    jobs.ChargeOrder,
    jobs.ReserveStock,
    jobs.SendOrderConfirmation,
    jobs.SyncProduct,
    jobs.CatalogueSyncReport,
]
# Failed tasks are filed under their function's path.
TASK_PATHS = ["shop.tasks.send_newsletter", "shop.tasks.sync_loyalty_points"]


JOB_CANCELLED = "django_jobqueue.exceptions.JobCancelled"
JOB_EXPIRED = "django_jobqueue.exceptions.JobExpired"


@dataclass(frozen=True)
class Expected:
    """How a dispatched job is written to end: ``outcome`` is ``"succeeded"``, ``"failed"``
    (for good), ``"cancelled"`` or ``"expired"`` (kept in the failed-job store like a
    failure, but not one), after ``attempts``, under ``exception_class``."""

    outcome: str
    attempts: int
    exception_class: str = ""

    @property
    def kept(self) -> bool:
        """It ends as a record of the failed-job store."""
        return self.outcome != "succeeded"

    def describe(self) -> str:
        if self.outcome == "succeeded":
            tries = "" if self.attempts == 1 else f" on attempt {self.attempts}"
            return f"succeeds{tries}"
        if self.outcome == "cancelled":
            return "cancelled while it runs (JobCancelled)"
        if self.outcome == "expired":
            return "expires before it starts (JobExpired)"
        tries = "1 attempt" if self.attempts == 1 else f"{self.attempts} attempts"
        return f"fails after {tries} ({self.exception_class.rsplit('.', 1)[-1]})"


@dataclass(frozen=True)
class Planned:
    """One dispatched job or enqueued task. ``result`` is the task's ``TaskResult``;
    ``queued`` is False for a chain's later step (queued when the step before succeeds),
    ``note`` says which workflow a job is part of."""

    name: str
    shown: str
    queue: str
    job_id: str
    delay: float
    expected: Expected
    result: Any = None
    queued: bool = True
    note: str = ""


class _RollBack(Exception):
    """Ends the demo's rolled-back transaction."""


OK = Expected("succeeded", 1)


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
         Expected("succeeded", 3)),
        (jobs.SyncStockJob(warehouse="north"), Expected("succeeded", 2)),
        (jobs.ProcessDataJob({"rows": [3, 4, 5]}), OK),
        (jobs.ProcessDataJob({"rows": "3,4,5"}), Expected("failed", 1, "ValueError")),
        (jobs.GenerateReportJob(report_id=7, user_email="ada@example.com"),
         Expected("failed", 3, "Exception")),
        (jobs.ChargeCard(order_id=1005, amount="19.99"),
         Expected("failed", 1, "shop.jobs.CardDeclined")),
        (jobs.ShipOrder(order_id=1005),
         Expected("failed", 1, "django_jobqueue.exceptions.DontRetry")),
        (jobs.ExportOrdersJob(export_id=3),
         Expected("failed", 2, "django_jobqueue.exceptions.JobTimeout")),
        (jobs.ResizeImagesJob(product_id=42),
         Expected("failed", 1, "django_jobqueue.exceptions.WorkHorseKilled")),
        # Flow control (docs/flow-control.md). Two syncs of the north shop, never at once
        # (the shop platform would refuse the second session); the south shop's beside them.
        (jobs.SyncShopCatalog("north"), OK),
        (jobs.SyncShopCatalog("north"), OK),
        (jobs.SyncShopCatalog("south"), OK),
        # Six listings at 4 a second: the last two wait for the next second, uncharged.
        *((jobs.PublishListing("example-market", f"SKU-{n}"), OK) for n in range(1, 7)),
        (jobs.FlashSaleReminder(sale_id=12, email="ada@example.com"), OK),
        # A short import: its progress reports make job_status() know it succeeded.
        (jobs.ImportProductsJob(feed="spring", rows=2000), OK),
    ]
    planned += [_job(job, expected, job.dispatch()) for job, expected in cases]
    # A reminder of a sale that ended a minute ago: it expires as a worker takes it.
    ended = timezone.now() - dt.timedelta(minutes=1)
    late = jobs.FlashSaleReminder(sale_id=11, email="grace@example.com")
    planned.append(_job(late, Expected("expired", 0, JOB_EXPIRED),
                        late.dispatch(expires_at=ended)))
    # A long import, cancelled while it runs (see cancel_while_running).
    winter = jobs.ImportProductsJob(feed="winter", rows=100_000)
    planned.append(_job(winter, Expected("cancelled", 1, JOB_CANCELLED), winter.dispatch()))
    return planned


# -- workflows (docs/workflows.md) ------------------------------------------------------------
ORDER_ID = 2001
ORDER_EVENTS = ["charged", "stock reserved", "confirmation sent"]
CATALOGUE = [f"SKU-{n}" for n in range(101, 109)]
CATALOGUE_FAILS = {"SKU-107": "shop.jobs.MissingPrice", "SKU-108": "shop.jobs.UnknownProduct"}


@dataclass(frozen=True)
class Workflows:
    """The demo's chain and batch, as dispatched."""

    order: ChainDispatched
    catalogue: BatchDispatched


def dispatch_workflows() -> tuple[list[Planned], Workflows]:
    """An order as a chain (charge, reserve stock, confirm: each step only once the one
    before succeeded) and the nightly catalogue sync as a batch of eight products, two of
    which fail for good, with callbacks."""
    steps = [jobs.ChargeOrder(ORDER_ID, "42.00"),
             jobs.ReserveStock(ORDER_ID, ["SKU-101", "SKU-102"]),
             jobs.SendOrderConfirmation(ORDER_ID, "ada@example.com")]
    order = chain(*steps).dispatch()
    planned = [
        Planned(type(job).__name__, repr(job), sent.queue, sent.id, 0,
                Expected("succeeded", 2) if n == 1 else OK, queued=n == 0,
                note=f"chain step {n + 1} of 3" + ("" if n == 0 else ", queued when step"
                                                    f" {n} succeeds"))
        for n, (job, sent) in enumerate(zip(steps, order.steps, strict=True))
    ]
    products = [jobs.SyncProduct(sku) for sku in CATALOGUE]
    catalogue = batch(products, on_success=jobs.CatalogueSyncReport(),
                      on_failure=jobs.CatalogueSyncReport(),
                      on_complete=jobs.CatalogueSyncReport(),
                      name="nightly catalogue sync").dispatch()
    for job, sent in zip(products, catalogue.jobs, strict=True):
        fails = CATALOGUE_FAILS.get(job.sku)
        expected = Expected("failed", 1, fails) if fails else OK
        planned.append(Planned(type(job).__name__, repr(job), sent.queue, sent.id, 0, expected,
                               note="catalogue batch child"))
    return planned, Workflows(order, catalogue)


def check_workflows(workflows: Workflows, planned: list[Planned]) -> tuple[list[str], list[str]]:
    """What the chain and the batch did, read back from the shop's order book, the
    merchandising inbox and ``batch_status()``; and any surprise."""
    lines, problems = [], []
    events = partners.order_events(ORDER_ID)
    lines.append(f"order {ORDER_ID} (chain {workflows.order.id[:8]}...): {' -> '.join(events)}")
    if events != ORDER_EVENTS:
        problems.append(f"order {ORDER_ID}: {events}, expected {ORDER_EVENTS} in that order")
    status = batch_status(workflows.catalogue.id)
    if status is None:
        problems.append("the catalogue batch is unknown to batch_status()")
    else:
        lines.append(f"batch_status({status.id[:8]}...): {status.name}, {status.total} products:"
                     f" {status.succeeded} synced, {status.failed} failed, complete="
                     f"{status.complete}")
    failed_ids = sorted(p.job_id for p in planned if p.expected.outcome == "failed"
                        and p.note == "catalogue batch child")
    want = {"total": len(CATALOGUE), "succeeded": len(CATALOGUE) - len(CATALOGUE_FAILS),
            "failed": len(CATALOGUE_FAILS), "cancelled": 0, "failed_ids": failed_ids}
    inbox = partners.merchandising_inbox()
    for message in inbox:
        lines.append(f"merchandising inbox: {message['callback']}: {message['succeeded']} of"
                     f" {message['total']} synced, {message['failed']} failed")
    for kind, times in (("on_failure", 1), ("on_complete", 1), ("on_success", 0)):
        seen = [m for m in inbox if m["callback"] == kind]
        if len(seen) != times:
            problems.append(f"the batch's {kind} ran {len(seen)} times, expected {times}")
        for message in seen:
            got = {key: sorted(value) if key == "failed_ids" else value
                   for key, value in message.items() if key in want}
            if got != want:
                problems.append(f"the batch's {kind} was told {got}, expected {want}")
    return lines, problems


def long_import(planned: list[Planned]) -> Planned:
    """The import the demo cancels while it runs."""
    return next(p for p in planned if p.expected.outcome == "cancelled")


def cancel_while_running(
    item: Planned, worker_alive: Callable[[], bool], say: Callable[[str], None]
) -> None:
    """Watch the long import with ``job_status()`` until it runs and has reported progress,
    then cancel it, as an operator would (``manage.py job_status ID``, then
    ``manage.py cancel_jobs ID``), from this process while a worker runs it."""
    deadline = time.monotonic() + 90
    while worker_alive() and time.monotonic() < deadline:
        status = job_status(item.job_id)
        if status.state == "running" and status.progress is not None:
            say(f"job_status({item.job_id[:8]}...): running, {_progress(status.progress)}")
            result = cancel(item.job_id, by="demo")
            say(f"cancel({item.job_id[:8]}...): outcome {result.outcome!r} (it was"
                f" {result.state}): its worker sees the request within a second")
            return
        time.sleep(0.1)
    raise RuntimeError(f"{item.shown} never ran with progress to cancel")


def import_statuses(planned: list[Planned]) -> list[str]:
    """What ``job_status()`` says of the imports now that the worker is done."""
    lines = []
    for item in planned:
        if item.name != "ImportProductsJob":
            continue
        status = job_status(item.job_id)
        line = f"{item.shown}: {status.state}"
        if status.progress is not None:
            line += f", {_progress(status.progress)}"
        if status.failed_id is not None:
            line += f"; failed_jobs show {status.failed_id}"
        lines.append(line)
    return lines


def _progress(progress: Any) -> str:
    return f"{progress.done} of {progress.total} {progress.message} ({progress.percent:g}%)"


def resume_demo_queues() -> list[str]:
    """Demo only: resume the demo's queues that a try of ``pause_queue`` left paused (a
    burst worker leaves the jobs of a paused queue alone)."""
    return [queue for queue in QUEUES if resume_queue(queue)]


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
        planned(tasks.sync_loyalty_points, Expected("failed", 2, "ConnectionError"), 1001),
    ]


def check_task_result(item: Planned) -> str:
    """A problem with a task's result (it is read again from the results table), or ''."""
    result = item.result
    result.refresh()
    status = str(getattr(result.status, "value", result.status))
    want = "FAILED" if item.expected.kept else "SUCCESSFUL"
    if status != want:
        return f"task {item.name}: result {status}, expected {want}"
    if not item.expected.kept and result.return_value != {"issue": 12, "sent": 3}:
        return f"task {item.name}: return value {result.return_value!r}"
    return ""
