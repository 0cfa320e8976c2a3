"""Flow control in ``testing.work()``: expiry, paused queues, cancel requests and progress
reach jobs run in-process as they reach a worker's."""

from __future__ import annotations

import json
import time

import pytest

from django_jobqueue import failures
from django_jobqueue.coordination.memory import MemoryCoordination
from django_jobqueue.flow.names import FLOW_SCOPE, cancel_name, paused_name
from django_jobqueue.models import FailedJob
from django_jobqueue.signals import job_cancelled, job_failed
from django_jobqueue.testing import work
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support import ledger
from tests.support.settings_overrides import jobqueue

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _memory_default(ledger):
    with jobqueue(DEFAULT_CONNECTION="memory", DEFAULT_EXCEPTION_HANDLER=False):
        get_transport("memory").clear("default")
        get_transport("memory").clear("high")
        MemoryCoordination("memory").clear()
        yield
        MemoryCoordination("memory").clear()


def signals_seen(signal):
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    signal.connect(receiver, weak=False)
    return seen, lambda: signal.disconnect(receiver)


def test_an_expired_job_is_kept_as_expired_and_never_runs():
    failed, done = signals_seen(job_failed)
    late = jobs.Expiring("late").dispatch(expires_at=time.time() - 0.001)
    jobs.Expiring("fresh").dispatch()
    try:
        result = work()
    finally:
        done()
    assert (result.succeeded, result.expired, result.failed) == (1, 1, 0)
    assert [e["value"] for e in ledger.events("ran")] == ["fresh"]
    record = FailedJob.objects.get()
    assert record.uuid == late.id
    assert record.exception_class == "django_jobqueue.exceptions.JobExpired"
    assert not failed and not ledger.events("failed_hook")


def test_a_retried_expired_job_is_a_new_job_that_runs():
    jobs.Expiring("late").dispatch(expires_at=time.time() - 0.001)
    assert work().expired == 1
    record = FailedJob.objects.get()
    failures.retry(record.pk)
    assert work().succeeded == 1, "its old expiry stayed with the record"
    assert [e["value"] for e in ledger.events("ran")] == ["late"]


def test_a_paused_queue_is_left_alone():
    coordination = get_transport("memory").coordination
    coordination.write(FLOW_SCOPE, paused_name("default"), json.dumps({"at": 0, "by": ""}))
    jobs.Record(1).dispatch()
    jobs.Record(2).dispatch(queue="high")
    assert work(["default", "high"]).succeeded == 1
    assert [e["value"] for e in ledger.events("ran")] == [2]
    coordination.write(FLOW_SCOPE, paused_name("default"), None)
    assert work(["default", "high"]).succeeded == 1


def test_a_job_that_checks_its_cancel_request_ends_cancelled_not_failed():
    cancelled, done_c = signals_seen(job_cancelled)
    failed, done_f = signals_seen(job_failed)
    job = jobs.Cancellable("c").dispatch()
    get_transport("memory").coordination.write(
        FLOW_SCOPE, cancel_name(job.id), json.dumps({"at": 0, "by": "t"}), ttl=60)
    try:
        result = work()
    finally:
        done_c()
        done_f()
    assert (result.cancelled, result.failed, result.retried) == (1, 0, 0), "never retried"
    record = FailedJob.objects.get()
    assert record.exception_class == "django_jobqueue.exceptions.JobCancelled"
    assert ledger.events("saw_cancel") and not ledger.events("failed_hook")
    assert [(c["job_id"], c["running"]) for c in cancelled] == [(job.id, True)]
    assert not failed
