"""RQ (with its default forking ``Worker`` and its ``SimpleWorker``), jobs and adapter."""

from __future__ import annotations

import redis
import rq
from rq import Queue, Retry
from rq.registry import FailedJobRegistry

from bench import jobcount
from bench.peers import common

URL = common.redis_url("rq")
VARIANTS = ("fork", "simple")
LATENCY_VARIANTS = VARIANTS
BULK = True
CHUNK = 1000
_WORKER_CLASS = {"fork": "rq.worker.Worker", "simple": "rq.worker.SimpleWorker"}


def noop() -> None:
    jobcount.noop()


def fail() -> None:
    jobcount.fail()


def latency(sent: float) -> None:
    jobcount.stamp(sent)


def retry() -> None:
    # RQ counts down: retries_left is 2 on the first attempt, 0 on the third.
    job = rq.get_current_job()
    jobcount.retry(3 - (job.retries_left or 0))


_FUNCS = {"noop": noop, "fail": fail, "retry": retry}


def _queue() -> Queue:
    return Queue("default", connection=redis.Redis.from_url(URL))


def prepare() -> None:
    pass


def reset() -> None:
    common.flush("rq")


def enqueue(n: int, bulk: bool, variant: str) -> None:
    queue = _queue()
    if bulk:
        for start in range(0, n, CHUNK):
            queue.enqueue_many([Queue.prepare_data(noop) for _ in range(min(CHUNK, n - start))])
    else:
        for _ in range(n):
            queue.enqueue(noop)


def enqueue_latency(sent: float, variant: str) -> None:
    _queue().enqueue(latency, sent)


def fill(kind: str, n: int, variant: str) -> None:
    queue, func = _queue(), _FUNCS[kind]
    # Immediate retries: no interval, so RQ puts the job straight back on the queue.
    extra = {"retry": Retry(max=2)} if kind == "retry" else {}
    for start in range(0, n, CHUNK):
        queue.enqueue_many([Queue.prepare_data(func, **extra)
                            for _ in range(min(CHUNK, n - start))])


def workers(variant: str, procs: int) -> list[list[str]]:
    # RQ runs one job at a time per worker: N processes are N ``rq worker`` commands.
    return [[str(common.BIN / "rq"), "worker", "--url", URL, "--worker-class",
             _WORKER_CLASS[variant], "default"] for _ in range(procs)]


def failed_count(variant: str) -> int:
    return FailedJobRegistry(queue=_queue()).count
