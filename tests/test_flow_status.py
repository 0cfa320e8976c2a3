"""``django_jobqueue.job_status``: a job's state from its queue, its failed-job record or its
status record, with the progress it reported."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.conf import settings
from django.db import DatabaseError

from django_jobqueue import cancel, failures, job_status
from django_jobqueue.exceptions import ConfigurationError, TransportError
from django_jobqueue.flow.names import FLOW_SCOPE, status_name
from django_jobqueue.flow.status import Progress
from django_jobqueue.testing import work
from django_jobqueue.transports import get_transport
from tests.jobs import AlwaysFails, Record
from tests.support.factories import make
from tests.support.settings_overrides import jobqueue, mysql_down

pytestmark = pytest.mark.django_db(transaction=True, databases=["default"])


@pytest.fixture
def memory():
    """The memory connection, empty; with SQLite's the only ones configured (a look on
    every connection would ask servers this test has no database of)."""
    both = {name: settings.JOBQUEUE["CONNECTIONS"][name] for name in ("default", "memory")}
    with jobqueue(CONNECTIONS=both):
        get_transport("memory").clear("default")
        yield "memory"
        get_transport("memory").clear("default")


def report(job_id, state="running", done=3, total=4, message="rows", queue="default"):
    """What a worker writes as a job reports progress, and as it succeeds."""
    value = json.dumps({"state": state, "done": done, "total": total, "message": message,
                        "at": time.time(), "queue": queue})
    get_transport("memory").coordination.write(FLOW_SCOPE, status_name(job_id), value, ttl=60)


def test_waiting_and_taken_jobs_are_told_from_their_queue(memory):
    running = Record(1).dispatch(connection=memory)
    held = Record(2).dispatch(connection=memory)
    get_transport(memory).exchange([], [], ["default"], 1, 1, 30, "w")
    ready = Record(3).dispatch(connection=memory)
    later = Record(4).dispatch(connection=memory, delay=300)
    report(running.id)

    states = {job.id: job_status(job.id, memory) for job in (ready, later, running, held)}
    assert {job_id: status.state for job_id, status in states.items()} == {
        ready.id: "queued", later.id: "delayed", running.id: "running", held.id: "queued"}
    assert 290 < states[later.id].due_in <= 300 and states[later.id].progress is None
    assert states[running.id].progress.done == 3 and states[running.id].progress.percent == 75.0
    assert (states[ready.id].connection, states[ready.id].queue) == (memory, "default")


def test_a_cancel_a_worker_has_not_acted_on_yet_shows(memory):
    job = Record(1).dispatch(connection=memory)
    get_transport(memory).reserve(["default"], 1, 30, "w")
    assert not job_status(job.id, memory).cancel_requested
    assert cancel(job.id, memory).outcome == "requested"
    status = job_status(job.id, memory)
    assert (status.state, status.cancel_requested) == ("running", True)


def test_ended_jobs_are_told_from_their_record(memory, ledger):
    failed = AlwaysFails("k").dispatch(connection=memory)
    cancelled = Record(1).dispatch(connection=memory)
    report(failed.id, done=1, total=None, message="half way")
    cancel(cancelled.id, memory)
    assert work(connection=memory).failed == 1
    expired = failures.record(make(exc="django_jobqueue.exceptions.JobExpired",
                                   message="expired before it started"))

    gone = job_status(failed.id)
    assert (gone.state, gone.connection, gone.queue) == ("failed", memory, "default")
    assert gone.failed_id == failures.get(failed.id).id and gone.exception_class
    assert gone.progress == Progress(1, None, "half way", gone.progress.at)
    assert gone.progress.percent is None
    assert job_status(cancelled.id).state == "cancelled"
    lapsed = job_status(failures.get(expired.id).uuid, memory)
    assert (lapsed.state, lapsed.message) == ("expired", "expired before it started")
    assert job_status(cancelled.id, "default").state == "unknown"  # recorded elsewhere


def test_a_job_that_succeeded_is_told_from_its_status_record(memory):
    job_id = uuid.uuid4().hex
    report(job_id, state="succeeded", done=4, total=4, message="done", queue="emails")
    status = job_status(job_id, memory)
    assert (status.state, status.queue, status.progress.percent) == ("succeeded", "emails",
                                                                      100.0)
    data = status.as_dict()
    assert json.loads(json.dumps(data))["progress"]["percent"] == 100.0
    unknown = uuid.uuid4().hex
    assert job_status(unknown, memory).as_dict() == {
        "id": unknown, "state": "unknown", "connection": memory, "queue": "",
        "progress": None, "due_in": None, "cancel_requested": False, "failed_id": None,
        "exception_class": "", "message": "", "waiting_on": ""}


def test_every_connection_is_asked_and_one_that_does_not_answer_is_an_error(memory):
    down = {"TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
            "OPTIONS": {"URL": "redis://127.0.0.1:9/0"}}
    job = Record(1).dispatch(connection=memory)
    with jobqueue(CONNECTIONS={"down": down,
                               "memory": settings.JOBQUEUE["CONNECTIONS"]["memory"]}):
        assert job_status(job.id).state == "queued"
        with pytest.raises(TransportError):
            job_status(uuid.uuid4().hex)
    with pytest.raises(ConfigurationError):
        job_status(job.id, "nope")


@pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
def test_a_failed_job_store_that_does_not_answer_leaves_the_status_record_to_tell(memory):
    job_id = uuid.uuid4().hex
    report(job_id, state="succeeded")
    with mysql_down():
        assert job_status(job_id, memory).state == "succeeded"
        with pytest.raises(DatabaseError):
            job_status(uuid.uuid4().hex, memory)  # "unknown" would be a guess
