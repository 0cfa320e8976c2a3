"""The transport contract, run against memory, SQLite, MariaDB, PostgreSQL and Redis."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import pytest
from django.db import connections

from django_jobqueue.exceptions import TransportError
from django_jobqueue.transports import PushItem, get_transport
from tests.support.params import TRANSPORT_PARAMS
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("connection_name", TRANSPORT_PARAMS, indirect=True)


def item(queue="default", delay=0.0, priority=0, payload=None):
    job_id = uuid.uuid4().hex
    return PushItem(job_id, queue, payload or f'{{"job":"x","id":"{job_id}"}}', delay, priority)


def test_push_reserve_ack(clean_connection):
    transport = get_transport(clean_connection)
    pushed = item()
    transport.push(pushed)
    assert transport.size("default").ready == 1
    [job] = transport.reserve(["default"], 5, 30, "tok")
    assert (job.id, job.payload, job.attempts) == (pushed.id, pushed.payload, 1)
    assert transport.size("default").reserved == 1
    assert transport.reserve(["default"], 5, 30, "tok2") == []
    assert transport.ack(job) is True
    assert transport.size("default").total == 0


def test_fifo_then_priority(clean_connection):
    transport = get_transport(clean_connection)
    items = [item() for _ in range(3)]
    urgent = item(priority=10)
    transport.push_many(items)
    transport.push(urgent)
    got = transport.reserve(["default"], 10, 30, "tok")
    assert next(job.id for job in got) == urgent.id
    assert sorted(job.id for job in got[1:]) == sorted(i.id for i in items)
    reserved_in_order = []
    transport.ack_many(got)
    transport.push_many(items)
    for _ in items:
        [job] = transport.reserve(["default"], 1, 30, "t")
        reserved_in_order.append(job.id)
    assert reserved_in_order == [i.id for i in items]


def test_queues_are_separate_and_ordered_by_preference(clean_connection):
    transport = get_transport(clean_connection)
    low, high = item("low"), item("high")
    transport.push_many([low, high])
    assert [j.id for j in transport.reserve(["high", "low"], 1, 30, "t")] == [high.id]
    assert [j.id for j in transport.reserve(["other"], 1, 30, "t")] == []
    assert [j.id for j in transport.reserve(["high", "low"], 1, 30, "t")] == [low.id]


def test_delayed_job_becomes_ready(clean_connection):
    transport = get_transport(clean_connection)
    delayed = item(delay=0.4)
    transport.push(delayed)
    assert transport.reserve(["default"], 1, 30, "t") == []
    assert transport.size("default").delayed == 1
    jobs = wait_until(lambda: transport.reserve(["default"], 1, 30, "t"), timeout=5)
    assert jobs[0].id == delayed.id


def test_release_keeps_attempts_and_replaces_payload(clean_connection):
    transport = get_transport(clean_connection)
    transport.push(item())
    [job] = transport.reserve(["default"], 1, 30, "t1")
    assert transport.release(job, 0, '{"job":"x","v":2}') is True
    [again] = transport.reserve(["default"], 1, 30, "t2")
    assert again.attempts == 2 and again.payload == '{"job":"x","v":2}'
    assert transport.release(again, 0, undo_attempt=True)
    [third] = transport.reserve(["default"], 1, 30, "t3")
    assert third.attempts == 2


def test_release_with_delay(clean_connection):
    transport = get_transport(clean_connection)
    transport.push(item())
    [job] = transport.reserve(["default"], 1, 30, "t1")
    transport.release(job, 0.3)
    assert transport.reserve(["default"], 1, 30, "t2") == []
    wait_until(lambda: transport.reserve(["default"], 1, 30, "t2"), timeout=5)


def test_stale_reservation_cannot_ack_or_release(clean_connection):
    transport = get_transport(clean_connection)
    transport.push(item())
    [job] = transport.reserve(["default"], 1, 0.2, "old")
    time.sleep(0.3)  # let the lease lapse (the store's clock decides)
    [taken] = wait_until(lambda: transport.collect(["default"], 10, 30, "new"), timeout=5)
    assert taken.id == job.id and taken.attempts == 1  # collection counts no attempt
    assert transport.ack(job) is False
    assert transport.release(job, 0) is False
    assert transport.renew([job], 30) == [job]
    assert transport.renew([taken], 30) == []
    assert transport.ack(taken) is True


def test_renewed_lease_is_not_collected(clean_connection):
    transport = get_transport(clean_connection)
    transport.push(item())
    [job] = transport.reserve(["default"], 1, 0.5, "t")
    assert transport.renew([job], 30) == []
    time.sleep(0.6)
    assert transport.collect(["default"], 10, 30, "m") == []


def test_claims_are_exclusive_under_concurrency(clean_connection):
    transport = get_transport(clean_connection)
    transport.push_many([item() for _ in range(200)])
    seen: list[str] = []
    lock = threading.Lock()

    def consume(n: int) -> None:
        local = get_transport(clean_connection)
        while True:
            jobs = local.reserve(["default"], 7, 30, f"w{n}")
            if not jobs:
                break
            local.ack_many(jobs)
            with lock:
                seen.extend(job.id for job in jobs)
        connections.close_all()

    threads = [threading.Thread(target=consume, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(seen) == 200 and len(set(seen)) == 200
    assert transport.size("default").total == 0


def test_exchange_removes_the_finished_and_takes_the_next(clean_connection):
    transport = get_transport(clean_connection)
    first, second, third, elsewhere = item(), item(), item(), item("other")
    transport.push_many([first, elsewhere])
    done = transport.reserve(["default", "other"], 2, 30, "t1")
    transport.push_many([second, third])
    taken = transport.exchange(done, [], ["default"], 1, 0, 30, "t2")
    assert [job.id for job in taken] == [second.id]
    assert taken[0].attempts == 1
    sizes = transport.size("default"), transport.size("other")
    assert (sizes[0].ready, sizes[0].reserved, sizes[1].total) == (1, 1, 0)
    # A stale reservation is not removed, whatever queue it is on.
    stale = dataclasses.replace(taken[0], token="nobody")
    again = transport.exchange([stale], [], ["default"], 5, 0, 30, "t3")
    assert [job.id for job in again] == [third.id]
    assert transport.size("default").reserved == 2
    # Settling alone (no queues) reserves nothing.
    assert transport.exchange([taken[0], *again], [], [], 0, 0, 30, "") == []
    assert transport.size("default").total == 0


def test_an_exchange_admits_what_it_reserved_and_keeps_nothing_if_admission_fails(
        clean_connection):
    transport = get_transport(clean_connection)
    jobs = [item(), item(), item()]
    transport.push_many(jobs)
    seen = []

    def admit(reserved):
        # On a database the admission is part of the reservation's transaction: one commit.
        alias = getattr(transport, "alias", None)
        seen.append(([job.id for job in reserved],
                     alias is not None and connections[alias].in_atomic_block))
        transport.release(reserved[1], 60, undo_attempt=True)  # sent to wait, inside it too

    taken = transport.exchange([], [], ["default"], 2, 0, 30, "t1", admit=admit)
    assert [ids for ids, _ in seen] == [[jobs[0].id, jobs[1].id]]
    assert seen[0][1] == (transport.name in ("default", "mysql", "postgres"))
    assert [job.id for job in taken] == [jobs[0].id, jobs[1].id]
    size = transport.size("default")
    assert (size.reserved, size.delayed, size.ready) == (1, 1, 1)

    def refuse(reserved):
        raise TransportError("the permits' store does not answer")

    with pytest.raises(TransportError):
        transport.exchange(taken[:1], [], ["default"], 1, 0, 30, "t2", admit=refuse)
    # The batch that could not be admitted is not left reserved, nor charged an attempt.
    [again] = transport.reserve(["default"], 5, 30, "t3")
    assert (again.id, again.attempts) == (jobs[2].id, 1)
    # A database admits an empty batch too: a transaction retried after a conflict in its
    # admission, finding no job the second time, must leave no batch of the first behind.
    calls = []
    transport.exchange([], [], ["default"], 1, 0, 30, "t4", admit=calls.append)
    assert calls == ([[]] if transport.name in ("default", "mysql", "postgres") else [])


def test_prefetched_jobs_of_a_dead_worker_go_back_uncharged(clean_connection):
    transport = get_transport(clean_connection)
    running, ahead, marked = item(), item(), item()
    transport.push_many([running, ahead, marked])
    taken = transport.exchange([], [], ["default"], 1, 2, 0.3, "dead")
    assert [job.id for job in taken] == [running.id, ahead.id, marked.id]
    transport.exchange([], [taken[2]], [], 0, 0, 0.3, "")  # the third began running
    time.sleep(0.4)  # let the leases lapse (the store's clock decides)
    collected = transport.collect(["default"], 10, 30, "new")
    # Started jobs are taken over as abandoned; the prefetched one is back in the queue with
    # its attempt taken back.
    assert sorted(job.id for job in collected) == sorted([running.id, marked.id])
    assert all(job.attempts == 1 for job in collected)
    assert transport.size("default").ready == 1
    [again] = transport.reserve(["default"], 5, 30, "next")
    assert (again.id, again.attempts) == (ahead.id, 1)


def test_prefetched_jobs_are_leased_short_until_marked_then_go_back_first(clean_connection):
    transport = get_transport(clean_connection)
    running, ahead, marked = item(), item(), item()
    transport.push_many([running, ahead, marked])
    began = time.monotonic()
    taken = transport.exchange([], [], ["default"], 1, 2, 30, "dead", prefetch_lease=0.3)
    assert [job.id for job in taken] == [running.id, ahead.id, marked.id]
    # The third begins running: its mark gives it the whole lease.
    transport.exchange([], [taken[2]], [], 0, 0, 30, "")
    later = item()
    transport.push(later)
    assert transport.requeue_expired(["default"]) == 0  # nothing expired yet
    # Only the prefetched job that never started goes back, once its short lease is out.
    assert wait_until(lambda: transport.requeue_expired(["default"]), timeout=10) == 1
    assert time.monotonic() - began >= 0.25
    assert transport.size("default").reserved == 2
    # First in line, before the job pushed since, and uncharged.
    [again] = transport.reserve(["default"], 1, 30, "next")
    assert (again.id, again.attempts) == (ahead.id, 1)
    assert transport.collect(["default"], 10, 30, "new") == []  # the others still leased


def test_a_requeue_leaves_an_abandoned_started_job_to_collection(clean_connection):
    transport = get_transport(clean_connection)
    started, ahead = item(), item()
    transport.push_many([started, ahead])
    transport.exchange([], [], ["default"], 1, 1, 0.2, "dead", prefetch_lease=0.2)
    # Both leases ran out together: the prefetched job goes back, the started one stays.
    assert wait_until(lambda: transport.requeue_expired(["default"]), timeout=10) == 1
    assert transport.size("default").reserved == 1
    [collected] = transport.collect(["default"], 10, 30, "new")
    assert (collected.id, collected.attempts) == (started.id, 1)


def test_a_handed_back_prefetched_job_keeps_its_attempts(clean_connection):
    transport = get_transport(clean_connection)
    transport.push(item())
    [ahead] = transport.exchange([], [], ["default"], 0, 1, 30, "t1")
    assert transport.release(ahead, 0, undo_attempt=True)
    [again] = transport.reserve(["default"], 1, 30, "t2")
    assert (again.id, again.attempts) == (ahead.id, 1)


def test_push_many_and_clear(clean_connection):
    transport = get_transport(clean_connection)
    transport.push_many([item() for _ in range(1200)])
    assert transport.size("default").ready == 1200
    assert transport.clear("default") == 1200
    assert transport.size("default").total == 0


def test_release_keeps_priority(clean_connection):
    transport = get_transport(clean_connection)
    urgent = item(priority=10)
    transport.push(urgent)
    [job] = transport.reserve(["default"], 1, 30, "t1")
    transport.push_many([item() for _ in range(3)])
    assert transport.release(job, 0) is True
    assert transport.reserve(["default"], 1, 30, "t2")[0].id == urgent.id


def test_queue_names_list_every_queue_holding_jobs(clean_connection):
    transport = get_transport(clean_connection)
    transport.push_many([item("emails"), item("emails"), item("imports", delay=60)])
    [taken] = transport.reserve(["other"], 1, 30, "t") or [None]
    assert taken is None
    assert {"emails", "imports"} <= set(transport.queue_names())
    for queue in ("emails", "imports"):
        transport.clear(queue)


def test_upcoming_lists_delayed_jobs_soonest_first(clean_connection):
    transport = get_transport(clean_connection)
    later, sooner = item(delay=300), item(delay=60)
    transport.push_many([later, item(), sooner])
    upcoming = transport.upcoming("default", 5)
    assert [job.id for job in upcoming] == [sooner.id, later.id]
    assert upcoming[0].payload == sooner.payload
    assert 50 < upcoming[0].due_in <= 60 and 290 < upcoming[1].due_in <= 300
    assert [job.id for job in transport.upcoming("default", 1)] == [sooner.id]
