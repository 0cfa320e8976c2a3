"""PostgreSQL: a push wakes idle workers through LISTEN/NOTIFY, sent in the pushing
transaction; the worker's poll is the safety net for a notification that is lost."""

from __future__ import annotations

import time

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from django_jobqueue.transports import PushItem, get_transport, pg_wakeup
from tests import jobs
from tests.support import ledger
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "postgres"])
QUEUE = "wake"


class Rollback(Exception):
    pass


@pytest.fixture
def transport():
    transport = get_transport("postgres")
    transport.clear(QUEUE)
    transport.wait([QUEUE], 0.001)  # LISTENing from now on, as an idle worker is
    yield transport
    transport.close()
    transport.clear(QUEUE)


def push(transport, job_id="a" * 32):
    transport.push_many([PushItem(job_id, QUEUE, "{}")])


def waited(transport, timeout):
    began = time.monotonic()
    transport.wait([QUEUE], timeout)
    return time.monotonic() - began


def test_a_committed_push_wakes_the_listener_at_once(transport):
    assert transport.blocking_wait
    push(transport)
    assert waited(transport, 5.0) < 0.5
    with transaction.atomic(using="postgres"):
        push(transport, "b" * 32)
        assert waited(transport, 0.3) >= 0.25  # not before the commit...
    assert waited(transport, 5.0) < 0.5  # ...then at once


def test_a_rolled_back_push_wakes_nobody(transport):
    with pytest.raises(Rollback), transaction.atomic(using="postgres"):
        push(transport)
        raise Rollback
    assert waited(transport, 0.4) >= 0.35
    assert transport.size(QUEUE).total == 0


def test_a_dispatch_inserts_and_notifies_in_one_statement(transport):
    # One round trip: a NOTIFY of its own doubled the cost of a dispatch (issue 17).
    with CaptureQueriesContext(connections["postgres"]) as outside:
        jobs.Record(1).dispatch(connection="postgres", queue=QUEUE)
    with transaction.atomic(using="postgres"), CaptureQueriesContext(
            connections["postgres"]) as inside:
        jobs.Record(1).dispatch(connection="postgres", queue=QUEUE, using="postgres")
        jobs.Record(1).dispatch(connection="postgres", queue="elsewhere", using="postgres")
    for query in [*outside.captured_queries, *inside.captured_queries]:
        assert "INSERT INTO queue_jobs" in query["sql"] and "pg_notify" in query["sql"]
    assert (len(outside), len(inside)) == (1, 2)
    assert waited(transport, 5.0) < 0.5
    assert transport.size(QUEUE).ready == 2
    transport.clear("elsewhere")


def test_a_delayed_push_notifies_nobody(transport):
    with CaptureQueriesContext(connections["postgres"]) as queries:
        transport.push_many([PushItem("d" * 32, QUEUE, "{}", delay=60)])
    assert len(queries) == 1 and "pg_notify" not in queries[0]["sql"]
    assert waited(transport, 0.3) >= 0.25


def test_a_lost_notification_costs_one_wait_and_the_next_push_wakes_again(
        transport, caplog, monkeypatch):
    monkeypatch.setattr(pg_wakeup, "RETRY_QUIET", 0.0)  # listen again at the next wait
    with connections["postgres"].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [transport.idle.listener.backend_pid()])
    push(transport)
    assert waited(transport, 0.3) < 1.0  # returns by its timeout, no exception
    assert "event=wakeup_listener_lost" in caplog.text
    transport.wait([QUEUE], 0.001)  # LISTENing again
    push(transport, "c" * 32)
    assert waited(transport, 5.0) < 0.5


def test_a_delayed_job_ends_the_wait_when_it_falls_due(transport):
    transport.push_many([PushItem("d" * 32, QUEUE, "{}", delay=0.3)])
    took = waited(transport, 5.0)
    assert 0.2 <= took < 1.0


def test_an_idle_worker_starts_a_dispatched_job_within_milliseconds(start_worker, transport):
    start_worker("--connection", "postgres", QUEUE, "--sleep", "5")
    jobs.Record("warm-up").dispatch(connection="postgres", queue=QUEUE)
    wait_until(lambda: ledger_ran("warm-up"), timeout=30)
    wait_until(lambda: transport.size(QUEUE).total == 0, timeout=10)  # settled: idle again
    dispatched = time.time()
    jobs.Record("timed").dispatch(connection="postgres", queue=QUEUE)
    wait_until(lambda: ledger_ran("timed"), timeout=10)
    # --sleep 5: without the notification it would start at the next safety-net poll
    # (up to 0.5 s); with it, in a few milliseconds (the bench measures the figures).
    assert ledger_ran("timed")["t"] - dispatched < 0.25


def ledger_ran(value):
    return next((e for e in ledger.events("ran") if e["value"] == value), None)


def test_a_listener_that_cannot_connect_polls_quietly_and_logs_once(transport, caplog,
                                                                   monkeypatch):
    def refused():
        raise OSError("LISTEN is not supported by this pooler")

    transport.idle.listener.close()
    monkeypatch.setattr(transport.idle.listener, "_connect", refused)
    for _ in range(3):
        assert waited(transport, 0.05) >= 0.04  # waits out its timeout, raises nothing
    assert caplog.text.count("event=wakeup_listener_lost") == 1


def test_a_dead_workers_prefetched_job_put_back_wakes_the_listener(transport):
    push(transport)
    assert waited(transport, 5.0) < 0.5
    # A worker takes it ahead of its horses and dies: its short lease runs out.
    transport.exchange([], [], [QUEUE], 0, 1, 30, "dead", prefetch_lease=0.2)
    assert wait_until(lambda: transport.requeue_expired([QUEUE]), timeout=10) == 1
    assert waited(transport, 3.0) < 0.5
