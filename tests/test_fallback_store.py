"""The fallback store's own rules, beyond the contract: reads that see both parts, and what
it does while one of them does not answer."""

from __future__ import annotations

import pytest

from django_jobqueue import failures
from django_jobqueue.conf import DATABASE_STORE, FALLBACK_STORE, REDIS_STORE
from django_jobqueue.failures.fingerprint import fill_fingerprint
from django_jobqueue.failures.redis import redis_options
from django_jobqueue.failures.stores import build
from tests.support.factories import make
from tests.support.settings_overrides import jobqueue, mysql_down

MARIADB = pytest.mark.django_db(transaction=True, databases=["default", "mysql"])


def in_the_fallback(**options):
    """A failure recorded while the table is down: it waits in Redis."""
    record = make(**options)
    with mysql_down():
        assert failures.record(record).store == "redis"
    return record


@MARIADB
def test_a_failure_in_the_fallback_is_found_shown_and_forgotten_while_the_table_is_down(
        redis_client):
    record = in_the_fallback()
    with mysql_down():
        assert failures.get(record.uuid).store == "redis"
        assert failures.lineage(failures.get(record.uuid)) == []
        assert failures.forget(record.uuid) is True
    assert redis_client.llen("jqtest:queue:failed:default") == 0


@MARIADB
def test_a_row_id_is_looked_up_in_the_table_only_and_a_down_table_says_so(redis_client):
    in_the_fallback()
    with mysql_down(), pytest.raises(Exception, match="Can't connect"):
        failures.get(1)


@MARIADB
def test_a_prefix_only_the_fallback_knows_selects_there(redis_client):
    record = fill_fingerprint(in_the_fallback(exc="tests.errors.OnlyInRedis"))
    with jobqueue(FAILED_DATABASE="mysql"):
        failures.record(make(exc="KeyError"))
        [found] = failures.select(fingerprint=record.fingerprint[:8])
        assert (found.uuid, found.store) == (record.uuid, "redis")
        assert failures.count(fingerprint=record.fingerprint[:8]) == 1


@MARIADB
def test_a_bulk_walk_visits_the_fallback_as_it_was_when_the_walk_began(redis_client):
    waiting = in_the_fallback()
    with jobqueue(FAILED_DATABASE="mysql"):
        row = failures.record(make()).id
        walk = failures.store().refs()
        assert next(walk) == row
        later = in_the_fallback()  # a retried job failing again, into the fallback
        with jobqueue(FAILED_DATABASE="mysql"):
            assert list(walk) == [waiting.uuid]
        assert failures.get(later.uuid).store == "redis"


@MARIADB
def test_forget_removes_a_record_left_in_both_parts(redis_client):
    record = in_the_fallback()
    with jobqueue(FAILED_DATABASE="mysql"):
        failures.table().record_many([record])  # a mover that died before its delete
        assert failures.forget(record.uuid) is True
        assert failures.count() == 0


def test_parts_with_one_label_and_a_bad_retry_interval_are_errors():
    table = {"STORE": DATABASE_STORE, "OPTIONS": {}}
    store = build({"STORE": FALLBACK_STORE, "OPTIONS": {
        "PRIMARY": table, "SECONDARY": table, "RETRY_INTERVAL": "5s"}})
    messages = [message.msg for message in store.check()]
    assert any("share a label (database, database)" in text for text in messages)
    assert any("RETRY_INTERVAL must be a number >= 0, not '5s'" in text for text in messages)


def test_a_redis_store_given_only_a_prefix_keeps_the_projects_redis():
    with jobqueue(FAILED_REDIS={"URL": "redis://127.0.0.1:1/0"}):
        assert redis_options({"PREFIX": "other"}) == {"URL": "redis://127.0.0.1:1/0",
                                                      "PREFIX": "other"}
        assert build({"STORE": REDIS_STORE, "OPTIONS": {"PREFIX": "other"}}).prefix == "other"
