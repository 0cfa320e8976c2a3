"""Bulk retries: keyset walks, pacing, filters, dry runs, kept rows, the Redis store."""

from __future__ import annotations

import json
import time

import pytest

from django_jobqueue import failures
from django_jobqueue.models import FailedJob
from django_jobqueue.transports import get_transport
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue


class FakeClock:
    """A clock that only moves when slept on."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_paced_spaces_items_by_one_over_rate():
    clock = FakeClock()
    starts = []
    for _ in failures.paced(range(4), 4, clock, clock.sleep):
        starts.append(clock.now)
        clock.now += 0.1  # the work itself takes 0.1 s
    assert starts == [100.0, 100.25, 100.5, 100.75]
    assert clock.sleeps == [0.15, 0.15, 0.15]


def test_paced_does_not_burst_after_a_slow_item():
    clock = FakeClock()
    starts = []
    for i in failures.paced(range(3), 10, clock, clock.sleep):
        starts.append(round(clock.now, 6))
        clock.now += 1.0 if i == 0 else 0.0
    assert starts == [100.0, 101.0, 101.1]


def test_paced_without_rate_never_sleeps():
    clock = FakeClock()
    assert list(failures.paced(range(5), None, clock, clock.sleep)) == list(range(5))
    assert clock.sleeps == []


def pushed():
    return get_transport("memory").size("default").total


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_iter_ids_walks_in_batches_and_ignores_rows_added_meanwhile(store):
    ids = [failures.record(make(queue="a" if i % 3 else "b")).id for i in range(7)]
    walk = failures.table().refs(batch_size=2, queue="a")
    first = next(walk)
    failures.record(make(queue="a"))  # a new failure during the walk is not visited
    assert [first, *walk] == [pk for i, pk in enumerate(ids) if i % 3]


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_retry_matching_filters_reports_and_keeps_unretryable_rows(store):
    good = [failures.record(make(exc="KeyError")).id for _ in range(3)]
    gone = failures.record(make(exc="KeyError", job="shop.jobs.Deleted")).id
    other = failures.record(make(exc="OSError")).id
    done = []
    report = failures.retry_matching(exception_class="KeyError", batch_size=2,
                                    progress=done.append)
    assert sorted(report.retried) == good and list(report.errors) == [gone]
    assert "no registered job class" in report.errors[gone]
    assert report.queues == {"default": 3} and done == [1, 2, 3, 4]
    assert set(FailedJob.objects.using(store).values_list("pk", flat=True)) == {gone, other}
    assert pushed() == 3


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_retry_matching_by_ids_reports_missing_and_filtered_out(store):
    a = failures.record(make(queue="a")).id
    b = failures.record(make(queue="b")).id
    report = failures.retry_matching(ids=[a, b, 999], queue="a")
    assert list(report.retried) == [a]
    assert set(report.errors) == {b, 999}
    report = failures.retry_matching(ids=[b, 999])
    assert list(report.retried) == [b] and "no failed job with id 999" in report.errors[999]


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_dry_run_changes_nothing(store):
    ok = failures.record(make()).id
    gone = failures.record(make(job="shop.jobs.Deleted")).id
    report = failures.retry_matching(queue="default", dry_run=True)
    assert report.planned == [ok] and list(report.errors) == [gone] and not report.retried
    assert FailedJob.objects.using(store).count() == 2 and pushed() == 0


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_retried_jobs_that_fail_again_are_not_retried_twice_in_one_run(store):
    failures.record(make())

    def fail_again(pk):
        # What a fast worker would do: the retried job fails again at once.
        failures.record(make())

    report = failures.retry_matching(queue="default", progress=fail_again)
    assert len(report.retried) == 1 and FailedJob.objects.using(store).count() == 1


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_rate_bounds_the_pace_of_real_retries(store):
    for _ in range(5):
        failures.record(make())
    started = time.monotonic()
    report = failures.retry_matching(queue="default", rate=50)
    # Five retries at 50/s: four gaps of at least 20 ms each.
    assert time.monotonic() - started >= 0.08
    assert len(report.retried) == 5 and pushed() == 5


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_retry_from_the_redis_store(redis_client):
    with jobqueue(FAILED_STORE="redis", DEFAULT_CONNECTION="memory"):
        get_transport("memory").clear("default")
        old, new = make(queue="q", age_hours=2), make(queue="q")
        gone = make(queue="q", job="shop.jobs.Deleted")
        for record in (old, new, gone):
            failures.record(record)
        dry = failures.retry_matching(dry_run=True)
        assert dry.planned == [old.uuid, new.uuid] and list(dry.errors) == [gone.uuid]
        report = failures.retry_matching(ids=[new.uuid, "f" * 32])
        assert list(report.retried) == [new.uuid] and "f" * 32 in report.errors
        [job] = get_transport("memory").reserve(["q"], 5, 30, "t")
        assert json.loads(job.payload)["retry_of"] == new.uuid
        assert {r.uuid for r in failures.select(queue="q")} == {old.uuid, gone.uuid}
