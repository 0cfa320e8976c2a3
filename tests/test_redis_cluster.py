"""The Redis transport on a real three-node Redis Cluster (the contract suite runs there too,
as the ``redis-cluster`` parameter of tests/test_transports.py)."""

from __future__ import annotations

import signal
import time

import pytest

from django_jobqueue.models import FailedJob
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support import ledger
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "mysql"]),
]
QUEUES = ("high", "low")


@pytest.fixture
def cluster(redis_cluster):
    transport = get_transport("redis-cluster")
    for queue in QUEUES:
        transport.clear(queue)
    yield transport
    for queue in QUEUES:
        transport.clear(queue)


def test_queues_live_in_different_slots_yet_one_worker_serves_both(cluster, start_worker):
    slots = {cluster.client.keyslot(cluster.keys(queue)[0]) for queue in QUEUES}
    assert len(slots) == 2  # so a multi-key command across them would be refused
    for i in range(10):
        jobs.Record(f"h{i}").dispatch(connection="redis-cluster", queue="high")
        jobs.Record(f"l{i}").dispatch(connection="redis-cluster", queue="low")
    jobs.AlwaysFails("a").dispatch(connection="redis-cluster", queue="low")
    worker = start_worker("--burst", "--connection", "redis-cluster", *QUEUES)
    assert worker.wait(60) == 0, worker.output()
    ran = sorted(e["value"] for e in ledger.events("ran") if e["job"] == "Record")
    assert ran == sorted([f"h{i}" for i in range(10)] + [f"l{i}" for i in range(10)])
    row = FailedJob.objects.get()
    assert (row.connection, row.queue, row.attempts) == ("redis-cluster", "low", 3)
    assert all(cluster.size(queue).total == 0 for queue in QUEUES)


def test_idle_worker_on_two_queues_wakes_for_either(cluster, start_worker):
    worker = start_worker("--connection", "redis-cluster", *QUEUES)
    wait_until(lambda: "event=worker_started" in worker.output())
    for n, queue in enumerate(("low", "high", "low")):
        dispatched = time.time()
        jobs.Record(n).dispatch(connection="redis-cluster", queue=queue)
        [ran] = wait_until(lambda n=n: [e for e in ledger.events("ran") if e["value"] == n])
        # A Cluster cannot BLPOP across slots, so the worker waits on one queue at a time:
        # a job on the other is taken within one idle wait (SLEEP is 0.2 s in the tests).
        assert ran["t"] - dispatched < 1.0
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    output = worker.output()
    assert "same key slot" not in output and "event=worker_step_failed" not in output, output
