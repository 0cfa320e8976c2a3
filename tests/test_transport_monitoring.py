"""The monitoring part of the transport contract: the oldest waiting job's age and the
worker registry, on memory, SQLite, MariaDB, PostgreSQL, Redis and Redis Cluster."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from django.db import connections

from django_jobqueue.transports import CurrentJob, PushItem, WorkerInfo, get_transport
from tests.support.params import TRANSPORT_PARAMS
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("connection_name", TRANSPORT_PARAMS, indirect=True)


def item(queue="default", delay=0.0, priority=0):
    job_id = uuid.uuid4().hex
    return PushItem(job_id, queue, f'{{"job":"x","id":"{job_id}"}}', delay, priority)


def test_oldest_ready_age_follows_the_longest_waiting_job(clean_connection):
    transport = get_transport(clean_connection)
    assert transport.reports_oldest_age
    assert transport.oldest_ready_age("default") is None
    first = item()
    transport.push(first)
    wait_until(lambda: (transport.oldest_ready_age("default") or 0) >= 0.5, timeout=10)
    # A newer job of higher priority runs first but does not make the queue look younger.
    transport.push(item(priority=10))
    assert transport.oldest_ready_age("default") >= 0.5
    [urgent] = transport.reserve(["default"], 1, 30, "t")
    assert urgent.id != first.id and transport.oldest_ready_age("default") >= 0.5
    assert transport.oldest_ready_age("other") is None
    [job] = transport.reserve(["default"], 1, 30, "t")
    assert job.id == first.id and transport.oldest_ready_age("default") is None
    # Released, it waits again from the release on.
    transport.release(job, 0)
    assert 0 <= transport.oldest_ready_age("default") < 0.5
    transport.ack(urgent)


def test_a_delayed_job_waits_from_its_due_time(clean_connection):
    transport = get_transport(clean_connection)
    transport.push(item(delay=0.5))
    assert transport.oldest_ready_age("default") is None
    age = wait_until(lambda: transport.oldest_ready_age("default") is not None, timeout=10)
    assert age and transport.oldest_ready_age("default") < 0.5
    # Promoted by a reserve (Redis moves due jobs then), it keeps its due time.
    transport.push(item(priority=10))
    transport.reserve(["default"], 1, 30, "t")
    wait_until(lambda: (transport.oldest_ready_age("default") or 0) >= 0.3, timeout=10)
    assert transport.oldest_ready_age("default") < 5


def test_oldest_ready_query_uses_the_claim_index(clean_connection):
    transport = get_transport(clean_connection)
    if not hasattr(transport, "oldest_ready_sql"):
        pytest.skip("not a database transport")
    transport.push_many([item("other") for _ in range(2000)] + [item() for _ in range(5)])
    connection = connections[transport.alias]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE queue_jobs")
        elif connection.vendor == "mysql":
            cursor.execute("ANALYZE TABLE queue_jobs")
            cursor.fetchall()
        explain = "EXPLAIN QUERY PLAN" if connection.vendor == "sqlite" else "EXPLAIN"
        cursor.execute(f"{explain} {transport.oldest_ready_sql()}", ["default"])
        plan = " ".join(str(cell) for row in cursor.fetchall() for cell in row)
    assert "queue_jobs_claim_idx" in plan, plan


def worker(name=None, **extra):
    return WorkerInfo(
        name=name or f"host.{uuid.uuid4().hex[:8]}", host="host", pid=4242,
        connection="ignored", queues=("default", "high"), concurrency=2,
        started_at=1_700_000_000.5, **extra,
    )


def listed(transport, name):
    return next((info for info in transport.workers() if info.name == name), None)


def test_worker_registry_register_list_unregister(clean_connection):
    transport = get_transport(clean_connection)
    assert transport.keeps_worker_registry
    job = CurrentJob("a" * 32, "tests.jobs.LongJob", 1_700_000_100.25)
    first, second = worker(jobs_processed=3, current=(job,)), worker()
    transport.register_worker(first, 30)
    transport.register_worker(second, 30)
    got = listed(transport, first.name)
    assert got is not None
    assert dataclasses.replace(got, last_heartbeat=0.0, heartbeat_age=0.0) == first
    assert 0 <= got.heartbeat_age < 5 and abs(got.last_heartbeat - time.time()) < 60
    names = [info.name for info in transport.workers()]
    assert names == sorted(names) and {first.name, second.name} <= set(names)
    # A heartbeat replaces the entry.
    transport.register_worker(dataclasses.replace(first, jobs_processed=4, current=()), 30)
    again = listed(transport, first.name)
    assert (again.jobs_processed, again.current) == (4, ())
    transport.unregister_worker(first.name)
    transport.unregister_worker("nobody")
    assert listed(transport, first.name) is None and listed(transport, second.name)
    transport.unregister_worker(second.name)


def test_a_worker_that_stops_heartbeating_expires(clean_connection):
    transport = get_transport(clean_connection)
    dead, alive = worker(), worker()
    transport.register_worker(dead, 0.3)
    transport.register_worker(alive, 30)
    assert listed(transport, dead.name)
    wait_until(lambda: listed(transport, dead.name) is None, timeout=10)
    assert listed(transport, alive.name)
    transport.register_worker(dead, 0.3)
    # Maintenance deletes expired entries (Redis also drops them on every registry call).
    wait_until(lambda: transport.prune_workers() >= 1, timeout=10)
    assert transport.prune_workers() == 0 and listed(transport, alive.name)
    transport.unregister_worker(alive.name)
