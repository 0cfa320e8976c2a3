"""The database transport's guarded pushes under faults: a deadlock in the middle of one
rolls the whole transaction back and retries it whole, never the job's insert alone."""

from __future__ import annotations

import uuid

import pytest
from django.db import OperationalError, connections

from django_jobqueue.coordination import Lock
from django_jobqueue.transports import PushItem, get_transport

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "mysql",
                                                                "postgres"])


@pytest.mark.parametrize("connection_name", ["mysql", "default", "postgres"])
def test_a_deadlock_on_the_jobs_insert_retries_the_guards_with_it(connection_name,
                                                                   monkeypatch):
    transport = get_transport(connection_name)
    transport.clear("default")
    name, job_id = f"n-{uuid.uuid4().hex}", uuid.uuid4().hex
    real, failed = transport._execute, []

    def deadlock_once(sql, params=()):
        if "INSERT INTO queue_jobs" in sql and not failed:
            failed.append(sql)
            # As InnoDB does on a deadlock: the whole transaction is rolled back.
            with connections[transport.alias].cursor() as cursor:
                cursor.execute("ROLLBACK")
            raise OperationalError(1213, "Deadlock found when trying to get lock")
        return real(sql, params)

    monkeypatch.setattr(transport, "_execute", deadlock_once)
    # Two guards: the transaction path on every database (one lock alone is one
    # statement on PostgreSQL).
    guards = (Lock("default", name, job_id, 60), Lock("default", name + "-2", job_id, 60))
    taken = transport.push_guarded(PushItem(job_id, "default", '{"job":"x"}'), *guards)
    assert failed and taken.granted
    assert transport.coordination.read("default", [name, name + "-2"]) == {
        name: job_id, name + "-2": job_id}, "the guards were taken again with the job"
    assert transport.size("default").ready == 1


@pytest.mark.parametrize("connection_name", ["mysql", "default"])
def test_an_insert_refused_for_no_holder_is_an_error_not_a_duplicate(connection_name,
                                                                     monkeypatch):
    from django_jobqueue.exceptions import TransportError

    co = get_transport(connection_name).coordination
    # What MySQL's INSERT IGNORE does to a value it cannot store: no row, no error.
    monkeypatch.setattr(co, "_insert", lambda *args, **kwargs: False)
    with pytest.raises(TransportError, match="neither taken nor found"):
        co.take(Lock("default", f"n-{uuid.uuid4().hex}", "a", 60))
