"""Chains and batches run by ``testing.work()`` on the memory transport: the order of a
chain, a chain held by a failed step and resumed by its retry, a batch's callbacks once
each with their summary, and children added from inside a batch."""

from __future__ import annotations

import importlib

import pytest
from django.db import transaction

from django_jobqueue import failures, job_status
from django_jobqueue.coordination.memory import MemoryCoordination
from django_jobqueue.testing import work
from django_jobqueue.transports import get_transport
from django_jobqueue.workflows import batch, batch_status, chain
from tests import jobs
from tests.support import ledger
from tests.support.settings_overrides import jobqueue

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _memory_default(ledger):
    with jobqueue(DEFAULT_CONNECTION="memory", DEFAULT_EXCEPTION_HANDLER=False):
        get_transport("memory").clear("default")
        MemoryCoordination("memory").clear()
        yield
        MemoryCoordination("memory").clear()


def steps() -> list[str]:
    return [e["value"] for e in ledger.events("step")]


def callbacks() -> list[dict]:
    return ledger.events("callback")


def test_a_chain_runs_its_steps_in_order_each_once():
    sent = chain(jobs.Step("a"), jobs.Step("b"), jobs.Step("c")).dispatch()
    assert job_status(sent.steps[2].id, "memory").state == "waiting"
    result = work()
    assert steps() == ["a", "b", "c"]
    assert result.succeeded == 3
    assert [e["id"] for e in ledger.events("step")] == [s.id for s in sent.steps]


def test_a_chain_dispatched_in_a_transaction_that_rolls_back_leaves_nothing():
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        sent = chain(jobs.Step("a"), jobs.Step("b")).dispatch()
        raise Rollback
    assert job_status(sent.steps[1].id, "memory").state == "unknown"
    assert get_transport("memory").size("default").total == 0

    with transaction.atomic():
        sent = chain(jobs.Step("a"), jobs.Step("b")).dispatch()
        assert job_status(sent.steps[1].id, "memory").state == "unknown"  # not yet
    assert job_status(sent.steps[1].id, "memory").state == "waiting"
    work()
    assert steps() == ["a", "b"]


def test_a_note_that_fails_at_the_commit_still_queues_the_chain(monkeypatch, caplog):
    # The module, not the function the package exports under the same name.
    chain_module = importlib.import_module("django_jobqueue.workflows.chain")

    def down(note):
        raise ConnectionError("store down")

    with monkeypatch.context() as patch, transaction.atomic():
        patch.setattr(chain_module._Note, "write", down)
        sent = chain(jobs.Step("a"), jobs.Step("b")).dispatch()
    assert f"event=chain_waiting_not_noted id={sent.steps[1].id}" in caplog.text
    work()
    assert steps() == ["a", "b"]


def test_a_failed_step_holds_the_rest_and_its_retry_resumes_the_chain():
    sent = chain(jobs.Step("a"), jobs.Step("b", until_fixed=True), jobs.Step("c")).dispatch()
    work()
    assert steps() == ["a"]
    record = failures.get(sent.steps[1].id)
    assert job_status(sent.steps[2].id, "memory").state == "held"
    ledger.write("fix", value="b")
    failures.retry(record.id)
    work()
    assert steps() == ["a", "b", "c"]


def test_a_batch_fires_each_callback_once_with_its_summary():
    sent = batch([jobs.Step("a"), jobs.Step("b", fail=True), jobs.Step("c")],
                 on_success=jobs.Callback("success"), on_failure=jobs.Callback("failure"),
                 on_complete=jobs.Callback("complete"), name="nightly").dispatch()
    work()
    seen = {e["value"]: e for e in callbacks()}
    assert sorted(seen) == ["complete", "failure"]
    failure = seen["failure"]
    assert (failure["total"], failure["succeeded"], failure["failed"]) == (3, 2, 1)
    assert failure["failed_ids"] == [sent.jobs[1].id]
    status = batch_status(sent.id, "memory")
    assert status is not None and status.complete and status.failed == 1
    assert status.name == "nightly"


def test_a_batch_s_children_have_job_ids_in_the_order_of_dispatch():
    sent = batch([jobs.Step(str(n)) for n in range(300)]).dispatch()
    ids = [one.id for one in sent.jobs]
    assert all(failures.is_job_id(one) for one in ids)
    assert ids == sorted(ids) and len(set(ids)) == 300
    assert {one[:20] for one in ids} == {sent.id[:20]}
    other = batch([jobs.Step("x")]).dispatch()
    assert not set(ids) & {one.id for one in other.jobs}


