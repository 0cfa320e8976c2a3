"""The database transport survives dropped connections on a real MariaDB."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import connections

from django_jobqueue.transports import PushItem, get_transport

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "mysql"])


def _push(transport):
    job_id = uuid.uuid4().hex
    transport.push(PushItem(job_id, "default", '{"job": "x"}'))
    return job_id


@pytest.fixture
def transport():
    transport = get_transport("mysql")
    transport.clear("default")
    yield transport
    transport.clear("default")


def test_idle_connection_closed_by_wait_timeout(transport):
    job_id = _push(transport)
    with connections["mysql"].cursor() as cursor:
        cursor.execute("SET SESSION wait_timeout = 1")
    time.sleep(2.5)  # the server closes the idle session
    [job] = transport.reserve(["default"], 1, 30, "t")
    assert job.id == job_id


def test_connection_killed_by_the_server(transport):
    job_id = _push(transport)
    with connections["mysql"].cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        (session,) = cursor.fetchone()
    import MySQLdb
    from django.conf import settings

    db = settings.DATABASES["mysql"]
    admin = MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"],
                            passwd=db["PASSWORD"])
    admin.cursor().execute(f"KILL CONNECTION {int(session)}")
    admin.close()
    [job] = transport.reserve(["default"], 1, 30, "t")
    assert job.id == job_id and transport.ack(job)
