"""Cancelling jobs (``django_jobqueue.cancel``, ``cancel_jobs``): a waiting job is taken out
and kept as cancelled, a job a worker holds is asked to stop; on every transport."""

from __future__ import annotations

import json
import uuid

import pytest
from django.conf import settings

from django_jobqueue import cancel, cancel_jobs, failures
from django_jobqueue.exceptions import ConfigurationError, JobCancelled, TransportError
from django_jobqueue.flow import cancel as cancel_module
from django_jobqueue.flow.names import FLOW_SCOPE, cancel_name
from django_jobqueue.signals import job_cancelled
from django_jobqueue.testing import work
from django_jobqueue.transports import FoundJob, PushItem, get_transport
from tests.jobs import Noop, Record, UniqueReport
from tests.support.params import TRANSPORT_PARAMS
from tests.support.settings_overrides import jobqueue

EVERY_TRANSPORT = pytest.mark.parametrize("connection_name", TRANSPORT_PARAMS, indirect=True)
ON_MEMORY = pytest.mark.django_db(transaction=True, databases=["default"])


@pytest.fixture
def memory():
    get_transport("memory").clear("default")
    get_transport("memory").clear("bulk")
    yield "memory"
    get_transport("memory").clear("default")
    get_transport("memory").clear("bulk")


@pytest.fixture
def told():
    """The ``job_cancelled`` signals sent while the test runs."""
    sent = []

    def receiver(sender, **kwargs):
        sent.append(kwargs)

    job_cancelled.connect(receiver)
    yield sent
    job_cancelled.disconnect(receiver)


def request_of(connection, job_id):
    found = get_transport(connection).coordination.read(FLOW_SCOPE, [cancel_name(job_id)])
    return json.loads(found[cancel_name(job_id)]) if found else None


@EVERY_TRANSPORT
def test_a_waiting_job_is_taken_out_and_kept_as_cancelled(clean_connection, transactional_db,
                                                         told):
    now = Record(1).dispatch(connection=clean_connection)
    later = Record(2).dispatch(connection=clean_connection, delay=300)
    kept = Record(3).dispatch(connection=clean_connection)

    done = cancel(now.id, clean_connection, by="admin:alice")
    assert (done.outcome, done.state, done.queue) == ("cancelled", "queued", "default")
    assert cancel(later.id, clean_connection).state == "delayed"
    transport = get_transport(clean_connection)
    assert [job.id for job in transport.jobs("default", 10)] == [kept.id]

    record = failures.get(now.id)
    assert record.id == done.failed_id and record.outcome == "cancelled"
    assert record.exception_class == "django_jobqueue.exceptions.JobCancelled"
    assert record.message == "cancelled by admin:alice before it ran"
    assert (record.attempts, len(record.errors), record.fingerprint) == (0, 1, "")
    assert record.errors[0]["exception_class"] == record.exception_class
    assert json.loads(record.payload)["data"]["args"] == [1]
    assert failures.get(later.id).message == "cancelled before it ran"

    assert [(t["job_id"], t["running"], t["queue"], t["connection"]) for t in told] == [
        (now.id, False, "default", clean_connection), (later.id, False, "default",
                                                       clean_connection)]
    assert isinstance(told[0]["job"], Record) and told[0]["job"].value == 1
    assert request_of(clean_connection, now.id) is None  # the request went with the job
    assert cancel(now.id, clean_connection).outcome == "not_found"


@EVERY_TRANSPORT
def test_a_job_a_worker_holds_is_asked_to_stop(clean_connection, transactional_db, told):
    running = Record(1).dispatch(connection=clean_connection)
    held = Record(2).dispatch(connection=clean_connection)
    transport = get_transport(clean_connection)
    transport.exchange([], [], ["default"], 1, 1, 30, "w")

    asked = [cancel(job.id, clean_connection, by="ops") for job in (running, held)]
    assert [(a.outcome, a.state) for a in asked] == [("requested", "running"),
                                                     ("requested", "prefetched")]
    assert request_of(clean_connection, running.id)["by"] == "ops"
    assert transport.size("default").reserved == 2
    assert failures.count(outcome="cancelled") == 0 and told == []


