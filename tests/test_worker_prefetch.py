"""Prefetch with real ``runworker`` subprocesses: jobs reserved ahead of the horses are never
charged an attempt they did not run, whatever happens to the worker holding them."""

from __future__ import annotations

import os
import signal
import time

import pytest

from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support import ledger
from tests.support.params import MARIADB_AND_REDIS
from tests.support.settings_overrides import FAST_LEASE
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"]),
]
CONNECTIONS = MARIADB_AND_REDIS


def _records(conn: str, count: int) -> None:
    for n in range(count):
        jobs.Record(n).dispatch(connection=conn)


def _record_attempts() -> dict[int, list[int]]:
    attempts: dict[int, list[int]] = {}
    for event in ledger.events("ran"):
        if event["job"] == "Record":
            attempts.setdefault(event["value"], []).append(event["attempt"])
    return attempts


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_prefetched_jobs_of_a_killed_worker_run_elsewhere_uncharged(
    conn, start_worker, empty_queues
):
    jobs.LongJob(30, key="long", first_only=True).dispatch(connection=conn)
    _records(conn, 3)
    held = {**FAST_LEASE, "PREFETCH_HOLD": 60.0}
    first = start_worker("--connection", conn, "--prefetch", "3", settings_overrides=held)
    wait_until(lambda: ledger.events("started"), timeout=30)
    # The long job runs and the three others wait in the worker's prefetch buffer.
    wait_until(lambda: get_transport(conn).size("default").reserved == 4, timeout=10)
    assert _record_attempts() == {}
    first.signal(signal.SIGKILL)
    first.wait(5)
    second = start_worker("--connection", conn, "--prefetch", "0", settings_overrides=FAST_LEASE)
    wait_until(lambda: len(_record_attempts()) == 3 and ledger.events("ran"), timeout=30)
    # Never started, so never charged: each runs as attempt 1. The long job had started:
    # it is collected as abandoned and runs as attempt 2.
    assert _record_attempts() == {0: [1], 1: [1], 2: [1]}
    wait_until(lambda: [e for e in ledger.events("ran") if e["job"] == "LongJob"], timeout=30)
    assert [e["attempt"] for e in ledger.events("started")] == [1, 2]
    second.signal(signal.SIGTERM)
    assert second.wait(10) == 0


def test_prefetched_jobs_are_handed_back_when_no_horse_frees_up(start_worker, empty_queues):
    jobs.LongJob(20, key="long").dispatch(connection="redis")
    _records("redis", 3)
    busy = start_worker("--connection", "redis", "--prefetch", "3",
                        settings_overrides={"PREFETCH_HOLD": 0.3})
    wait_until(lambda: ledger.events("started"), timeout=30)
    other = start_worker("--connection", "redis", "--prefetch", "0")
    # The busy worker's horse is stuck on the long job; the other worker gets the rest.
    wait_until(lambda: len(_record_attempts()) == 3, timeout=15)
    assert _record_attempts() == {0: [1], 1: [1], 2: [1]}
    assert {e["pid"] for e in ledger.events("ran")}.isdisjoint({ledger.events("started")[0]["pid"]})
    assert not [e for e in ledger.events("ran") if e["job"] == "LongJob"]  # still running
    assert "event=hand_back_failed" not in busy.output()
    other.signal(signal.SIGTERM)
    assert other.wait(10) == 0


def test_sigterm_hands_prefetched_jobs_back_at_once(start_worker, empty_queues):
    jobs.LongJob(3, key="long").dispatch(connection="redis")
    _records("redis", 3)
    worker = start_worker("--connection", "redis", "--prefetch", "3",
                          settings_overrides={"PREFETCH_HOLD": 60.0})
    wait_until(lambda: ledger.events("started"), timeout=30)
    wait_until(lambda: get_transport("redis").size("default").reserved == 4, timeout=10)
    worker.signal(signal.SIGTERM)
    # Handed back while the running job finishes, ready for any worker.
    wait_until(lambda: get_transport("redis").size("default").ready == 3, timeout=5)
    assert worker.wait(20) == 0, worker.output()
    assert [e["value"] for e in ledger.events("ran")] == ["long"]
    other = start_worker("--burst", "--connection", "redis")
    assert other.wait(30) == 0, other.output()
    assert _record_attempts() == {0: [1], 1: [1], 2: [1]}


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_prefetched_jobs_of_a_killed_worker_start_elsewhere_within_two_seconds(
    conn, start_worker, empty_queues
):
    # Default lease (30 s): the prefetched jobs must not wait for it, the started one must.
    jobs.LongJob(30, key="long", first_only=True).dispatch(connection=conn)
    _records(conn, 3)
    first = start_worker("--connection", conn, "--prefetch", "3",
                         settings_overrides={"PREFETCH_HOLD": 60.0})
    wait_until(lambda: ledger.events("started"), timeout=30)
    wait_until(lambda: get_transport(conn).size("default").reserved == 4, timeout=10)
    second = start_worker("--connection", conn)
    wait_until(lambda: len(get_transport(conn).workers()) == 2, timeout=30)
    os.killpg(first.pid, signal.SIGKILL)  # the supervisor and its horse
    killed_at = time.time()
    first.wait(5)
    wait_until(lambda: len(_record_attempts()) == 3, timeout=30)
    late = [e["t"] - killed_at for e in ledger.events("ran") if e["job"] == "Record"]
    assert max(late) < 2.0, late
    assert _record_attempts() == {0: [1], 1: [1], 2: [1]}
    # The job that had started is abandoned, not prefetched: it waits for its lease.
    assert [e["attempt"] for e in ledger.events("started")] == [1]
    second.signal(signal.SIGTERM)
    assert second.wait(10) == 0
