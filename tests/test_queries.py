"""Read-only questions: find, recent, lineage, windows, queues seen, stats."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from django_jobqueue import FailedJobNotFound, failures
from django_jobqueue.models import FailedJob
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue, mysql_down


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_find_by_row_id_or_job_id(store):
    record = make()
    pk = failures.record(record).id
    assert failures.get(str(pk)).id == pk
    assert failures.get(record.uuid).id == pk
    for ref in ("999999", "f" * 32, "not-an-id"):
        with pytest.raises(FailedJobNotFound):
            failures.get(ref)


@pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
def test_find_falls_back_to_the_redis_store(redis_client):
    with mysql_down():
        record = make()
        failures.record(record)
    with jobqueue(FAILED_DATABASE="mysql"):
        found = failures.get(record.uuid)
    assert (found.store, found.id, found.uuid) == ("redis", record.uuid, record.uuid)
    assert found.fingerprint


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_recent_is_newest_first_and_limited(store):
    ids = [failures.record(make(queue="q", age_hours=age)).id for age in (5, 1, 3)]
    failures.record(make(queue="other"))
    assert [row.id for row in failures.select(2, queue="q")] == [ids[1], ids[2]]


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_lineage_follows_retry_of_through_existing_rows(store):
    first = make()
    failures.record(first)
    second = make()
    second.payload = json.dumps({**json.loads(second.payload), "retry_of": first.uuid})
    second_id = failures.record(second).id
    third = make()
    third.payload = json.dumps({**json.loads(third.payload), "retry_of": second.uuid})
    steps = failures.lineage(third.payload)
    assert [(s.uuid, s.failed_id) for s in steps] == [
        (second.uuid, second_id), (first.uuid, FailedJob.objects.using(store).get(
            uuid=first.uuid).pk)]
    FailedJob.objects.using(store).filter(uuid=second.uuid).delete()
    assert [(s.uuid, s.failed_id) for s in failures.lineage(third.payload)] == [
        (second.uuid, None)]
    assert failures.lineage("{not json") == []


@pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
def test_window_count_includes_failures_waiting_in_the_fallback(redis_client):
    with mysql_down():
        failures.record(make(queue="a"))
        failures.record(make(queue="a", age_hours=3))
    with jobqueue(FAILED_DATABASE="mysql"):
        failures.record(make(queue="a"))
        failures.record(make(queue="b"))
        hour_ago = timezone.now() - dt.timedelta(hours=1)
        assert failures.count(since=hour_ago) == 3
        assert failures.count(since=hour_ago, queue="a") == 2
        assert failures.queues() == ["a", "b"]


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_stats_days_fingerprints_and_hours(store):
    # Whole days apart, so that each lands on its own calendar day whatever the time now.
    for exc, hours in [("KeyError", 0), ("KeyError", 72), ("KeyError", 144), ("OSError", 96)]:
        failures.record(make(queue="q", exc=exc, age_hours=hours))
    day_ago = timezone.now() - dt.timedelta(hours=24)
    result = failures.stats(hours_since=day_ago)
    [queue] = result["by_queue"]
    assert (queue["queue"], queue["count"], queue["days"]) == ("q", 4, 4)
    top = result["by_fingerprint"][0]
    assert (top["count"], top["exception_class"], len(top["fingerprint"])) == (3, "KeyError", 40)
    assert [hour["count"] for hour in result["by_hour"]] == [1]
    assert failures.stats(since=timezone.now() - dt.timedelta(hours=100))["total"] == 3


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_stats_from_the_redis_store(redis_client):
    with jobqueue(FAILED_STORE="redis"):
        for exc, hours in [("KeyError", 0), ("KeyError", 2), ("OSError", 30)]:
            failures.record(make(queue="r", exc=exc, age_hours=hours))
        result = failures.stats(hours_since=timezone.now() - dt.timedelta(hours=24))
    # The Redis store alone is where failures belong: none wait to move anywhere.
    assert result["total"] == 3 and result["fallback"] == 0
    assert [(g["exception_class"], g["count"]) for g in result["by_exception_class"]] == [
        ("KeyError", 2), ("OSError", 1)]
    assert sum(hour["count"] for hour in result["by_hour"]) == 2
    assert result["by_fingerprint"][0]["count"] == 2


def test_unknown_criteria_are_refused():
    from django_jobqueue.failures.criteria import as_q, matches

    with pytest.raises(TypeError, match="unknown failed-job criteria: color"):
        as_q(color="red")
    with pytest.raises(TypeError, match="no ids"):
        matches(make(), ids=[1])
    assert matches(make(queue="q"), queue="q", since=timezone.now() - dt.timedelta(hours=1))
    assert not matches(make(queue="q"), queue="q", before=timezone.now() - dt.timedelta(hours=1))
