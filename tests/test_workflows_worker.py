"""Chains and batches in real ``runworker`` processes, on each store: the order of a chain
across queues and connections, a held chain resumed by a retry, a batch's callbacks once
each with their summary, and the rest of a batch cancelled while workers run it (chaos
scenario 18 runs them under SIGKILL)."""

from __future__ import annotations

import pytest

from django_jobqueue import FailedJobNotFound, failures, job_status
from django_jobqueue.workflows import batch, batch_status, chain
from django_jobqueue.workflows.operate import cancel_batch
from tests import jobs
from tests.support import ledger
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"]),
]

CONNECTIONS = [pytest.param("default", id="sqlite"), pytest.param("mysql", id="mariadb"),
               pytest.param("postgres", id="postgresql"), pytest.param("redis", id="redis")]


def steps() -> list[str]:
    return [e["value"] for e in ledger.events("step")]


def callbacks() -> dict[str, dict]:
    seen: dict[str, dict] = {}
    for event in ledger.events("callback"):
        assert event["value"] not in seen, f"callback {event['value']} ran twice"
        seen[event["value"]] = event
    return seen


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_a_chain_runs_in_order_across_queues(conn, start_worker, empty_queues):
    chain(jobs.Step("a"), jobs.HighStep("b"), jobs.Step("c")).dispatch(connection=conn)
    worker = start_worker("default", "high", "--connection", conn)
    wait_until(lambda: len(steps()) == 3, timeout=30)
    assert steps() == ["a", "b", "c"]
    wait_until(lambda: "event=chain_finished" in worker.output(), timeout=10)


def test_a_chain_crosses_connections(start_worker, empty_queues):
    sent = chain(jobs.Step("a"), jobs.RedisStep("b"), jobs.Step("c")).dispatch()
    assert [step.connection for step in sent.steps] == ["default", "redis", "default"]
    start_worker("--connection", "default")
    start_worker("--connection", "redis")
    wait_until(lambda: len(steps()) == 3, timeout=30)
    assert steps() == ["a", "b", "c"]


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_a_held_chain_resumes_when_its_failed_step_is_retried(conn, start_worker,
                                                              empty_queues):
    sent = chain(jobs.Step("a"), jobs.Step("b", until_fixed=True), jobs.Step("c")
                 ).dispatch(connection=conn)
    worker = start_worker("--connection", conn)
    record = wait_until(lambda: _recorded(sent.steps[1].id), timeout=30)
    wait_until(lambda: "event=chain_held" in worker.output(), timeout=10)
    assert job_status(sent.steps[2].id, conn).state == "held"
    ledger.write("fix", value="b")
    failures.retry(record.id)
    wait_until(lambda: steps() == ["a", "b", "c"], timeout=30)


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_a_batch_fires_each_callback_once(conn, start_worker, empty_queues):
    children = [jobs.Step(str(n), fail=n % 5 == 0) for n in range(20)]
    sent = batch(children, on_failure=jobs.Callback("failure"),
                 on_success=jobs.Callback("success"), on_complete=jobs.Callback("complete"),
                 ).dispatch(connection=conn)
    start_worker("--connection", conn, "--concurrency", "2")
    wait_until(lambda: len(callbacks()) == 2, timeout=60)
    fired = callbacks()
    assert sorted(fired) == ["complete", "failure"]
    assert (fired["failure"]["succeeded"], fired["failure"]["failed"]) == (16, 4)
    assert sorted(fired["failure"]["failed_ids"]) == sorted(
        sent.jobs[n].id for n in range(0, 20, 5))
    status = batch_status(sent.id, conn)
    assert status is not None and status.complete and status.pending == 0


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_cancelling_the_rest_of_a_running_batch(conn, start_worker, empty_queues):
    sent = batch([jobs.Sleeper(0.3, key=str(n)) for n in range(12)],
                 on_complete=jobs.Callback("complete")).dispatch(connection=conn)
    start_worker("--connection", conn, "--concurrency", "1")
    wait_until(lambda: ledger.events("started"), timeout=30)
    report = cancel_batch(sent.id, by="test", connection=conn)
    assert report.cancelled + report.requested >= 10
    wait_until(lambda: "complete" in callbacks(), timeout=60)
    done = callbacks()["complete"]
    assert done["succeeded"] + done["cancelled"] == 12
    assert done["cancelled"] >= 10
    assert len(ledger.events("started")) <= 2


def _recorded(job_id):
    try:
        return failures.get(job_id)
    except FailedJobNotFound:
        return None
