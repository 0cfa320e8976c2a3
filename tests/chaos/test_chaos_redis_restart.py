"""Scenario 4: the Redis of the transport restarts under running workers.

A redis-server of its own (``tests.support.servers.chaos.Redis``, AOF with ``appendfsync always``,
on a port derived from ``JQ_CHAOS_PORT_BASE``) is the transport of two workers (two horses
each). The test dispatches small batches at a steady rate throughout, while the server is
SIGKILLed and started again three times (down 1 s each at CI size, 5 s at full size).

A dispatch is *acknowledged* when ``dispatch_many`` returned; with ``appendfsync always`` it
was fsynced before the reply. A dispatch that raised (the server was down) is not counted.

Expected: no worker exits; after each restart a job starts within 10 s of the server
answering again; every acknowledged job ends (done, or a failed row), nothing lost, one
terminal state each; a duplicate run only where a system failure explains it.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from django_jobqueue import dispatch_many, transports
from tests.chaos import jobs
from tests.chaos.harness import (
    MARIADB_DB,
    QUEUE,
    Chaos,
    assert_sound,
    percentile,
    size,
)
from tests.support.servers import chaos as chaos_servers
from tests.support.settings_overrides import jobqueue

pytestmark = [pytest.mark.slow, MARIADB_DB]

RESTARTS = 3
DOWN = size(1.0, 5.0)            # seconds the server stays down
UP = size(1.5, 10.0)             # seconds it runs between restarts
RATE = size(60, 110)             # jobs dispatched per second (batches of 5 every 1/RATE*5 s)
BATCH = 5
RESUME_TARGET = 10.0
LEASES = {"LEASE": 10.0, "HEARTBEAT": 1.0, "MAINTENANCE_INTERVAL": 1.0}  # lease > outage
NAME = "chaos-redis"


@pytest.fixture
def chaos_redis():
    server = chaos_servers.Redis(chaos_servers.base_port() + 2)
    server.start(fresh=True)
    yield server
    server.stop()


def test_redis_restarts_lose_no_acknowledged_dispatch(chaos_redis, tmp_path, redis_client):
    conns = {**settings.JOBQUEUE["CONNECTIONS"], NAME: {
        "TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
        "OPTIONS": {"URL": chaos_redis.url}}}
    with jobqueue(CONNECTIONS=conns):
        transports.reset()
        chaos = Chaos(NAME, tmp_path)
        try:
            _run(chaos, chaos_redis, conns)
        finally:
            chaos.close()
            transports.reset()


def _run(chaos: Chaos, server: chaos_servers.Redis, conns: dict) -> None:
    chaos.settings.update(LEASES, CONNECTIONS=conns)
    workers = [chaos.worker("--concurrency", "2", "--sleep", "0.1") for _ in range(2)]
    chaos.wait_ready()
    acked: list[str] = []
    refused = 0
    counter = 0
    restarts: list[dict] = []

    def dispatch_batch() -> None:
        nonlocal refused, counter
        batch = [jobs.Step(counter + i, seconds=0.02, max_tries=5) for i in range(BATCH)]
        counter += BATCH
        try:
            done = dispatch_many(batch, connection=NAME, queue=QUEUE)
        except Exception:  # the server is down: not acknowledged, not counted
            refused += BATCH
            return
        acked.extend(d.id for d in done)

    def dispatch_for(seconds: float) -> None:
        """Dispatch at RATE for ``seconds`` (the load's pacing, not a wait for an outcome)."""
        interval = BATCH / RATE
        next_at = time.monotonic()
        until = next_at + seconds
        while time.monotonic() < until:
            dispatch_batch()
            next_at += interval
            time.sleep(max(next_at - time.monotonic(), 0))

    exits_during: set[int] = set()
    dispatch_for(UP)
    for _ in range(RESTARTS):
        server.kill()
        down_at = time.time()
        dispatch_for(DOWN)
        server.start()
        back_at = time.time()
        restarts.append({"down": down_at, "back": back_at})
        dispatch_for(UP)
        exits_during |= {w.pid for w in workers if w.proc.poll() is not None}
    drain = chaos.wait_drained(timeout=size(120, 600))
    exits_during |= {w.pid for w in workers if w.proc.poll() is not None}
    chaos.stop_all()

    starts = sorted(e["t"] for e in chaos.events("start"))
    resume = []
    for r in restarts:
        after = [t for t in starts if t > r["back"]]
        resume.append(round(after[0] - r["back"], 3) if after else None)
    figures = chaos.tally(acked, max_tries=5)
    figures.update(
        restarts=RESTARTS,
        down_seconds=DOWN,
        appendfsync="always",
        acknowledged=len(acked),
        refused_while_down=refused,
        resume_seconds=resume,
        resume_p99=percentile([r for r in resume if r is not None], 99),
        workers_exited_before_stop=len(exits_during),
        drain_seconds=drain,
    )
    chaos.report("4-redis-restarts", figures)
    explained = sum(figures["system_failures"].values())
    assert_sound(figures, allow_duplicates=explained)
    assert figures["workers_exited_before_stop"] == 0, chaos.outputs()[-3000:]
    assert figures["done"] == len(acked), figures
    assert all(r is not None and r <= RESUME_TARGET for r in resume), figures
    assert refused > 0, "no dispatch met the server down: the outages were not felt"