def test_a_retried_failed_child_completes_the_batch_and_fires_on_success_once():
    sent = batch([jobs.Step("a"), jobs.Step("b", until_fixed=True)],
                 on_success=jobs.Callback("success"),
                 on_complete=jobs.Callback("complete")).dispatch()
    work()
    assert [e["value"] for e in callbacks()] == ["complete"]
    ledger.write("fix", value="b")
    failures.retry(failures.get(sent.jobs[1].id).id)
    work()
    assert [e["value"] for e in callbacks()] == ["complete", "success"]
    assert callbacks()[1]["succeeded"] == 2


def test_a_child_adds_jobs_to_its_running_batch():
    batch([jobs.Spawner("s", 3)], on_complete=jobs.Callback("complete")).dispatch()
    work()
    assert sorted(steps()) == ["s.0", "s.1", "s.2"]
    [done] = callbacks()
    assert (done["total"], done["succeeded"]) == (4, 4)


def test_an_empty_batch_completes_at_once():
    batch([], on_success=jobs.Callback("success"), on_complete=jobs.Callback("complete"),
          on_failure=jobs.Callback("failure")).dispatch()
    work()
    assert sorted(e["value"] for e in callbacks()) == ["complete", "success"]


def test_deleting_a_held_step_cancels_the_rest_visibly():
    sent = chain(jobs.Step("a", fail=True), jobs.Step("b"), jobs.Step("c")).dispatch()
    work()
    record = failures.get(sent.steps[0].id)
    assert failures.forget(record.id)
    for step in sent.steps[1:]:
        kept = failures.get(step.id)
        assert kept.outcome == "cancelled"
        assert "was deleted" in kept.message
    assert job_status(sent.steps[2].id, "memory").state == "cancelled"
    work()
    assert steps() == []


def test_a_cancelled_step_cancels_the_rest():
    from django_jobqueue import cancel

    sent = chain(jobs.Step("a"), jobs.Step("b")).dispatch()
    cancel(sent.steps[0].id, "memory")
    work()
    assert steps() == []
    assert failures.get(sent.steps[1].id).outcome == "cancelled"


def test_cancel_the_rest_of_a_batch_fires_on_failure_with_the_cancelled_counted():
    from django_jobqueue.workflows.operate import cancel_batch

    sent = batch([jobs.Step(str(n)) for n in range(4)],
                 on_failure=jobs.Callback("failure")).dispatch()
    work(max_jobs=1)
    report = cancel_batch(sent.id, by="test", connection="memory")
    assert report.cancelled == 3
    work()
    [failure] = callbacks()
    assert (failure["succeeded"], failure["cancelled"]) == (1, 3)


def test_retry_failed_children_retries_only_the_failed_ones():
    from django_jobqueue.workflows.operate import failed_children, retry_failed_children

    sent = batch([jobs.Step("a"), jobs.Step("b", until_fixed=True),
                  jobs.Step("c", until_fixed=True)], on_success=jobs.Callback("success")
                 ).dispatch()
    work()
    assert sorted(r.uuid for r in failed_children(sent.id)) == sorted(
        [sent.jobs[1].id, sent.jobs[2].id])
    ledger.write("fix", value="b")
    ledger.write("fix", value="c")
    report = retry_failed_children(sent.id)
    assert len(report.retried) == 2
    work()
    assert [e["value"] for e in callbacks()] == ["success"]
    assert failed_children(sent.id) == []


def test_a_retried_child_is_stopped_by_its_batch_cancel_request():
    from django_jobqueue.workflows.operate import cancel_batch

    sent = batch([jobs.Step("a", until_fixed=True), jobs.Step("b")]).dispatch()
    work(max_jobs=1)
    ledger.write("fix", value="a")
    failures.retry(failures.get(sent.jobs[0].id).id)  # pending again, under a new id
    report = cancel_batch(sent.id, by="test", connection="memory")
    assert (report.cancelled, report.counts["not_found"]) == (1, 1)
    work()
    assert steps() == [], "the retried child was cancelled by its batch's request"
    assert batch_status(sent.id, "memory").cancelled == 2


def test_a_child_of_a_forgotten_batch_is_said_loudly(caplog):
    sent = batch([jobs.Step("a")], on_complete=jobs.Callback("complete")).dispatch()
    from django_jobqueue.workflows.marks import batch_scope

    get_transport("memory").coordination.tallies.forget(batch_scope(sent.id), sent.id)
    work()
    assert steps() == ["a"] and callbacks() == []
    assert "event=batch_forgotten" in caplog.text


