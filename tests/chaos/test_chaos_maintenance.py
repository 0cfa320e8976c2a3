"""Scenario 13: concurrent maintenance. Jobs left behind by a worker that died (reserved and
started under a lease nobody renews) are collected by four workers at once: each job is
collected exactly once (one ``AbandonedJobError`` attempt), then retried once or failed
for good once, by whichever worker took it.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.chaos import jobs
from tests.chaos.harness import (
    FAST,
    MARIADB_DB,
    QUEUE,
    TRANSPORTS,
    assert_sound,
    dispatch_all,
    size,
)

pytestmark = [pytest.mark.slow, MARIADB_DB]

ABANDONED = size(200, 1000)


@pytest.mark.parametrize("chaos", TRANSPORTS, indirect=True)
def test_each_abandoned_job_is_collected_exactly_once(chaos):
    # Half may retry (max_tries 2: the abandoned attempt, then a run), half fail for good.
    ids = dispatch_all((jobs.Step(i, max_tries=1 + i % 2) for i in range(ABANDONED)),
                       chaos.connection)
    # The leases run out only once all four workers are up, so they collect at once.
    dead = chaos.transport.reserve([QUEUE], ABANDONED, 5.0, "dead-worker:0")
    assert len(dead) == ABANDONED
    for _ in range(4):
        chaos.worker("--concurrency", "2", settings={**FAST, "MAINTENANCE_INTERVAL": 0.2})
    chaos.wait_ready()
    chaos.wait_events("error", ABANDONED, timeout=size(90, 300))
    drain = chaos.wait_drained(timeout=60)
    chaos.stop_all()
    figures = chaos.tally(ids, max_tries=2)
    collected = Counter(e["id"] for e in chaos.events("error") if e["exc"] == "AbandonedJobError")
    per_worker = [w.output().count("event=abandoned_job_collected") for w in chaos.workers]
    figures.update(
        abandoned=ABANDONED,
        collected_once=sum(1 for i in ids if collected[i] == 1),
        collected_twice_or_more=sum(1 for i in ids if collected[i] > 1),
        never_collected=sum(1 for i in ids if collected[i] == 0),
        collected_per_worker=per_worker,
        drain_seconds=drain,
    )
    chaos.report("13-concurrent-maintenance", figures)
    assert_sound(figures)
    assert figures["collected_once"] == ABANDONED and sum(per_worker) == ABANDONED
    assert figures["done"] == ABANDONED // 2 and figures["failed"] == ABANDONED // 2
    assert figures["failed_hook_calls"] == {1: ABANDONED // 2}
