"""Recording a busy worker's failures in one write (``failures.record_all``), on SQLite,
MariaDB and PostgreSQL, and what happens when the table cannot take them."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from django_jobqueue import failures
from django_jobqueue.models import FailedJob
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import mysql_down


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_a_batch_is_one_insert_with_each_row_id_in_order(store):
    records = [make(exc="KeyError" if n % 2 else "OSError") for n in range(6)]
    with CaptureQueriesContext(connections[store]) as queries:
        recorded = failures.record_all(records)
    on_table = [q["sql"] for q in queries if "queue_failed_jobs" in q["sql"]]
    assert len(on_table) <= 2  # the INSERT, and a SELECT of ids where none come back
    assert on_table[0].startswith("INSERT")
    rows = dict(FailedJob.objects.using(store).values_list("uuid", "pk"))
    assert [r.id for r in recorded] == [rows[record.uuid] for record in records]
    assert {r.store for r in recorded} == {"database"}
    # Two kinds of failure: each announced once, on its first row.
    assert [r.new_fingerprint for r in recorded] == [True, True, False, False, False, False]


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_a_batch_with_a_failure_already_stored_keeps_that_row(store):
    first = make()
    kept = failures.record(first)
    recorded = failures.record_all([make(), first, make()])
    assert recorded[1].id == kept.id
    assert FailedJob.objects.using(store).count() == 3


@pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
def test_a_batch_the_table_refuses_goes_to_the_redis_fallback(redis_client):
    with mysql_down():
        records = [make(queue="emails") for _ in range(4)]
        recorded = failures.record_all(records)
    assert [r.store for r in recorded] == ["redis"] * 4
    assert [r.id for r in recorded] == [record.uuid for record in records]
    assert redis_client.llen("jqtest:queue:failed:emails") == 4
    assert failures.move_fallback() == 4
    assert FailedJob.objects.count() == 4  # FAILED_DATABASE is "default" again


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_a_batch_with_text_no_store_can_encode_is_stored_escaped(store):
    bad = make(message="broken \udcff text")
    recorded = failures.record_all([make(), bad])
    row = FailedJob.objects.using(store).get(pk=recorded[1].id)
    assert "\udcff" not in row.message and "broken" in row.message
