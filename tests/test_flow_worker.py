"""Flow control in real ``runworker`` processes: expiry, pauses, cancel requests, progress,
concurrency and rate limits (SQLite and Redis; chaos scenario 17 runs them under SIGKILL)."""

from __future__ import annotations

import json
import time

import pytest

from django_jobqueue.flow.names import FLOW_SCOPE, cancel_name, paused_name, status_name
from django_jobqueue.models import FailedJob
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support import ledger
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"]),
]

CONNECTIONS = [pytest.param("default", id="sqlite"), pytest.param("redis", id="redis")]


def flow(conn):
    return get_transport(conn).coordination


def request_cancel(conn, job_id, by="test"):
    flow(conn).write(FLOW_SCOPE, cancel_name(job_id), json.dumps({"at": time.time(), "by": by}),
                     ttl=60)


def records(exception_name):
    return list(FailedJob.objects.filter(exception_class__endswith=exception_name))


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_an_expired_job_never_runs_and_is_kept_as_expired(conn, start_worker, empty_queues):
    late = jobs.Expiring("late").dispatch(connection=conn, expires_at=time.time() - 1)
    jobs.Expiring("fresh").dispatch(connection=conn)
    worker = start_worker("--burst", "--connection", conn)
    assert worker.wait(60) == 0, worker.output()
    assert [e["value"] for e in ledger.events("ran")] == ["fresh"]
    [record] = records("JobExpired")
    assert record.uuid == late.id and record.attempts == 0
    assert "never ran" in record.message
    assert not ledger.events("failed_hook"), "an expired job did not fail"
    assert "event=job_expired" in worker.output()


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_a_paused_queue_is_not_worked_until_resumed(conn, start_worker, empty_queues):
    flow(conn).write(FLOW_SCOPE, paused_name("default"), json.dumps({"at": 0, "by": "t"}))
    try:
        for i in range(3):
            jobs.Record(i).dispatch(connection=conn)
        jobs.Record("high").dispatch(connection=conn, queue="high")
        worker = start_worker("default", "high", "--connection", conn)
        # The other queue is worked while this one is paused.
        wait_until(lambda: ledger.events("ran"), timeout=20)
        assert "event=queue_paused_seen" in worker.output()
        assert [e["value"] for e in ledger.events("ran")] == ["high"]
        assert get_transport(conn).size("default").ready == 3
    finally:
        flow(conn).write(FLOW_SCOPE, paused_name("default"), None)
    wait_until(lambda: len(ledger.events("ran")) == 4, timeout=20)
    assert "event=queue_resumed_seen" in worker.output()


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_a_cancelled_running_job_that_checks_stops_as_cancelled(conn, start_worker,
                                                                 empty_queues):
    job = jobs.Cancellable("obeys").dispatch(connection=conn)
    # Heartbeats and maintenance far apart: only the poll of cancel requests wakes it.
    worker = start_worker("--connection", conn, "--no-scheduler", settings_overrides={
        "HEARTBEAT": 5.0, "MAINTENANCE_INTERVAL": 5.0})
    wait_until(lambda: ledger.events("started"), timeout=20)
    status = json.loads(wait_until(
        lambda: flow(conn).read(FLOW_SCOPE, [status_name(job.id)]).get(status_name(job.id))))
    assert (status["state"], status["done"], status["total"]) == ("running", 1, 600)
    asked = time.monotonic()
    request_cancel(conn, job.id, by="admin:alice")
    wait_until(lambda: records("JobCancelled"), timeout=10)
    # Seen within a second though the worker's one horse is busy (nothing else wakes it).
    assert time.monotonic() - asked < 2.0
    [record] = records("JobCancelled")
    assert record.uuid == job.id and record.attempts == 1
    assert record.message == "tests.jobs.Cancellable stopped: it was cancelled while it ran"
    assert ledger.events("saw_cancel")
    wait_until(lambda: ledger.events("job_cancelled"), timeout=10)
    assert [e["running"] for e in ledger.events("job_cancelled")] == [True]
    assert not ledger.events("failed_hook")
    assert get_transport(conn).size("default").total == 0, "no retry"
    assert "event=job_cancelled" in worker.output()


