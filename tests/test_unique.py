"""Unique jobs: one job per key is queued, on every transport; the lock ends when its mode
says (finished, started, or only its time-to-live)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import connections, transaction

from django_jobqueue.exceptions import PayloadError
from django_jobqueue.testing import work
from django_jobqueue.transports import get_transport
from tests.jobs import UniquePerAccount, UniqueReport, UniqueUntilStarted, UniqueWindow
from tests.support import ledger as ledger_file
from tests.support.params import TRANSPORT_PARAMS
from tests.support.registry import own_registry  # noqa: F401 -- a fixture
from tests.support.waiting import wait_until

pytestmark = pytest.mark.usefixtures("ledger")
EVERY_TRANSPORT = pytest.mark.parametrize("connection_name", TRANSPORT_PARAMS, indirect=True)


def account() -> str:
    return uuid.uuid4().hex  # Redis keeps locks between tests: every test its own keys


@EVERY_TRANSPORT
def test_a_duplicate_is_not_queued_and_names_the_job_already_there(clean_connection):
    key = account()
    first = UniqueReport(key).dispatch(connection=clean_connection)
    again = UniqueReport(key).dispatch(connection=clean_connection)
    other = UniqueReport(account()).dispatch(connection=clean_connection)
    assert (first.duplicate, again.duplicate, other.duplicate) == (False, True, False)
    assert again.id == first.id
    assert get_transport(clean_connection).size("default").ready == 2


@EVERY_TRANSPORT
def test_the_lock_ends_when_the_job_finishes(clean_connection):
    key = account()
    first = UniqueReport(key).dispatch(connection=clean_connection)
    assert work(connection=clean_connection).succeeded == 1
    second = UniqueReport(key).dispatch(connection=clean_connection)
    assert not second.duplicate and second.id != first.id


@EVERY_TRANSPORT
def test_a_retrying_job_keeps_its_lock_and_a_job_failed_for_good_releases_it(
    clean_connection, transactional_db
):
    key = account()
    UniqueReport(key, fails=2).dispatch(connection=clean_connection)
    assert work(connection=clean_connection, max_jobs=1).retried == 1
    assert UniqueReport(key, fails=2).dispatch(connection=clean_connection).duplicate
    assert work(connection=clean_connection).failed == 1
    assert not UniqueReport(key, fails=2).dispatch(connection=clean_connection).duplicate


@EVERY_TRANSPORT
def test_until_started_frees_the_key_as_the_job_starts(clean_connection, ledger,
                                                       monkeypatch):
    monkeypatch.setattr(UniqueUntilStarted, "connection_name", clean_connection)
    key = account()
    UniqueUntilStarted(key).dispatch(connection=clean_connection)
    assert UniqueUntilStarted(key).dispatch(connection=clean_connection).duplicate
    assert work(connection=clean_connection).succeeded == 1
    [ran] = ledger_file.read()
    assert ran["held"] is False, "released before handle() ran"


@EVERY_TRANSPORT
def test_until_queued_holds_the_key_for_unique_for_whatever_the_job_does(clean_connection):
    key = account()
    UniqueWindow(key).dispatch(connection=clean_connection)
    assert work(connection=clean_connection).succeeded == 1
    assert UniqueWindow(key).dispatch(connection=clean_connection).duplicate
    wait_until(lambda: not UniqueWindow(key).dispatch(connection=clean_connection).duplicate,
               timeout=10)


@EVERY_TRANSPORT
def test_a_custom_unique_key_decides_what_a_duplicate_is(clean_connection):
    key = account()
    UniquePerAccount(key, note="a").dispatch(connection=clean_connection)
    assert UniquePerAccount(key, note="b").dispatch(connection=clean_connection).duplicate


@EVERY_TRANSPORT
def test_dispatch_many_queues_one_job_per_key(clean_connection):
    from django_jobqueue.dispatch import dispatch_many

    key = account()
    results = dispatch_many([UniqueReport(key), UniqueReport(key), UniqueReport(account())],
                            connection=clean_connection)
    assert [r.duplicate for r in results] == [False, True, False]
    assert get_transport(clean_connection).size("default").ready == 2


@EVERY_TRANSPORT
def test_concurrent_dispatches_of_one_key_queue_one_job(clean_connection):
    key = account()
    start = threading.Barrier(8)
    results = []

    def dispatch_many_times() -> None:
        start.wait()
        try:
            for _ in range(25):
                results.append(UniqueReport(key).dispatch(connection=clean_connection))
        finally:
            connections.close_all()  # this thread's own; left open, they block teardown

    threads = [threading.Thread(target=dispatch_many_times) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 200
    assert len([r for r in results if not r.duplicate]) == 1
    assert len({r.id for r in results}) == 1
    assert get_transport(clean_connection).size("default").ready == 1


@EVERY_TRANSPORT
def test_a_rolled_back_dispatch_leaves_the_key_free(clean_connection):
    transport = get_transport(clean_connection)
    alias = getattr(transport, "alias", None)
    if alias is None:
        pytest.skip("only a database transport joins the caller's transaction")
    key = account()
    with pytest.raises(RuntimeError), transaction.atomic(using=alias):
        UniqueReport(key).dispatch(connection=clean_connection, using=alias)
        raise RuntimeError("rolled back")
    assert transport.size("default").total == 0
    assert not UniqueReport(key).dispatch(connection=clean_connection).duplicate


@pytest.mark.parametrize(("attribute", "value", "message"), [
    ("unique_for", 0, "unique_for must be a number of seconds above 0"),
    ("unique_until", "done", "unique_until must be one of queued, started, finished"),
])
@EVERY_TRANSPORT
def test_wrong_unique_options_raise_at_dispatch(clean_connection, monkeypatch, attribute,
                                                value, message):
    monkeypatch.setattr(UniqueReport, attribute, value)
    with pytest.raises(PayloadError, match=message):
        UniqueReport(account()).dispatch(connection=clean_connection)
    assert get_transport(clean_connection).size("default").total == 0


@pytest.mark.django_db(transaction=True)
def test_in_a_transaction_on_another_store_the_lock_is_taken_at_commit():
    clean_connection = "memory"
    get_transport(clean_connection).clear("default")
    key = account()
    with transaction.atomic():
        first = UniqueReport(key).dispatch(connection=clean_connection)
        second = UniqueReport(key).dispatch(connection=clean_connection)
        assert not first.duplicate and not second.duplicate, "not known before the commit"
        assert get_transport(clean_connection).size("default").total == 0
    assert get_transport(clean_connection).size("default").ready == 1
    with pytest.raises(RuntimeError), transaction.atomic():
        UniqueReport(account()).dispatch(connection=clean_connection)
        raise RuntimeError("rolled back")
    assert get_transport(clean_connection).size("default").ready == 1


@pytest.mark.usefixtures("own_registry")
def test_wrong_unique_options_are_system_check_errors():
    from django_jobqueue import Job
    from django_jobqueue.checks import check_settings

    class NeverUnique(Job):
        unique_for = -5

    class TypoUntil(Job):
        unique_for = 60
        unique_until = "finish"

    found = {(e.id, e.msg, e.hint) for e in check_settings()}
    assert found == {
        ("django_jobqueue.E027", f"{NeverUnique.name}.unique_for must be a number of seconds"
         " above 0, or None (not unique), not -5.", None),
        ("django_jobqueue.E027", f"{TypoUntil.name}.unique_until must be one of 'queued',"
         " 'started', 'finished', not 'finish'.", "Did you mean 'finished'?"),
    }


@EVERY_TRANSPORT
def test_arguments_passed_by_position_or_by_name_are_one_key(clean_connection):
    key = account()
    UniqueReport(key).dispatch(connection=clean_connection)
    assert UniqueReport(account=key, fails=0).dispatch(connection=clean_connection).duplicate


@EVERY_TRANSPORT
def test_a_delayed_jobs_lock_counts_unique_for_from_when_it_is_due(clean_connection):
    key = account()
    UniqueWindow(key).dispatch(connection=clean_connection, delay=3)
    # unique_for is 0.5 s: without the delay counted, the key would be free again by now.
    wait_until(lambda: get_transport(clean_connection).coordination.read(
        "default", [f"unique:{UniqueWindow(key).unique_key()}"]), timeout=1)
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        assert UniqueWindow(key).dispatch(connection=clean_connection).duplicate


@pytest.mark.django_db(transaction=True)
def test_a_retried_unique_job_goes_back_behind_its_lock(ledger):
    from django_jobqueue import failures
    from django_jobqueue.exceptions import DuplicateJob
    from django_jobqueue.models import FailedJob

    transport = get_transport("memory")
    transport.clear("default")
    key = account()
    UniqueReport(key, fails=5).dispatch(connection="memory")
    assert work(connection="memory").failed == 1
    [row] = FailedJob.objects.all()
    queued = UniqueReport(key, fails=5).dispatch(connection="memory")
    with pytest.raises(DuplicateJob, match=queued.id):
        failures.retry(row.pk)
    assert FailedJob.objects.filter(pk=row.pk).exists(), "the record stays"
    assert transport.size("default").ready == 1
    transport.clear("default")
    transport.coordination.release("default", f"unique:{UniqueReport(key, 5).unique_key()}",
                                   queued.id)
    new_id = failures.retry(row.pk)
    assert not FailedJob.objects.filter(pk=row.pk).exists()
    assert UniqueReport(key, fails=5).dispatch(connection="memory").id == new_id


def test_a_worker_releases_a_unique_jobs_lock_once_its_ack_is_sent(ledger):
    from django_jobqueue.worker.claim import Claim
    from django_jobqueue.worker.execute import run_attempt
    from django_jobqueue.worker.outcomes import Outcomes
    from django_jobqueue.worker.protocol import Run

    transport = get_transport("memory")
    transport.clear("default")
    key = account()
    UniqueReport(key).dispatch(connection="memory")
    [job] = transport.reserve(["default"], 1, 30, "t")
    claim = Claim.of(job, 60.0)
    result, _ = run_attempt(Run(claim.id, claim.payload, claim.attempts, "w", 60.0), [])
    assert result.failure is None
    # The horse is done, the ack is not sent: a worker dying now must leave the key held.
    assert UniqueReport(key).dispatch(connection="memory").duplicate
    outcomes = Outcomes()
    outcomes.succeeded(claim, 0.0)
    assert UniqueReport(key).dispatch(connection="memory").duplicate
    transport.ack_many(outcomes.acks)
    outcomes.acks_sent()
    assert not UniqueReport(key).dispatch(connection="memory").duplicate


@pytest.mark.django_db(transaction=True)
def test_a_retry_or_run_now_inside_a_transaction_is_refused_at_once(ledger):
    from django_jobqueue import failures
    from django_jobqueue.exceptions import DuplicateJob
    from django_jobqueue.models import FailedJob

    transport = get_transport("memory")
    transport.clear("default")
    key = account()
    UniqueReport(key, fails=5).dispatch(connection="memory")
    assert work(connection="memory").failed == 1
    [row] = FailedJob.objects.all()
    queued = UniqueReport(key, fails=5).dispatch(connection="memory")
    # ATOMIC_REQUESTS, say: the push would wait for the commit, the record's deletion not.
    with pytest.raises(DuplicateJob), transaction.atomic():
        failures.retry(row.pk)
    assert FailedJob.objects.filter(pk=row.pk).exists()
    assert [j.id for j in transport.reserve(["default"], 5, 30, "t")] == [queued.id]


@pytest.mark.django_db(transaction=True)
def test_an_until_started_job_that_never_started_releases_its_key_when_it_fails(ledger):
    transport = get_transport("memory")
    transport.clear("default")
    key = account()
    UniqueUntilStarted(key).dispatch(connection="memory")
    # Its payload no longer builds (say, its class was renamed): it fails for good without
    # ever starting.
    [job] = transport.reserve(["default"], 1, 30, "t")
    broken = job.payload.replace('"job":"tests.jobs.UniqueUntilStarted"',
                                 '"job":"tests.jobs.Gone"')
    assert broken != job.payload
    transport.release(job, 0, broken, undo_attempt=True)
    assert work(connection="memory").failed == 1
    assert not UniqueUntilStarted(key).dispatch(connection="memory").duplicate


def test_a_failure_whose_lease_was_lost_leaves_the_key_to_whoever_runs_the_job(ledger):
    import dataclasses

    from django_jobqueue.worker.claim import Claim
    from django_jobqueue.worker.outcomes import Outcomes
    from django_jobqueue.worker.settler import Settler

    transport = get_transport("memory")
    transport.clear("default")
    key = account()
    UniqueReport(key).dispatch(connection="memory")
    [job] = transport.reserve(["default"], 1, 30, "mine")
    stale = Claim.of(dataclasses.replace(job, token="taken-over"), 60.0)
    settler = Settler(transport, "w", Outcomes(), lambda *a: None, lambda *a: None)
    settler.remove([stale])
    assert UniqueReport(key).dispatch(connection="memory").duplicate
