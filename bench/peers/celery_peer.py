"""Celery (Redis broker, prefork pool: ``--pool prefork -c N``), jobs and adapter.

Defaults but two: ``-c N`` (the number of processes is what the drain varies; the default
is one per CPU) and ``task_ignore_result`` (there is no results backend to store them in).

Celery keeps no failed store unless a results backend is configured; the bench runs it as
most sites do, without one, and counts failures with the ``task_failure`` signal (one
byte appended to a file in the pool process, as every system's jobs count).
"""

from __future__ import annotations

from celery import Celery
from celery.signals import task_failure

from bench import jobcount
from bench.peers import common

URL = common.redis_url("celery")
VARIANTS = ("prefork",)
LATENCY_VARIANTS = VARIANTS
BULK = False  # group() and chunks() still publish one message per task
app = Celery("bench", broker=URL)
app.conf.update(task_ignore_result=True, task_default_queue="default",
                broker_connection_retry_on_startup=True)


@app.task
def noop() -> None:
    jobcount.noop()


@app.task
def fail() -> None:
    jobcount.fail()


@app.task(bind=True, autoretry_for=(jobcount.Boom,), max_retries=2, default_retry_delay=0)
def retry(self) -> None:
    jobcount.retry(self.request.retries + 1)


@app.task
def latency(sent: float) -> None:
    jobcount.stamp(sent)


@task_failure.connect
def _count_failure(**_kwargs) -> None:
    jobcount.mark("failed")


_TASKS = {"noop": noop, "fail": fail, "retry": retry}


def prepare() -> None:
    pass


def reset() -> None:
    common.flush("celery")


def enqueue(n: int, bulk: bool, variant: str) -> None:
    for _ in range(n):
        noop.delay()


def enqueue_latency(sent: float, variant: str) -> None:
    latency.delay(sent)


def fill(kind: str, n: int, variant: str) -> None:
    task = _TASKS[kind]
    for _ in range(n):
        task.delay()


def workers(variant: str, procs: int) -> list[list[str]]:
    return [[str(common.BIN / "celery"), "-A", "bench.peers.celery_peer", "worker",
             "--pool", "prefork", "-c", str(procs), "-Q", "default", "-l", "warning"]]


def failed_count(variant: str) -> int:
    import os
    from pathlib import Path

    return jobcount.count(Path(os.environ[jobcount.ENV_VAR]), "failed")