def test_a_cancelled_job_that_then_fails_for_good_is_kept_as_cancelled(start_worker,
                                                                       empty_queues):
    job = jobs.Cancellable("fails", fail=True).dispatch(connection="default")
    start_worker("--connection", "default")
    wait_until(lambda: ledger.events("started"), timeout=20)
    request_cancel("default", job.id)
    wait_until(lambda: ledger.events("job_cancelled"), timeout=10)
    [record] = records("JobCancelled")
    assert "failed with django_jobqueue.exceptions.DontRetry: gave up halfway" in record.message
    assert not records("DontRetry") and not ledger.events("failed_hook"), "no failed()"
    assert [e["running"] for e in ledger.events("job_cancelled")] == [True]


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_a_cancelled_job_that_ignores_it_is_stopped_after_the_grace(conn, start_worker,
                                                                    empty_queues):
    job = jobs.Cancellable("ignores", obey=False).dispatch(connection=conn)
    worker = start_worker("--connection", conn, settings_overrides={"CANCEL_GRACE": 0.5})
    wait_until(lambda: ledger.events("started"), timeout=20)
    asked = time.monotonic()
    request_cancel(conn, job.id, by="ops")
    wait_until(lambda: records("JobCancelled"), timeout=10)
    took = time.monotonic() - asked
    [record] = records("JobCancelled")
    assert "did not stop within 0.5s" in record.message and "by ops" in record.message
    assert took < 0.5 + 1.5, f"ended {took:.2f}s after the request"
    assert not ledger.events("saw_cancel") and not ledger.events("failed_hook")
    wait_until(lambda: ledger.events("job_cancelled"), timeout=10)
    assert get_transport(conn).size("default").total == 0, "no retry"
    assert "horse_died" not in worker.output()


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_progress_is_kept_and_marked_succeeded(conn, start_worker, empty_queues):
    job = jobs.Progressing("p").dispatch(connection=conn)
    worker = start_worker("--burst", "--connection", conn)
    assert worker.wait(60) == 0, worker.output()
    status = json.loads(flow(conn).read(FLOW_SCOPE, [status_name(job.id)])[status_name(job.id)])
    assert (status["state"], status["done"], status["total"], status["message"]) == (
        "succeeded", 2, 2, "done")


def _most_at_once(starts, ends):
    stamps = sorted([(e["t"], 1) for e in starts] + [(e["t"], -1) for e in ends],
                    key=lambda item: (item[0], item[1]))
    running = most = 0
    for _, change in stamps:
        running += change
        most = max(most, running)
    return most


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_a_concurrency_limit_holds_across_workers(conn, start_worker, empty_queues):
    for i in range(8):
        jobs.Limited(i).dispatch(connection=conn)
    workers = [start_worker("--burst", "--connection", conn, "--concurrency", "3")
               for _ in range(2)]
    for worker in workers:
        assert worker.wait(90) == 0, worker.output()
    starts, ends = ledger.events("limited_start"), ledger.events("limited_end")
    assert sorted(e["value"] for e in ends) == list(range(8))
    assert _most_at_once(starts, ends) == 2
    assert {e["attempt"] for e in starts} == {1}, "waiting used no attempt"


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_a_rate_limit_delays_jobs_over_it(conn, start_worker, empty_queues):
    for i in range(12):
        jobs.RateLimited(i).dispatch(connection=conn)
    worker = start_worker("--burst", "--connection", conn, "--concurrency", "3")
    assert worker.wait(90) == 0, worker.output()
    starts = sorted(e["t"] for e in ledger.events("rated_start"))
    assert len(starts) == 12
    # No one-second window of the jobs' own start stamps holds more than 5 starts (the
    # store dates the permits, a few milliseconds before the stamps: a margin covers that).
    worst = max(sum(1 for t in starts if first <= t < first + 1.0) for first in starts)
    assert worst <= 5, f"{conn} {[round(t - starts[0], 3) for t in starts]}"
    assert starts[-1] - starts[0] >= 2.0
    assert {e["attempt"] for e in ledger.events("rated_start")} == {1}
