"""A workflow told a job's end, on every transport: the chain's next step and a batch's
callbacks are pushed once, however often the end is told (a worker SIGKILLed between a
job's end and its ack tells it again) and however many workers tell ends at once."""

from __future__ import annotations

import threading

import pytest

from django_jobqueue.flow.names import FLOW_SCOPE, status_name
from django_jobqueue.flow.running import RunContext
from django_jobqueue.payload import json_object
from django_jobqueue.transports import get_transport
from django_jobqueue.workflows import batch, batch_status, chain
from django_jobqueue.workflows.advance import End, advance
from tests import jobs
from tests.support.params import TRANSPORT_PARAMS

pytestmark = pytest.mark.parametrize("connection_name", TRANSPORT_PARAMS, indirect=True)


def take_all(conn: str, queue: str = "default") -> list:
    """Every ready job of ``queue``, reserved as a worker would."""
    taken, transport = [], get_transport(conn)
    while found := transport.reserve([queue], 50, 30.0, "test-token"):
        taken.extend(found)
    return taken


def end_of(job, outcome: str = "succeeded") -> End:
    return End(json_object(job.payload), job.id, outcome, job.payload)


def test_a_chain_step_told_twice_pushes_the_next_step_once(clean_connection):
    conn = clean_connection
    sent = chain(jobs.Step("a"), jobs.Step("b"), jobs.Step("c")).dispatch(connection=conn)
    for step in range(2):
        [job] = take_all(conn)
        assert job.id == sent.steps[step].id
        advance([end_of(job)])
        advance([end_of(job)])  # killed before its ack: told again
        get_transport(conn).ack(job)
    [last] = take_all(conn)
    assert last.id == sent.steps[2].id
    assert take_all(conn) == []


def test_a_failed_step_pushes_nothing(clean_connection):
    conn = clean_connection
    chain(jobs.Step("a"), jobs.Step("b")).dispatch(connection=conn)
    [job] = take_all(conn)
    advance([end_of(job, "failed")])
    assert take_all(conn) == []


def test_batch_callbacks_are_pushed_once_with_the_summary(clean_connection):
    conn = clean_connection
    sent = batch([jobs.Step(str(n)) for n in range(3)], on_failure=jobs.Callback("failure"),
                 on_success=jobs.Callback("success"), on_complete=jobs.Callback("complete"),
                 name="b1").dispatch(connection=conn, queue="default")
    children = take_all(conn)
    assert sorted(job.id for job in children) == sorted(job.id for job in sent.jobs)
    ends = [end_of(job, "failed" if job.id == sent.jobs[1].id else "succeeded")
            for job in children]
    advance(ends[:2])
    assert take_all(conn) == []  # one child has not ended
    advance(ends)  # all of them, two told again
    advance(ends[2:])
    fired = {json_object(job.payload)["batch_callback"]["kind"]: json_object(job.payload)
             for job in take_all(conn)}
    assert sorted(fired) == ["on_complete", "on_failure"]
    summary = fired["on_failure"]["batch_callback"]["summary"]
    assert (summary["total"], summary["succeeded"], summary["failed"]) == (3, 2, 1)
    assert summary["failed_ids"] == [sent.jobs[1].id]
    status = batch_status(sent.id, conn)
    assert status is not None and status.complete and status.name == "b1"


def test_ends_told_at_once_by_many_workers_fire_each_callback_once(clean_connection):
    conn = clean_connection
    size = 8
    sent = batch([jobs.Step(str(n)) for n in range(size)],
                 on_complete=jobs.Callback("complete")).dispatch(connection=conn)
    children = take_all(conn)
    assert len(children) == size
    start, errors = threading.Barrier(size), []

    def tell(job) -> None:
        try:
            start.wait(10)
            for _ in range(3):
                advance([end_of(job)])
        except Exception as exc:  # seen by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=tell, args=(job,)) for job in children]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    [fired] = take_all(conn)
    assert json_object(fired.payload)["batch_callback"]["summary"]["succeeded"] == size
    status = batch_status(sent.id, conn)
    assert status is not None and (status.succeeded, status.pending) == (size, 0)


def test_a_step_that_fails_after_it_pushed_the_next_holds_nothing(clean_connection):
    """Its worker was killed after the next step was pushed and before the ack: the lease
    is collected and, with no tries left, the step fails for good. The chain goes on."""
    from django_jobqueue.payload import loads
    from django_jobqueue.workflows.advance import holds
    from django_jobqueue.workflows.marks import chain_of

    conn = clean_connection
    sent = chain(jobs.Step("a"), jobs.Step("b"), jobs.Step("c")).dispatch(connection=conn)
    [job] = take_all(conn)
    mark = chain_of(loads(job.payload))
    assert holds(mark)
    advance([end_of(job)])
    assert not holds(mark)
    advance([end_of(job, "cancelled")])  # would cancel the rest, were it held
    [nxt] = take_all(conn)
    assert nxt.id == sent.steps[1].id


def test_a_step_told_again_keeps_the_record_of_the_next_one(clean_connection):
    """A step's worker killed after the next step's push and before its ack: the step is
    told again once its lease runs out, by when the next step may have run, reported its
    progress and succeeded. The next step's status record (what ``job_status`` tells of it
    once it left its queue) is its own by then, not the "waiting" one its chain wrote, and
    must stay."""
    conn = clean_connection
    sent = chain(jobs.Step("a"), jobs.Step("b"), jobs.Step("c")).dispatch(connection=conn)
    [first] = take_all(conn)
    advance([end_of(first)])
    [second] = take_all(conn)
    assert record_of(conn, second.id) is None  # "waiting" no more
    run = RunContext(second.id, second.queue, conn, probe=lambda: False)
    run.report(1, 1, "done")
    run.succeeded()
    get_transport(conn).ack(second)
    advance([end_of(first)])  # told again
    record = record_of(conn, second.id)
    assert record is not None and (record["state"], record["message"]) == ("succeeded", "done")
    assert record_of(conn, sent.steps[2].id)["state"] == "waiting"


def record_of(conn: str, job_id: str) -> dict | None:
    name = status_name(job_id)
    return json_object(get_transport(conn).coordination.read(FLOW_SCOPE, [name]).get(name))