def test_a_made_up_chain_mark_is_logged_and_the_job_still_ends(caplog):
    from django_jobqueue.dispatch import prepare
    from django_jobqueue.payload import dumps, loads
    from django_jobqueue.transports import PushItem

    ready = prepare(jobs.Step("a"))
    body = loads(ready.item.payload)
    body["chain"] = {"id": "c", "step": 0, "steps": 2, "rest": [
        {"id": "x", "job": "tests.jobs.Step", "queue": "default", "connection": "nowhere"}]}
    get_transport("memory").push(PushItem(body["id"], "default", dumps(body), 0, 0))
    result = work()
    assert result.succeeded == 1 and steps() == ["a"]
    assert "event=workflow_failed" in caplog.text
    assert get_transport("memory").size("default").ready == 0


def test_pruning_a_held_step_cancels_the_rest_visibly():
    sent = chain(jobs.Step("a", fail=True), jobs.Step("b")).dispatch()
    jobs.Step("alone", fail=True).dispatch()
    work()
    assert failures.prune(job_class="tests.jobs.Step", outcome="failed") == 2
    kept = failures.get(sent.steps[1].id)
    assert kept.outcome == "cancelled" and "was deleted" in kept.message


def test_unique_jobs_are_refused_where_a_workflow_waits_for_them():
    from django_jobqueue import PayloadError

    with pytest.raises(PayloadError, match="unique job"):
        batch([jobs.Step("a"), jobs.UniqueReport("acme")]).dispatch()
    with pytest.raises(PayloadError, match="unique job"):
        batch([jobs.Step("a")], on_complete=jobs.UniqueReport("acme")).dispatch()
    with pytest.raises(PayloadError, match="unique job"):
        chain(jobs.Step("a"), jobs.UniqueReport("acme")).dispatch()
    chain(jobs.UniqueReport("acme"), jobs.Step("b")).dispatch()  # first: its lock holds
    assert get_transport("memory").size("default").ready == 1


def test_a_child_that_runs_again_adds_its_children_once():
    from django_jobqueue.workflows.batch import BatchRef
    from django_jobqueue.workflows.marks import BatchMark

    sent = batch([jobs.Step("parent")]).dispatch()
    mark = BatchMark(sent.id, "memory", sent.jobs[0].id)
    first = BatchRef(mark).add([jobs.Step("x"), jobs.Step("y")])
    again = BatchRef(mark).add([jobs.Step("x"), jobs.Step("y")])  # the parent's second run
    assert [one.id for one in first] == [one.id for one in again]
    assert [one.duplicate for one in again] == [True, True]
    assert batch_status(sent.id, "memory").total == 3
    work()
    assert sorted(steps()) == ["parent", "x", "y"]


def test_a_batch_definition_is_renewed_as_its_count_is(monkeypatch):
    from django_jobqueue.workflows import advance as advancing

    class Clock:
        now = 1000.0

        @classmethod
        def monotonic(cls):
            return cls.now

    monkeypatch.setattr(advancing, "time", Clock)
    monkeypatch.setattr(advancing, "_renewed", {})
    writes = []

    def spy(scope, name, value, ttl=None):
        writes.append((name, ttl))
        return real_write(scope, name, value, ttl=ttl)

    with jobqueue(WORKFLOW_TTL=100.0):
        coordination = get_transport("memory").coordination
        real_write = coordination.write
        monkeypatch.setattr(coordination, "write", spy)
        batch([jobs.Step(str(n)) for n in range(3)]).dispatch()
        assert writes == [("definition", 150.0)]
        work(max_jobs=1)  # first count in this process: renewed
        work(max_jobs=1)  # a moment later: not again
        assert writes == [("definition", 150.0)] * 2
        Clock.now += 30.0  # a quarter of the TTL on
        work(max_jobs=1)
        assert writes == [("definition", 150.0)] * 3


def test_a_step_retried_and_failed_again_still_holds_the_next_one():
    sent = chain(jobs.Step("a"), jobs.Step("b", fail=True), jobs.Step("c")).dispatch()
    work()
    failures.retry(failures.get(sent.steps[1].id).id)
    work()  # the retry fails for good too, under its own id
    status = job_status(sent.steps[2].id, "memory")
    assert status.state == "held"
    assert status.waiting_on != sent.steps[1].id  # the retry, which holds it now


def test_a_workflow_spanning_the_memory_transport_and_another_is_refused_at_dispatch():
    from django_jobqueue import ConfigurationError

    with pytest.raises(ConfigurationError, match="cannot span connections"):
        chain(jobs.Step("a"), jobs.RedisStep("b")).dispatch()
    with pytest.raises(ConfigurationError, match="cannot span connections"):
        batch([jobs.Step("a"), jobs.RedisStep("b")]).dispatch()
    assert get_transport("memory").size("default").ready == 0  # nothing was queued
