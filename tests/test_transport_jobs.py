"""The transports' operators' verbs (``find``, ``jobs``, ``remove``) on every store: memory,
SQLite, MariaDB, PostgreSQL, Redis and Redis Cluster."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from django_jobqueue.transports import get_transport
from tests.support.params import TRANSPORT_PARAMS
from tests.test_transports import item

pytestmark = pytest.mark.parametrize("connection_name", TRANSPORT_PARAMS, indirect=True)


def states(found):
    return [(job.id, job.state) for job in found]


def test_find_tells_where_a_job_stands(clean_connection):
    transport = get_transport(clean_connection)
    running, ahead, ready, later = item(), item(), item(), item(delay=300)
    transport.push_many([running, ahead, ready, later])
    transport.exchange([], [], ["default"], 1, 1, 30, "w")
    found = {job.id: transport.find(job.id, ["other", "default"])
             for job in (running, ahead, ready, later)}
    assert {job_id: job.state for job_id, job in found.items()} == {
        running.id: "running", ahead.id: "prefetched", ready.id: "queued",
        later.id: "delayed"}
    assert found[ready.id].payload == ready.payload and found[ready.id].queue == "default"
    assert 290 < found[later.id].due_in <= 300
    assert found[ready.id].due_in is None and found[ready.id].waiting
    assert not found[ahead.id].waiting
    assert transport.find(item().id, ["default"]) is None


def test_jobs_lists_a_queue_in_the_order_it_runs_a_page_at_a_time(clean_connection):
    transport = get_transport(clean_connection)
    first, second, third = item(), item(), item()
    urgent, soon, late = item(priority=10), item(delay=300), item(delay=600)
    transport.push_many([first, second, third, urgent, late, soon, item("other")])
    transport.exchange([], [], ["default"], 1, 1, 30, "w")  # urgent runs, first is held
    rushed = item(priority=5)
    transport.push(rushed)
    expected = [(urgent.id, "running"), (first.id, "prefetched"), (rushed.id, "queued"),
                (second.id, "queued"), (third.id, "queued"), (soon.id, "delayed"),
                (late.id, "delayed")]
    listed = transport.jobs("default", 10)
    assert states(listed) == expected
    assert listed[2].payload == rushed.payload and 290 < listed[5].due_in <= 300
    pages = [transport.jobs("default", 3, offset) for offset in (0, 3, 6, 9)]
    assert [len(page) for page in pages] == [3, 3, 1, 0]
    assert states(job for page in pages for job in page) == expected


def test_remove_takes_out_a_waiting_job_and_returns_its_payload(clean_connection):
    transport = get_transport(clean_connection)
    ready, later, kept = item(), item(delay=300), item()
    transport.push_many([ready, later, kept])
    assert transport.remove(ready.id, "other") is None  # not in that queue
    assert transport.remove(ready.id, "default") == ready.payload
    assert transport.remove(later.id, "default") == later.payload
    assert transport.remove(ready.id, "default") is None  # gone already
    assert transport.find(ready.id, ["default"]) is None
    assert transport.size("default").total == 1
    assert states(transport.jobs("default", 10)) == [(kept.id, "queued")]
    # Pushed again (a cancel that could not be recorded puts it back), it runs once.
    transport.push(ready)
    taken = transport.reserve(["default"], 5, 30, "w")
    assert sorted(job.id for job in taken) == sorted([ready.id, kept.id])
    assert all(job.attempts == 1 for job in taken)


def test_remove_leaves_a_job_a_worker_took_since_it_was_found(clean_connection):
    transport = get_transport(clean_connection)
    running, held = item(), item()
    transport.push_many([running, held])
    assert transport.find(running.id, ["default"]).state == "queued"
    # A worker takes both between the look-up and the removal: one starts, one is held.
    taken = transport.exchange([], [], ["default"], 1, 1, 30, "w")
    assert transport.remove(running.id, "default") is None
    assert transport.remove(held.id, "default") is None
    assert transport.size("default").reserved == 2
    assert [transport.ack(job) for job in taken] == [True, True]


def test_of_a_removal_and_a_claim_at_once_one_wins(clean_connection):
    transport = get_transport(clean_connection)
    pushed = [item() for _ in range(60)]
    transport.push_many(pushed)
    removed: list[str] = []
    claimed: list[str] = []

    def remove_all() -> None:
        removed.extend(job.id for job in pushed if transport.remove(job.id, "default"))
        connections.close_all()

    def claim_all() -> None:
        while jobs := transport.reserve(["default"], 3, 30, "w"):
            claimed.extend(job.id for job in jobs)
        connections.close_all()

    threads = [threading.Thread(target=remove_all), threading.Thread(target=claim_all)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(removed + claimed) == sorted(job.id for job in pushed)
    assert transport.size("default").reserved == len(claimed)