@ON_MEMORY
def test_a_job_a_worker_takes_just_before_its_removal_is_asked_to_stop(memory, monkeypatch):
    job = Record(1).dispatch(connection=memory)
    transport = get_transport(memory)
    remove, requests = transport.remove, []

    def taken_first(job_id, queue):
        requests.append(request_of(memory, job_id))
        transport.reserve(["default"], 1, 30, "w")  # a worker wins the race
        return remove(job_id, queue)

    monkeypatch.setattr(transport, "remove", taken_first)
    done = cancel(job.id, memory, by="ops")
    assert (done.outcome, done.state) == ("requested", "running")
    # The request was there before the removal was tried: the worker that won finds it.
    assert requests[0]["by"] == "ops" and request_of(memory, job.id)["by"] == "ops"


@ON_MEMORY
def test_cancel_looks_on_every_connection_unless_told_which(memory):
    both = {name: settings.JOBQUEUE["CONNECTIONS"][name] for name in ("default", "memory")}
    job = Record(1).dispatch(connection=memory)
    with jobqueue(CONNECTIONS=both):
        assert cancel(uuid.uuid4().hex).outcome == "not_found"
        assert cancel(job.id, "default").outcome == "not_found"  # it is not there
        done = cancel(job.id)
    assert (done.outcome, done.connection) == ("cancelled", "memory")
    with pytest.raises(ConfigurationError, match="Unknown jobqueue connection 'nope'"):
        cancel(job.id, "nope")


@ON_MEMORY
def test_a_store_that_does_not_answer_is_an_error_not_a_not_found(memory):
    down = {"TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
            "OPTIONS": {"URL": "redis://127.0.0.1:9/0"}}
    job = Record(1).dispatch(connection=memory)
    with jobqueue(CONNECTIONS={"down": down, "memory": settings.JOBQUEUE["CONNECTIONS"][
            "memory"]}):
        with pytest.raises(TransportError):
            cancel(uuid.uuid4().hex)
        assert cancel(job.id).outcome == "cancelled"  # another store has it: enough


@ON_MEMORY
def test_a_cancel_the_store_cannot_record_leaves_the_job_queued(memory, monkeypatch, told):
    job = Record(1).dispatch(connection=memory, delay=60)

    def down(record):
        raise TransportError("the failed-job store does not answer")

    monkeypatch.setattr(failures, "record", down)
    with pytest.raises(TransportError):
        cancel(job.id, memory)
    back = get_transport(memory).find(job.id, ["default"])
    assert back is not None and back.state == "delayed" and 55 < back.due_in <= 60
    assert request_of(memory, job.id) is None and told == []


@ON_MEMORY
def test_a_cancelled_unique_job_frees_its_key(memory, ledger):
    key = uuid.uuid4().hex
    first = UniqueReport(key).dispatch(connection=memory)
    assert UniqueReport(key).dispatch(connection=memory).duplicate
    assert cancel(first.id, memory).outcome == "cancelled"
    assert not UniqueReport(key).dispatch(connection=memory).duplicate
    assert work(connection=memory).succeeded == 1  # the new one; the cancelled one is gone


