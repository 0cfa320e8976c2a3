"""``manage.py demo``: the example's main job, from dispatch to the failed-jobs table.

It migrates the SQLite database, removes what earlier demo runs left, dispatches the shop's
jobs (some succeed, some are retried, some fail for good, some wait for a concurrency or
rate limit, one expires) and two workflows (an order as a chain, the catalogue sync as a
batch with callbacks), runs the real worker in burst mode in a process of its own while
it watches a long import with ``job_status()`` and cancels it, then reports what happened
and where to look next. It checks every outcome against
what the jobs are written to do and exits non-zero on any surprise, so it is also a smoke
test of the whole pipeline.
"""

from __future__ import annotations

import multiprocessing
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils import timezone

from django_jobqueue import failures
from django_jobqueue.models import FailedJob, FailureFingerprint
from django_jobqueue.transports import get_transport
from shop import partners, scenarios
from shop.scenarios import QUEUES, Planned


class Command(BaseCommand):
    help = (
        "Run the django-jobqueue demo: dispatch the shop's jobs, run a burst worker, and "
        "show which jobs failed for good and where to find them."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.heading("django-jobqueue demo: background jobs, and what happens when they fail")
        self.say(f"Database: {_database()}")
        self.say(f"Queue: {_transport()}")
        if not settings.TASKS_AVAILABLE:
            self.say(
                "Django Tasks: skipped (Django 5.2 needs the backport: "
                'pip install "django-jobqueue[tasks]")'
            )
        started = timezone.now()

        self.heading("1. Prepare the database")
        self.prepare()

        self.heading("2. Dispatch the shop's jobs")
        planned = self.dispatch_jobs()

        self.heading("3. Run a worker until every job is settled")
        self.run_worker(planned)

        self.heading("4. Outcome")
        failed_rows = self.report(planned, started)

        self.heading("5. Where to look next")
        self.next_steps(failed_rows)

    # -- steps ---------------------------------------------------------------------------
    def prepare(self) -> None:
        call_command("migrate", verbosity=0, interactive=False)
        self.say("migrations applied (tables queue_jobs, queue_failed_jobs, queue_coordination)")
        labels = [cls.name for cls in scenarios.JOB_CLASSES] + scenarios.TASK_PATHS
        # Demo only: forget the kinds of failure earlier runs saw, so that this run meets
        # them as new and NEW_FINGERPRINT_HANDLER fires again. A real project keeps them.
        kinds = FailedJob.objects.filter(job_class__in=labels).values("fingerprint")
        FailureFingerprint.objects.filter(fingerprint__in=kinds).delete()
        # Only the failures service deletes failed jobs: one prune per demo job class.
        pruned = sum(failures.prune(job_class=label) for label in labels)
        transport = get_transport()
        cleared = sum(transport.clear(queue) for queue in QUEUES)
        scenarios.free_unique_keys()
        partners.reset()
        self.say(
            f"removed what earlier demo runs left: {pruned} failed jobs, {cleared} queued jobs"
        )
        resumed = scenarios.resume_demo_queues()
        if resumed:
            self.say(f"resumed the queues left paused: {', '.join(resumed)}")

    def dispatch_jobs(self) -> list[Planned]:
        planned = scenarios.dispatch_jobs() + scenarios.enqueue_tasks()
        in_workflows, self.workflows = scenarios.dispatch_workflows()
        planned += in_workflows
        self.say(f"{'job (its constructor arguments are the payload)':<48} {'queue':<9} expected")
        for item in planned:
            delay = f", delay={item.delay:g}s" if item.delay else ""
            note = f" [{item.note}]" if item.note else ""
            self.say(
                f"{_short(item.shown, 48):<48} {item.queue:<9}"
                f" {item.expected.describe()}{delay}{note}"
            )
        self.say(
            "SendReceipt(order_id=1006, ...) was dispatched inside a transaction that "
            "committed: queued on commit"
        )
        again = scenarios.dispatch_duplicate(planned)
        self.say(
            "SyncStockJob(warehouse='north') dispatched again while the first is queued: "
            f"duplicate=True, id={again.id[:8]}... names the job already there (unique job)"
        )
        scenarios.dispatch_rolled_back()
        self.say(
            "SendReceipt(order_id=1999, ...) dispatched inside a transaction that rolled "
            "back: never queued"
        )
        self.say(
            "FlashSaleReminder(11, ...) was dispatched with expires_at= the end of a sale "
            "that ended a minute ago: a worker takes it and keeps it as expired"
        )
        self.say(
            f"The order {scenarios.ORDER_ID} is a chain (workflows.chain): only its first step"
            " is queued; each\nnext one is queued by the worker once the step before succeeded."
        )
        catalogue = self.workflows.catalogue
        self.say(
            f"The catalogue sync is a batch (workflows.batch) of {len(catalogue.jobs)}"
            f" products, id {catalogue.id[:8]}...: its callbacks\nreport to the"
            " merchandising team once every product has ended."
        )
        self.check_queued(sum(item.queued for item in planned))
        return planned

    def check_queued(self, expected: int) -> None:
        transport = get_transport()
        sizes = {queue: transport.size(queue) for queue in QUEUES}
        total = sum(size.total for size in sizes.values())
        shown = ", ".join(
            f"{queue} {size.total}" + (f" ({size.delayed} delayed)" if size.delayed else "")
            for queue, size in sizes.items()
        )
        self.say(f"queued now: {shown}; {total} in all")
        if total != expected:
            raise CommandError(f"expected {expected} queued jobs, found {total}")

    def run_worker(self, planned: list[Planned]) -> None:
        args = ["runworker", *QUEUES, "--burst", "--concurrency", "2"]
        self.say(f"$ {_python()} {_manage()} {' '.join(args)}")
        self.say(
            "(--burst: exit once no job is ready, delayed or running. The worker runs in a\n"
            "process of its own, as in production, while this one watches the winter import\n"
            "with job_status() and cancels it; the worker's own log lines follow)\n"
        )
        # The worker is forked from this process (so it starts at once, Django loaded):
        # flush first, or it would inherit (and print again) whatever is still buffered,
        # and let it open database connections of its own.
        self.flush()
        connections.close_all()
        worker = multiprocessing.get_context("fork").Process(
            target=call_command, args=args, name="runworker")
        worker.start()
        try:
            scenarios.cancel_while_running(scenarios.long_import(planned), worker.is_alive,
                                           self.tell)
            worker.join(timeout=300)
        finally:
            if worker.is_alive():
                worker.terminate()
                worker.join()
        if worker.exitcode != 0:
            raise CommandError(f"the worker exited with code {worker.exitcode}")

    def report(self, planned: list[Planned], started: Any) -> list[Any]:
        by_uuid = {record.uuid: record for record in failures.select(since=started)}
        rows = [by_uuid[p.job_id] for p in planned if p.job_id in by_uuid]
        problems = self.compare(planned, by_uuid)
        succeeded = len(planned) - len(rows)
        ends = Counter(row.outcome for row in rows)
        self.say(
            f"{len(planned)} jobs dispatched: {succeeded} succeeded, {ends['failed']} failed for"
            f" good, {ends['cancelled']} cancelled, {ends['expired']} expired."
        )
        if rows:
            self.say("\nThe failed ones are rows in the queue_failed_jobs table, and so are the"
                     " cancelled\nand expired ones (marked: they did not fail):")
            self.say(f"  {'id':>4}  {'job class':<28} {'queue':<9} {'attempts':>8}  exception")
            for row in sorted(rows, key=_by_id):
                first_line = row.exception.splitlines()[0] if row.exception else ""
                mark = "" if row.outcome == "failed" else f"[{row.outcome.upper()}] "
                self.say(
                    f"  {row.id!s:>4}  {row.job_class:<28} {row.queue:<9} "
                    f"{row.attempts:>8}  {mark}{_short(first_line, 70)}"
                )
        self.say("\njob_status() of the imports, which reported their progress:")
        for line in scenarios.import_statuses(planned):
            self.say(f"  {_short(line, 120)}")
        lines, workflow_problems = scenarios.check_workflows(self.workflows, planned)
        problems += workflow_problems
        self.say("\nThe workflows (docs/workflows.md):")
        for line in lines:
            self.say(f"  {_short(line, 120)}")
        by_class = failures.stats(since=started)["by_exception_class"]
        counts = ", ".join(f"{item['exception_class']} {item['count']}" for item in by_class)
        self.say(f"\nfailures.stats(), by exception class: {counts or 'none'}")
        if problems:
            raise CommandError(
                "the demo did not end as its jobs are written to:\n  " + "\n  ".join(problems)
            )
        self.say(self.style.SUCCESS("Every job ended as written: the demo works."))
        return sorted(rows, key=_by_id)

    def compare(self, planned: list[Planned], by_uuid: dict[str, Any]) -> list[str]:
        problems = []
        for item in planned:
            row, want = by_uuid.get(item.job_id), item.expected
            name = item.name
            if want.kept and row is None:
                problems.append(f"{name} was expected to end {want.outcome} but left no"
                                " failed-job row")
            elif not want.kept and row is not None:
                problems.append(f"{name} was expected to succeed but ended {row.outcome}:"
                                f" {row.message}")
            elif row is not None and (row.outcome, row.attempts, row.exception_class) != (
                want.outcome,
                want.attempts,
                want.exception_class,
            ):
                problems.append(
                    f"{name}: {row.outcome}, {row.attempts} attempts, {row.exception_class};"
                    f" expected {want.outcome}, {want.attempts}, {want.exception_class}"
                )
        problems += filter(None, (scenarios.check_task_result(p) for p in planned if p.result))
        left = sum(get_transport().size(queue).total for queue in QUEUES)
        if left:
            problems.append(f"{left} jobs are still queued after the burst worker exited")
        return problems

    def next_steps(self, rows: list[Any]) -> None:
        python, manage = _python(), _manage()
        failed = [row for row in rows if row.outcome == "failed"]  # retrying them makes sense
        example_id = failed[0].id if failed else 1
        retry = f"from django_jobqueue import failures; print(failures.retry({example_id}))"
        mysql = settings.DATABASES["default"]["ENGINE"].endswith("mysql")
        schedule = "\n".join(f"    {line}" for line in scenarios.schedule_lines())
        batch_id = self.workflows.catalogue.id
        prompt, client = ("mysql>", "mariadb or mysql") if mysql else ("sqlite>", "sqlite3")
        if settings.REDIS_URL or not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
            self.say("(Keep the JOBQUEUE_EXAMPLE_* variables set for the commands below.)\n")
        self.say(f"""\
* Failed jobs live in the queue_failed_jobs table, in {_database()}.
  The SQL of the "Failed Jobs" guide runs on it as is (dbshell needs the {client} program):
    $ {python} {manage} dbshell
    {prompt} SELECT queue, COUNT(*) as count FROM queue_failed_jobs GROUP BY queue;
    {prompt} SELECT id, queue, exception, failed_at FROM queue_failed_jobs WHERE id = {example_id};
    {prompt} SELECT payload FROM queue_failed_jobs WHERE id = {example_id};
  The exception column starts with "ExceptionClass: message", then the traceback;
  job_class, exception_class, attempts and errors (one entry per attempt) are columns too.

* Or with the commands (docs/commands.md):
    $ {python} {manage} failed_jobs
    $ {python} {manage} failed_jobs show {example_id}
    $ {python} {manage} failed_jobs_stats

* Retry one: it is pushed again with fresh attempts and its row is deleted.
    $ {python} {manage} retry_failed_jobs {example_id}
    $ {python} {manage} runworker {" ".join(QUEUES)} --burst
  (The demo's failures are built to happen again; a real retry follows a fix.)
  From Python: {retry}
  The same service has get(id), select(...), count(...), stats(), forget(id), retry_many(ids)
  and prune(older_than=..., keep=..., queue=...): see README.md and docs/failures.md.

* Periodic jobs: the workers fire them, each slot once however many run (a --burst
  worker, like the demo's, never does). The schedule (docs/periodic-jobs.md):
{schedule}
  Run a worker without --burst and watch them fire (event=schedule_fired):
    $ {python} {manage} runworker {" ".join(QUEUES)}

* Flow control (docs/flow-control.md): run a worker in another terminal,
    $ {python} {manage} runworker {" ".join(QUEUES)}
  then pause the imports, queue a long one, resume, watch it and cancel it:
    $ {python} {manage} pause_queue imports
    $ {python} {manage} shell -c "from shop.jobs import ImportProductsJob; \\
        print(ImportProductsJob('autumn', rows=200_000).dispatch().id)"
    $ {python} {manage} queue_status --queue imports     # 1 ready, paused since ...
    $ {python} {manage} resume_queue imports             # the worker takes it within a second
    $ {python} {manage} job_status ID                    # running, progress: ... of 200000
    $ {python} {manage} cancel_jobs ID                   # asked to stop: it ends as cancelled
    $ {python} {manage} failed_jobs --outcome cancelled

* Workflows (docs/workflows.md): the catalogue batch's two failed products are failed jobs
  like any other, and batch_status() tells how the batch stands:
    $ {python} {manage} failed_jobs --job-class shop.jobs.SyncProduct
    $ {python} {manage} shell -c "from django_jobqueue.workflows import batch_status; \\
        print(batch_status('{batch_id}').as_dict())"
  django_jobqueue.workflows.operate.retry_failed_children(batch_id) retries just those two;
  the batch's on_success runs once all eight succeed (the demo's two fail again, and its
  on_failure and on_complete never run twice). A chain step that fails for good holds the
  steps after it in its record (job_status says held); retry_failed_jobs ID resumes it.

* Run it again: ./scripts/demo (or {python} {manage} demo) starts from a clean slate.
* The Django admin shows them too (filter, inspect, retry, purge, overview, groups):
    $ {python} {manage} createsuperuser
    $ {python} {manage} runserver
  then open http://127.0.0.1:8000/admin/django_jobqueue/failedjob/ (docs/admin.md).""")

    # -- output --------------------------------------------------------------------------
    def flush(self) -> None:
        """Write out what is buffered: the worker process writes to the same output."""
        self.stdout.flush()
        sys.stdout.flush()
        sys.stderr.flush()

    def tell(self, text: str) -> None:
        """A line of this process among the worker's log lines, flagged and written out."""
        self.say(f"[demo] {text}")
        self.flush()

    def heading(self, text: str) -> None:
        self.stdout.write("\n" + self.style.MIGRATE_HEADING(text))

    def say(self, text: str) -> None:
        """Write ``text`` indented under the current heading."""
        self.stdout.write(textwrap.indent(text, "  "))


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _shown(path: Any) -> str:
    """``path`` relative to the current directory when it is below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _database() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"{_shown(db['NAME'])} (SQLite: no server needed)"
    return f"MariaDB/MySQL database {db['NAME']!r} on {db['HOST']}:{db['PORT']}"


def _transport() -> str:
    if settings.REDIS_URL:
        url = urlsplit(settings.REDIS_URL)  # shown without its password, if it has one
        where = f"{url.scheme}://{url.hostname}:{url.port or 6379}{url.path}"
        return f"Redis at {where} (the failed-job table's fallback too)"
    return "the queue_jobs table of the same database"


def _manage() -> str:
    return _shown(Path(__file__).resolve().parents[3] / "manage.py")


def _python() -> str:
    """The running interpreter, as the user would type it from the current directory."""
    try:
        return str(Path(sys.executable).absolute().relative_to(Path.cwd()))
    except ValueError:
        return sys.executable


def _by_id(record: Any) -> tuple[bool, Any]:
    # Table rows by id; failures waiting in the Redis fallback (named by job id) after them.
    return isinstance(record.id, str), record.id
