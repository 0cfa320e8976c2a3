"""Our side of the peer bench: django-jobqueue on the Redis, Redis Cluster, MariaDB,
PostgreSQL and SQLite transports (``bench/settings_ours.py``), driven by
``bench/driver.py`` from ``.venv``."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_ours"

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connections, transaction  # noqa: E402

from bench import harness  # noqa: E402
from bench.jobs import (  # noqa: E402
    BenchFail,
    BenchLatency,
    BenchLimited,
    BenchNoop,
    BenchRetry,
    BenchUnique,
)
from django_jobqueue import dispatch_many  # noqa: E402
from django_jobqueue.coordination.database_tallies import MEMBERS, TALLIES  # noqa: E402
from django_jobqueue.models import QueuedJob  # noqa: E402
from django_jobqueue.transports import get_transport  # noqa: E402
from django_jobqueue.workflows import batch  # noqa: E402

VARIANTS = ("redis", "mariadb", "sqlite")
#: Where one-by-one dispatches are measured; the database ones also inside atomic().
ENQUEUE_VARIANTS = ("redis", "mariadb", "sqlite", "postgresql")
LATENCY_VARIANTS = ("redis", "redis-cluster", "sqlite", "mariadb", "postgresql")
#: The Django database alias of each database transport.
DATABASE_OF = {"mariadb": "mariadb", "sqlite": "default", "postgresql": "postgresql"}
BULK = True
CHUNK = 1000  # jobs per dispatch_many call, for the bulk enqueue and the fill
KINDS = {"noop": BenchNoop, "limited": BenchLimited, "fail": BenchFail, "retry": BenchRetry}
#: What ``dispatch_whole`` queues: plain no-ops, or the same as one batch.
WHOLE_KINDS = ("plain", "batch")


def prepare() -> None:
    from django.core.management import call_command

    from bench import settings_ours as s

    create_databases(s.SERVERS, s.MARIADB_NAME, s.PG_NAME)
    for alias in ("default", "mariadb", "postgresql"):
        call_command("migrate", database=alias, verbosity=0)


def create_databases(server: dict[str, str], mariadb_name: str, pg_name: str) -> None:
    harness.create_mariadb_database(server, mariadb_name)
    harness.create_pg_database(server, pg_name)


def reset() -> None:
    # The cluster runs only while it is measured: it is cleared only then.
    variant = os.environ.get("BENCH_VARIANT", "")
    for name in {*ENQUEUE_VARIANTS, *([variant] if variant in LATENCY_VARIANTS else [])}:
        if name in settings.JOBQUEUE["CONNECTIONS"]:  # see bench/settings_ours.py
            for queue in ("default", "bench-schedule"):
                get_transport(name).clear(queue)
    # Unique jobs' locks, schedule cursors and batches' tallies of the last measurement.
    for alias in settings.DATABASES:
        with connections[alias].cursor() as cursor:
            for table in ("queue_coordination", TALLIES, MEMBERS):
                cursor.execute(f"DELETE FROM {table}")
    forget_redis_batches()
    with connections["mariadb"].cursor() as cursor:
        cursor.execute("DELETE FROM queue_failed_jobs")


def enqueue(n: int, bulk: bool, variant: str) -> None:
    if bulk:
        for start in range(0, n, CHUNK):
            dispatch_many([BenchNoop() for _ in range(min(CHUNK, n - start))],
                          connection=variant)
    else:
        for _ in range(n):
            BenchNoop().dispatch(connection=variant)


def enqueue_unique(n: int, variant: str) -> None:
    """One-by-one dispatches of a unique job, each with a key of its own: the lock taken
    with the push is the whole difference from :func:`enqueue`."""
    run = uuid.uuid4().hex
    for i in range(n):
        BenchUnique(f"{run}:{i}").dispatch(connection=variant)


def enqueue_atomic(n: int, variant: str) -> None:
    with transaction.atomic(using=DATABASE_OF[variant]):
        enqueue(n, False, variant)


def orm_insert(n: int, variant: str, atomic: bool) -> None:
    """The substrate of a database dispatch: ``n`` one-by-one ORM inserts of the row a
    dispatch writes (its payload and queue, read from a real dispatch first)."""
    alias = DATABASE_OF[variant]
    sample = dispatched_row(variant)
    with transaction.atomic(using=alias) if atomic else contextlib.nullcontext():
        for _ in range(n):
            now = time.time()
            QueuedJob.objects.using(alias).create(
                uuid=uuid.uuid4().hex, queue=sample.queue, payload=sample.payload,
                attempts=0, priority=0, available_at=now, created_at=now)


def dispatched_row(variant: str) -> QueuedJob:
    alias = DATABASE_OF[variant]
    BenchNoop().dispatch(connection=variant)
    row = QueuedJob.objects.using(alias).latest("id")
    row.delete()
    return row


def forget_redis_batches() -> None:
    """Delete the Redis keys of the batches measured (Redis would expire them only after
    ``WORKFLOW_TTL``, a week: their tallies would pile up run after run)."""
    client = get_transport("redis").client
    prefix = settings.JOBQUEUE["REDIS_PREFIX"]
    keys = list(client.scan_iter(match=f"{prefix}:{{{prefix}:batch:*", count=1000))
    for first in range(0, len(keys), 1000):
        client.delete(*keys[first:first + 1000])


def dispatch_whole(kind: str, n: int, variant: str) -> int:
    """The workflows bench's dispatch (docs/performance.md, "Batches"): ``n`` no-ops in one
    call, plain (one ``dispatch_many``) or as one batch whose ``on_complete`` callback is
    one more no-op. How many jobs the drain then runs (the callback included)."""
    jobs = [BenchNoop() for _ in range(n)]
    if kind == "plain":
        dispatch_many(jobs, connection=variant)
        return n
    batch(jobs, on_complete=BenchNoop()).dispatch(connection=variant)
    return n + 1


def enqueue_latency(sent: float, variant: str) -> None:
    BenchLatency(sent=sent).dispatch(connection=variant)


def fill(kind: str, n: int, variant: str) -> None:
    job = KINDS[kind]
    for start in range(0, n, CHUNK):
        dispatch_many([job() for _ in range(min(CHUNK, n - start))], connection=variant)


def workers(variant: str, procs: int) -> list[list[str]]:
    off = ["--no-scheduler"] if os.environ.get("BENCH_SCHEDULE") == "off" else []
    return [[sys.executable, "-m", "django", "runworker", "--connection", variant,
             "--concurrency", str(procs), *off]]


def failed_count(variant: str) -> int:
    with connections["mariadb"].cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM queue_failed_jobs")
        return cursor.fetchone()[0]
