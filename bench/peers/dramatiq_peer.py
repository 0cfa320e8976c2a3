"""Dramatiq (Redis broker, ``--processes N`` and its default 8 threads each), jobs and
adapter. The number of processes is what the drain varies (the default is one per CPU)."""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from bench import jobcount
from bench.peers import common

URL = common.redis_url("dramatiq")
VARIANTS = ("redis",)
LATENCY_VARIANTS = VARIANTS
BULK = False  # the Redis broker enqueues one message per call (group() loops over them)
broker = RedisBroker(url=URL)
broker.add_middleware(CurrentMessage())
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="default", max_retries=0)
def noop() -> None:
    jobcount.noop()


@dramatiq.actor(queue_name="default", max_retries=0)
def fail() -> None:
    jobcount.fail()


# min_backoff=0: the Retries middleware re-enqueues with no delay (immediate retries).
@dramatiq.actor(queue_name="default", max_retries=2, min_backoff=0, max_backoff=0)
def retry() -> None:
    message = CurrentMessage.get_current_message()
    jobcount.retry(message.options.get("retries", 0) + 1)


@dramatiq.actor(queue_name="default", max_retries=0)
def latency(sent: float) -> None:
    jobcount.stamp(sent)


_ACTORS = {"noop": noop, "fail": fail, "retry": retry}


def prepare() -> None:
    pass


def reset() -> None:
    common.flush("dramatiq")


def enqueue(n: int, bulk: bool, variant: str) -> None:
    for _ in range(n):
        noop.send()


def enqueue_latency(sent: float, variant: str) -> None:
    latency.send(sent)


def fill(kind: str, n: int, variant: str) -> None:
    actor = _ACTORS[kind]
    for _ in range(n):
        actor.send()


def workers(variant: str, procs: int) -> list[list[str]]:
    return [[str(common.BIN / "dramatiq"), "bench.peers.dramatiq_peer",
             "--processes", str(procs)]]


def failed_count(variant: str) -> int:
    # Messages that failed for good are in the queue's dead-letter set.
    return redis.Redis.from_url(URL).zcard("dramatiq:default.XQ")