@ON_MEMORY
def test_cancel_jobs_cancels_a_queue_of_one_job_class_page_by_page(memory, monkeypatch):
    monkeypatch.setattr(cancel_module, "BATCH", 2)  # several pages, and a held job among them
    records = [Record(n).dispatch(connection=memory, queue="bulk") for n in range(5)]
    others = [Noop().dispatch(connection=memory, queue="bulk") for _ in range(2)]
    elsewhere = Record(9).dispatch(connection=memory)
    get_transport(memory).reserve(["bulk"], 1, 30, "w")  # records[0] runs

    dry = cancel_jobs("bulk", memory, job_class="tests.jobs.Record", dry_run=True)
    assert (dry.cancelled, dry.requested, dry.dry_run) == (4, 1, True)
    assert get_transport(memory).size("bulk").total == 7

    seen = []
    report = cancel_jobs("bulk", memory, job_class="tests.jobs.Record", by="ops",
                         progress=seen.append)
    assert (report.cancelled, report.requested, report.not_found) == (4, 1, 0)
    assert (report.total, report.connection, report.queue) == (5, "memory", "bulk")
    assert seen == [1, 2, 3, 4, 5]
    left = {job.id: job.state for job in get_transport(memory).jobs("bulk", 10)}
    assert left == {records[0].id: "running", **{job.id: "queued" for job in others}}
    assert request_of(memory, records[0].id)["by"] == "ops"
    assert get_transport(memory).find(elsewhere.id, ["default"]) is not None
    assert failures.count(outcome="cancelled", queue="bulk") == 4


@ON_MEMORY
def test_cancel_jobs_stops_at_its_limit(memory):
    for n in range(4):
        Record(n).dispatch(connection=memory, queue="bulk")
    report = cancel_jobs("bulk", memory, limit=3)
    assert report.cancelled == 3 and get_transport(memory).size("bulk").total == 1
    assert cancel_jobs("bulk", memory).cancelled == 1


def test_the_cancelled_record_of_a_retrying_job_keeps_its_earlier_errors():
    body = {"job": "tests.jobs.Record", "errors": [{"attempt": 1, "exception_class": "E"}]}
    record = cancel_module.cancelled_record(
        FoundJob("a" * 32, "default", json.dumps(body), "delayed", 5.0), "memory",
        json.dumps(body), body, "")
    assert record.attempts == 1 and [e["exception_class"] for e in record.errors] == [
        "E", "django_jobqueue.exceptions.JobCancelled"]
    assert record.exception.startswith("django_jobqueue.exceptions.JobCancelled: cancelled")
    assert JobCancelled.__name__ in record.exception_class


@ON_MEMORY
def test_a_cancelled_scheduled_job_tells_its_entry(memory):
    from django_jobqueue.schedule.state import outcome_name

    job_id = uuid.uuid4().hex
    body = {"v": 1, "id": job_id, "job": "tests.jobs.Record", "queue": "default",
            "connection": memory, "data": {"args": [1], "kwargs": {}},
            "schedule": {"entry": "nightly-cancel", "slot": 1700000000.0}}
    get_transport(memory).push(PushItem(job_id, "default", json.dumps(body)))
    assert cancel(job_id, memory).outcome == "cancelled"
    told = get_transport(memory).coordination.read("default", [outcome_name("nightly-cancel")])
    assert json.loads(told[outcome_name("nightly-cancel")])["outcome"] == "cancelled"


@ON_MEMORY
def test_cancel_jobs_walks_again_for_a_job_stepped_over_when_another_ended(memory,
                                                                          monkeypatch):
    monkeypatch.setattr(cancel_module, "BATCH", 2)
    Record(0).dispatch(connection=memory, queue="bulk")  # taken by a worker below
    waiting = [Record(n).dispatch(connection=memory, queue="bulk") for n in range(1, 5)]
    transport = get_transport(memory)
    [taken] = transport.reserve(["bulk"], 1, 30, "w")
    pages, read = transport.jobs, []

    def running_job_ends_after_the_first_page(queue, limit, offset=0):
        read.append(offset)
        if len(read) == 2:
            transport.ack(taken)  # the list shifts under the walk: one job is stepped over
        return pages(queue, limit, offset)

    monkeypatch.setattr(transport, "jobs", running_job_ends_after_the_first_page)
    report = cancel_jobs("bulk", memory)
    assert (report.cancelled, report.requested) == (4, 1)
    assert transport.size("bulk").total == 0 and len(waiting) == 4
