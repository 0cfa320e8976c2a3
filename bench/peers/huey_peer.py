"""Huey (Redis storage), jobs and adapter: the consumer in process mode (``-k process -w
N``) where the number of processes is what is measured, and as shipped (``thread``: one
worker thread, ``-k thread -w 1``) for the latency."""

from __future__ import annotations

from huey import RedisHuey

from bench import jobcount
from bench.peers import common

URL = common.redis_url("huey")
VARIANTS = ("process",)
LATENCY_VARIANTS = ("thread",)
BULK = False  # huey enqueues one message per call; Task.map is a loop over enqueue
huey = RedisHuey("bench", url=URL)


@huey.task()
def noop() -> None:
    jobcount.noop()


@huey.task()
def fail() -> None:
    jobcount.fail()


@huey.task(retries=2, retry_delay=0, context=True)
def retry(task=None) -> None:
    # Huey counts down: task.retries is 2 on the first attempt, 0 on the third.
    jobcount.retry(3 - task.retries)


@huey.task()
def latency(sent: float) -> None:
    jobcount.stamp(sent)


_TASKS = {"noop": noop, "fail": fail, "retry": retry}


def prepare() -> None:
    pass


def reset() -> None:
    common.flush("huey")


def enqueue(n: int, bulk: bool, variant: str) -> None:
    for _ in range(n):
        noop()


def enqueue_latency(sent: float, variant: str) -> None:
    latency(sent)


def fill(kind: str, n: int, variant: str) -> None:
    task = _TASKS[kind]
    for _ in range(n):
        task()


def workers(variant: str, procs: int) -> list[list[str]]:
    return [[str(common.BIN / "huey_consumer"), "bench.peers.huey_peer.huey",
             "-k", variant, "-w", str(procs)]]


def failed_count(variant: str) -> int:
    # A task that fails for good leaves its error in the result store; no-op and retry
    # tasks return None, which huey does not store, so the store holds failures only.
    return huey.storage.result_store_size()
