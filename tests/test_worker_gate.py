"""Three flow-control bugs that chaos scenario 17 (tests/chaos/test_chaos_flow.py) found,
each reproduced here deterministically: a retry's concurrency permit ended by the worker
that ran the attempt before, rate permits taken by jobs held ahead, and cancel requests
read only at heartbeats by a worker whose horses were all busy; and two a review found: a
job held ahead that expired before its horse took it, and a failed read of the requests."""

from __future__ import annotations

import json
import time

import pytest

from django_jobqueue.exceptions import TransportError
from django_jobqueue.flow.names import FLOW_SCOPE, cancel_name
from django_jobqueue.models import FailedJob
from django_jobqueue.transports import get_transport
from django_jobqueue.worker.claim import Claim
from django_jobqueue.worker.gate import Gate
from django_jobqueue.worker.outcomes import Outcomes
from tests import jobs
from tests.support import ledger
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"])]

CONNECTIONS = [pytest.param("default", id="sqlite"), pytest.param("redis", id="redis")]


def _take(conn: str, gate: Gate) -> tuple[Claim, list[Claim]]:
    """Reserve the next job of ``default`` as a worker does, and ask ``gate`` to admit it."""
    [reserved] = get_transport(conn).reserve(["default"], 1, 30, f"t-{gate.worker}")
    claim = Claim.of(reserved, 30)
    plan = gate.plan([claim], {claim.id})
    gate.take(plan)
    runnable, _ = gate.apply(plan)
    return claim, runnable


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_a_retry_taken_before_the_last_attempts_permit_is_given_back_keeps_its_permit(
        conn, empty_queues):
    transport = get_transport(conn)
    first, second = Gate(transport, "first", Outcomes()), Gate(transport, "second", Outcomes())
    job = jobs.Limited("retried").dispatch(connection=conn)
    claim, runnable = _take(conn, first)
    assert runnable == [claim]
    # The attempt fails and is retried: the reader ends it in the gate (its permit owed
    # until the next turn's flush) and the settler puts the job back, ready at once. (A
    # prefetched job handed back, stale, goes the same way: ended, then released at once.)
    first.ended(job.id)
    transport.release(claim.reserved, 0)
    retry, runnable = _take(conn, second)
    assert runnable == [retry]  # the second worker runs the retry...
    first.give_back(force=True)  # ...and the first one's next turn gives back what it owed
    lost = transport.coordination.extend(FLOW_SCOPE, second.held[job.id], 30.0)
    assert lost == [], "the retry runs without its permit: one more job may start"


@pytest.mark.slow
def test_a_worker_whose_horses_are_all_busy_sees_a_cancel_request_within_a_second(
        start_worker, empty_queues):
    job = jobs.Cancellable("ignores", obey=False).dispatch(connection="redis")
    jobs.Cancellable("busy too", obey=False).dispatch(connection="redis")
    # Heartbeat and maintenance far apart, so the only turns left are the poll's own.
    start_worker("--connection", "redis", "--concurrency", "2", settings_overrides={
        "CANCEL_GRACE": 0.5, "HEARTBEAT": 30.0, "MAINTENANCE_INTERVAL": 30.0, "LEASE": 120.0})
    wait_until(lambda: len(ledger.events("started")) == 2, timeout=20)
    get_transport("redis").coordination.write(
        FLOW_SCOPE, cancel_name(job.id), json.dumps({"at": time.time(), "by": "t"}), ttl=60)
    # Seen within about a second, killed 0.5 s later, recorded: 2 s is ample.
    wait_until(lambda: FailedJob.objects.filter(uuid=job.id).exists(), timeout=2.0)


@pytest.mark.slow
def test_no_second_sees_more_starts_than_the_rate_with_jobs_prefetched(start_worker,
                                                                      empty_queues):
    # One horse, busy 0.6 s with a job of no limit while the five that follow, prefetched,
    # hold the rate's five permits (5/s); five more, dispatched then, wait for the window.
    jobs.Sleeper(0.6, key="first").dispatch(connection="redis")
    for i in range(5):
        jobs.RateLimited(i).dispatch(connection="redis")
    worker = start_worker("--connection", "redis", "--concurrency", "1", "--prefetch", "5")
    wait_until(lambda: ledger.events("started"), timeout=20)
    for i in range(5, 10):
        jobs.RateLimited(i).dispatch(connection="redis")
    wait_until(lambda: len(ledger.events("rated_start")) == 10, timeout=20)
    starts = sorted(e["t"] for e in ledger.events("rated_start"))
    most = max(sum(1 for t in starts if first <= t < first + 1.0) for first in starts)
    assert most <= 5, (most, [round(t - starts[0], 3) for t in starts], worker.output()[-500:])


class _Down:
    def read(self, scope, names):
        raise TransportError("the store does not answer")


class _DownTransport:
    coordination = _Down()


def test_a_failed_read_of_pauses_and_cancels_keeps_what_was_seen_and_raises_nothing():
    gate = Gate(_DownTransport(), "w", Outcomes())  # type: ignore[arg-type]
    gate.paused = {"mail"}
    assert gate.poll(["mail", "default"], ["j1"], 10.0) == set()
    assert gate.active(["mail", "default"]) == ["default"] and gate.poll_failing


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_a_job_held_ahead_that_expired_meanwhile_ends_rather_than_waits(conn, empty_queues):
    transport = get_transport(conn)
    gate = Gate(transport, "w", Outcomes())
    jobs.RateLimited("late").dispatch(connection=conn, expires_at=time.time() + 60)
    [reserved] = transport.reserve(["default"], 1, 30, "t-w")
    claim = Claim.of(reserved, 30)
    claim.document["expires_at"] = time.time() - 1  # it expired while it waited ahead
    assert gate.admit_one(claim) == "ended"
    assert len(gate.outcomes) == 1, "its end is owed to the store"
