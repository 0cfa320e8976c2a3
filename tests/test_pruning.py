"""Pruning: reports by queue, dry runs, the Redis store, and statements that stay short."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connections
from django.utils import timezone

from django_jobqueue import failures
from django_jobqueue.failures import PruneRequest
from django_jobqueue.models import FailedJob
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue, mysql_down

DAY = 24


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_dry_run_counts_by_queue_and_deletes_nothing(store):
    for queue, age in [("a", 40), ("a", 50), ("b", 45), ("b", 1)]:
        failures.record(make(queue=queue, age_hours=age * DAY))
    plan = failures.prune_report(older_than=dt.timedelta(days=30), dry_run=True)
    assert plan.by_store["database"] == {"a": 2, "b": 1} and plan.total == 3
    assert FailedJob.objects.using(store).count() == 4
    done = failures.prune_report(older_than=dt.timedelta(days=30))
    assert done.by_store["database"] == plan.by_store["database"] and not done.dry_run
    assert list(FailedJob.objects.using(store).values_list("queue", flat=True)) == ["b"]


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_keep_per_queue_and_exception_class(store):
    for age in range(5):
        failures.record(make(queue="a", exc="KeyError", age_hours=age))
    failures.record(make(queue="a", exc="OSError", age_hours=10))
    failures.record(make(queue="b", exc="KeyError", age_hours=10))
    report = failures.prune_report(keep=2, queue="a", exception_class="KeyError",
                                  batch_size=2)
    assert report.by_store["database"] == {"a": 3}
    left = FailedJob.objects.using(store).order_by("failed_at")
    assert [(r.queue, r.exception_class) for r in left] == [
        ("a", "OSError"), ("b", "KeyError"), ("a", "KeyError"), ("a", "KeyError")]
    newest = max(r.failed_at for r in left)
    assert newest > timezone.now() - dt.timedelta(minutes=5)


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_bad_limits_are_refused(store):
    failures.record(make())
    for bad in ({}, {"keep": -1}, {"keep": 1, "batch_size": 0}):
        with pytest.raises(ValueError):
            failures.prune_report(**bad)
    assert FailedJob.objects.using(store).count() == 1


@pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
def test_queue_prune_empties_that_queue_in_the_fallback(redis_client):
    with mysql_down():
        failures.record(make(queue="old"))
        failures.record(make(queue="old"))
        failures.record(make(queue="new"))
    with jobqueue(FAILED_DATABASE="mysql"):
        failures.record(make(queue="old"))
        plan = failures.prune_report(queue="old", dry_run=True)
        assert plan.by_store == {"database": {"old": 1}, "redis": {"old": 2}}
        assert redis_client.llen("jqtest:queue:failed:old") == 2
        report = failures.prune_report(queue="old")
        assert report.by_store == {"database": {"old": 1}, "redis": {"old": 2}}
    assert redis_client.llen("jqtest:queue:failed:old") == 0
    assert redis_client.llen("jqtest:queue:failed:new") == 1


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_redis_primary_prunes_redis_only(redis_client):
    with jobqueue(FAILED_STORE="redis"):
        failures.record(make(age_hours=40 * DAY))
        failures.record(make())
        plan = failures.prune_report(older_than=dt.timedelta(days=30), dry_run=True)
        assert plan.by_store == {"redis": {"default": 1}}
        assert failures.prune(older_than=dt.timedelta(days=30)) == 1
    assert redis_client.llen("jqtest:queue:failed:default") == 1


@pytest.mark.django_db(transaction=True, databases=["default"])
@pytest.mark.parametrize(("keep", "criteria"), [
    (None, {"before": timezone.now()}),
    (None, {"before": timezone.now(), "queue": "a"}),
    (None, {"before": timezone.now(), "exception_class": "KeyError"}),
    (None, {"fingerprint": "f" * 40}),
    (None, {"job_class": "x"}),
    (2, {}),
    (2, {"queue": "a"}),
])
def test_each_prune_batch_is_an_index_range_without_sorting(keep, criteria):
    """The batch SELECT must not scan the table or sort it, whatever the filter."""
    for hours in range(4):
        failures.record(make(queue="a", age_hours=hours))
    store = failures.table()
    queryset = store._prunable(PruneRequest(before=criteria.pop("before", None), keep=keep,
                                            criteria=criteria))
    batch = queryset.order_by("failed_at", "pk").values_list("pk", "queue")[:1000]
    sql, params = batch.query.sql_with_params()
    with connections["default"].cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " | ".join(row[-1] for row in cursor.fetchall())
    assert "SEARCH queue_failed_jobs USING" in plan and "SCAN" not in plan, plan
    assert "TEMP B-TREE" not in plan, plan
