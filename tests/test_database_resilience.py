"""The database transport survives dropped connections on a real MariaDB and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.db import connections

from django_jobqueue.transports import PushItem, get_transport
from tests.support.waiting import wait_until

MARIADB = pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
POSTGRES = pytest.mark.django_db(transaction=True, databases=["default", "postgres"])
SERVERS = [
    pytest.param("mysql", id="mariadb", marks=MARIADB),
    pytest.param("postgres", id="postgresql", marks=POSTGRES),
]


def _push(transport):
    job_id = uuid.uuid4().hex
    transport.push(PushItem(job_id, "default", '{"job": "x"}'))
    return job_id


@pytest.fixture
def transport(request):
    transport = get_transport(request.param)
    transport.clear("default")
    yield transport
    transport.clear("default")


def _session_id(alias):
    query = "SELECT CONNECTION_ID()" if alias == "mysql" else "SELECT pg_backend_pid()"
    with connections[alias].cursor() as cursor:
        cursor.execute(query)
        return int(cursor.fetchone()[0])


def _admin_connection(alias):
    """A connection of its own, outside Django's, as a DBA's console would be."""
    db = settings.DATABASES[alias]
    if alias == "mysql":
        import MySQLdb

        conn = MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"],
                               passwd=db["PASSWORD"])
        conn.autocommit(True)
        return conn
    import psycopg

    return psycopg.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"],
                           password=db["PASSWORD"], dbname=db["NAME"], autocommit=True)


def _session_exists(admin, alias, session):
    query = ("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s"
             if alias == "mysql" else "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = %s")
    cursor = admin.cursor()
    cursor.execute(query, [session])
    return bool(cursor.fetchone()[0])


@pytest.mark.parametrize(
    ("transport", "idle_timeout"),
    [
        pytest.param("mysql", "SET SESSION wait_timeout = 1", id="mariadb", marks=MARIADB),
        pytest.param("postgres", "SET idle_session_timeout = 200", id="postgresql",
                     marks=POSTGRES),
    ],
    indirect=["transport"],
)
def test_idle_connection_closed_by_the_server(transport, idle_timeout):
    alias = transport.alias
    job_id = _push(transport)
    session = _session_id(alias)
    with connections[alias].cursor() as cursor:
        cursor.execute(idle_timeout)
    admin = _admin_connection(alias)
    try:
        wait_until(lambda: not _session_exists(admin, alias, session), timeout=10)
    finally:
        admin.close()
    [job] = transport.reserve(["default"], 1, 30, "t")
    assert job.id == job_id and transport.ack(job)


@pytest.mark.parametrize("transport", SERVERS, indirect=True)
def test_connection_killed_by_the_server(transport):
    alias = transport.alias
    job_id = _push(transport)
    session = _session_id(alias)
    admin = _admin_connection(alias)
    try:
        kill = ("KILL CONNECTION %s" if alias == "mysql" else
                "SELECT pg_terminate_backend(%s)")
        admin.cursor().execute(kill, [session])
        wait_until(lambda: not _session_exists(admin, alias, session), timeout=10)
    finally:
        admin.close()
    [job] = transport.reserve(["default"], 1, 30, "t")
    assert job.id == job_id and transport.ack(job)
    assert _session_id(alias) != session  # a new session, not a lucky survivor
