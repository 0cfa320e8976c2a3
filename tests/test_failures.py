"""The failed-jobs service on SQLite, MariaDB and PostgreSQL, and the Redis fallback."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.db import connections
from django.utils import timezone

from django_jobqueue import TransportError, UnknownJobClass, failures
from django_jobqueue.failures.database import DatabaseStore
from django_jobqueue.models import FailedJob
from django_jobqueue.transports import get_transport
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue, mysql_down
from tests.support.waiting import wait_until


def rows(alias):
    return FailedJob.objects.using(alias)


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_record_is_idempotent_per_job_uuid(store):
    record = make()
    first = failures.record(record)
    again = failures.record(record)
    assert (first.store, first.id) == ("database", again.id)
    assert first.new_fingerprint and not again.new_fingerprint
    assert rows(store).count() == 1


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_filter_count_and_stats(store):
    for queue, exc, hours in [("a", "KeyError", 0), ("a", "KeyError", 1), ("b", "OSError", 30)]:
        failures.record(make(queue=queue, exc=exc, age_hours=hours))
    assert failures.count(queue="a") == 2
    assert failures.count(exception_class="OSError") == 1
    since = timezone.now() - dt.timedelta(hours=24)
    assert failures.count(since=since) == 2
    stats = failures.stats()
    assert stats["total"] == 3
    assert [(g["queue"], g["count"]) for g in stats["by_queue"]] == [("a", 2), ("b", 1)]
    assert stats["by_exception_class"][0]["exception_class"] == "KeyError"
    assert sum(h["count"] for h in stats["by_hour"]) == 3
    # The seed's SQL runs unchanged on the table.
    with connections[store].cursor() as cursor:
        cursor.execute("SELECT queue, COUNT(*) as count FROM queue_failed_jobs GROUP BY queue"
                       " ORDER BY queue")
        assert list(cursor.fetchall()) == [("a", 2), ("b", 1)]


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_prune_by_age_queue_and_keep_in_batches(store):
    for hours in range(10):
        failures.record(make(queue="old" if hours % 2 else "new", age_hours=hours * 24))
    progress = []
    deleted = failures.prune(older_than=dt.timedelta(days=5.5), batch_size=2,
                            progress=progress.append)
    assert deleted == 4 and progress == [2, 4]
    assert failures.prune(queue="old") == 3
    assert failures.count() == 3
    assert failures.prune(keep=1) == 2
    [kept] = rows(store)
    assert kept.failed_at > timezone.now() - dt.timedelta(hours=1)


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_retry_pushes_again_and_deletes_the_row(store):
    recorded = failures.record(make())
    new_id = failures.retry(recorded.id)
    assert rows(store).count() == 0
    [job] = get_transport("memory").reserve(["default"], 1, 30, "t")
    body = json.loads(job.payload)
    assert job.id == new_id and job.attempts == 1 and body["errors"] == []
    assert body["retry_of"] != new_id


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_rows_that_cannot_be_retried_stay(store):
    gone = failures.record(make(job="shop.jobs.Deleted"))
    garbage = failures.record(make(payload="{not json"))
    with pytest.raises(UnknownJobClass):
        failures.retry(gone.id)
    report = failures.retry_many([gone.id, garbage.id])
    assert set(report.errors) == {gone.id, garbage.id} and not report.retried
    assert "no registered job class" in report.errors[gone.id]
    assert rows(store).count() == 2
    assert get_transport("memory").size("default").total == 0


BOTH_DBS = pytest.mark.django_db(transaction=True, databases=["default", "mysql"])


@BOTH_DBS
def test_database_down_falls_back_to_redis_then_moves_back(redis_client):
    with mysql_down():
        records = [make(queue="emails") for _ in range(5)]
        for record in records:
            assert failures.record(record).store == "redis"
    key = "jqtest:queue:failed:emails"
    # What the seed shows with redis-cli works: LLEN, LRANGE, LINDEX (newest first).
    assert redis_client.llen(key) == 5
    assert json.loads(redis_client.lindex(key, 0))["uuid"] == records[-1].uuid
    assert len(redis_client.lrange(key, 0, 9)) == 5
    assert failures.move_fallback() == 5
    assert redis_client.llen(key) == 0
    assert sorted(FailedJob.objects.values_list("uuid", flat=True)) == sorted(
        r.uuid for r in records
    )


@BOTH_DBS
def test_an_outage_costs_one_try_of_the_table_not_one_per_failure(redis_client, monkeypatch):
    tries = []
    original = DatabaseStore.record_many

    def counted(self, records):
        tries.extend(record.uuid for record in records)
        return original(self, records)

    def waiting_out_an_outage():
        return failures.store()._down_until > time.monotonic()

    monkeypatch.setattr(DatabaseStore, "record_many", counted)
    with jobqueue(FAILED_DATABASE_RETRY_INTERVAL=0.5), mysql_down():
        for _ in range(10):
            assert failures.record(make()).store == "redis"
        assert len(tries) == 1
        # Once the interval is over, the table is tried again.
        wait_until(lambda: not waiting_out_an_outage(), timeout=5)
        assert failures.record(make()).store == "redis"
        assert len(tries) == 2
    with jobqueue(FAILED_DATABASE="mysql"):
        wait_until(lambda: not waiting_out_an_outage(), timeout=5)
        assert failures.record(make()).store == "database"  # back, and used at once
    assert redis_client.llen("jqtest:queue:failed:default") == 11


@BOTH_DBS
def test_mover_killed_halfway_leaves_no_duplicates(redis_client):
    with mysql_down():
        records = [make() for _ in range(6)]
        for record in records:
            failures.record(record)
    key = "jqtest:queue:failed:default"
    # The state a SIGKILLed mover leaves: its lock held, half its batch already inserted.
    lock = "{" + key + "}:moving"
    redis_client.set(lock, "dead-mover", px=60_000)
    failures.table().record_many(records[:3])
    assert failures.move_fallback() == 0  # the lock keeps a second mover out
    assert redis_client.llen(key) == 6
    redis_client.delete(lock)  # as when the dead mover's lock expires
    assert failures.move_fallback() == 6
    assert redis_client.llen(key) == 0
    assert FailedJob.objects.count() == 6  # no duplicates


@BOTH_DBS
def test_failed_mover_releases_its_lock_and_keeps_entries(redis_client):
    with mysql_down():
        failures.record(make())
        assert failures.move_fallback() == 0  # the database is still down
    assert redis_client.llen("jqtest:queue:failed:default") == 1
    assert failures.move_fallback() == 1  # no stale lock in the way


@BOTH_DBS
def test_unreadable_fallback_entries_are_kept_aside(redis_client):
    redis_client.lpush("jqtest:queue:failed:default", "garbage")
    redis_client.sadd("jqtest:queue:failed-queues", "default")
    with mysql_down():
        failures.record(make())
    assert failures.move_fallback() == 1
    aside = "{jqtest:queue:failed:default}:unreadable"
    assert redis_client.lrange(aside, 0, -1) == [b"garbage"]


@BOTH_DBS
def test_both_stores_down_raises_so_the_job_stays_in_flight():
    dead_redis = {"URL": "redis://127.0.0.1:9/0"}
    with mysql_down(), jobqueue(FAILED_DATABASE="mysql", FAILED_REDIS=dead_redis), (
        pytest.raises(TransportError)
    ):
        failures.record(make())


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_redis_as_primary_store(redis_client):
    with jobqueue(FAILED_STORE="redis"):
        assert failures.record(make(queue="q")).store == "redis"
        assert failures.move_fallback() == 0
    assert FailedJob.objects.count() == 0
    assert redis_client.llen("jqtest:queue:failed:q") == 1


@BOTH_DBS
def test_prune_reaches_the_fallback(redis_client):
    with mysql_down():
        failures.record(make(age_hours=24 * 40))
        failures.record(make())
    assert failures.prune(older_than=dt.timedelta(days=30)) == 1
    assert redis_client.llen("jqtest:queue:failed:default") == 1


@BOTH_DBS
def test_redis_store_supports_list_retry_and_forget(redis_client):
    with jobqueue(FAILED_STORE="redis", DEFAULT_CONNECTION="memory"):
        get_transport("memory").clear("default")
        first, second = make(), make()
        failures.record(first)
        failures.record(second)
        assert failures.count() == 2
        assert [r.uuid for r in failures.select(queue="default")] == [second.uuid, first.uuid]
        assert {r.store for r in failures.select()} == {"redis"}
        new_id = failures.retry(first.uuid)
        assert failures.forget(second.uuid) is True
        assert failures.count(queue="default") == 0
        [job] = get_transport("memory").reserve(["default"], 1, 30, "t")
        assert job.id == new_id and json.loads(job.payload)["retry_of"] == first.uuid


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_prune_without_limits_refuses(store):
    failures.record(make())
    with pytest.raises(ValueError, match="needs older_than"):
        failures.prune()
    assert failures.prune(everything=True) == 1
