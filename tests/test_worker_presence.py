"""The worker registry with real ``runworker`` subprocesses on Redis and MariaDB: listed with
its current job, gone after SIGTERM, expired and cleaned after SIGKILL."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from django.conf import settings

from django_jobqueue.models import QueueWorker
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support import ledger
from tests.support.admin import client_for, url
from tests.support.commands import command
from tests.support.params import MARIADB_AND_REDIS
from tests.support.settings_overrides import FAST_LEASE, jobqueue
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"]),
]

# With FAST_LEASE, registry entries expire 3 heartbeats (1.5 s) after the last one.


def entry(conn, pid):
    """The registry entry of the worker process ``pid``, if listed."""
    return next((info for info in get_transport(conn).workers() if info.pid == pid), None)


@pytest.mark.parametrize("conn", MARIADB_AND_REDIS)
def test_running_worker_is_listed_with_its_job_and_leaves_on_sigterm(
    conn, start_worker, empty_queues
):
    job = jobs.LongJob(30, key="reg").dispatch(connection=conn)
    worker = start_worker("--connection", conn, "--concurrency", "2", "default",
                          "--shutdown-timeout", "0.5")
    # The registry shows a job once it is handed to a horse; the ledger, once it runs.
    wait_until(lambda: ledger.events("started"), timeout=30)
    info = wait_until(lambda: (found := entry(conn, worker.pid)) and found.current and found,
                      timeout=30)
    assert (info.connection, info.queues, info.concurrency) == (conn, ("default",), 2)
    [current] = info.current
    assert (current.id, current.job_class) == (job.id, "tests.jobs.LongJob")
    assert info.heartbeat_age < 5
    shown = _shown(conn)
    assert f"<td>{conn}</td><td>{info.name}</td>" in shown["page"]
    assert "tests.<wbr>jobs.<wbr>LongJob <a href=" in shown["page"]
    assert f"><code>{job.id}</code></a> running" in shown["page"]
    [listed] = shown["json"]["workers"]
    assert listed["pid"] == worker.pid and listed["current"][0]["id"] == job.id
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.output()
    assert entry(conn, worker.pid) is None  # withdrawn at exit, not left to expire


@pytest.mark.parametrize("conn", MARIADB_AND_REDIS)
def test_killed_worker_expires_and_is_cleaned_by_another(conn, start_worker, empty_queues):
    dead = start_worker("--connection", conn, settings_overrides=FAST_LEASE)
    info = wait_until(lambda: entry(conn, dead.pid), timeout=30)
    dead.signal(signal.SIGKILL)
    dead.wait(5)
    wait_until(lambda: entry(conn, dead.pid) is None, timeout=10)
    # Not listed any more; the entry itself is deleted by a live worker's maintenance (the
    # database) or registry call (Redis).
    survivor = start_worker("--connection", conn, settings_overrides=FAST_LEASE)
    wait_until(lambda: entry(conn, survivor.pid), timeout=30)
    wait_until(lambda: not _stored(conn, info.name), timeout=10)
    survivor.signal(signal.SIGTERM)
    assert survivor.wait(20) == 0, survivor.output()
    assert get_transport(conn).workers() == []


def _stored(conn: str, name: str) -> bool:
    transport = get_transport(conn)
    if conn == "redis":
        registry = transport.registry_keys()[0]
        return bool(transport.client.hexists(registry, f"i:{name}"))
    return QueueWorker.objects.using("mysql").filter(connection=conn, name=name).exists()


def _shown(conn: str) -> dict[str, Any]:
    """The admin's queue page and ``queue_status --json``'s workers line for ``conn``."""
    only = {conn: settings.JOBQUEUE["CONNECTIONS"][conn]}
    with jobqueue(CONNECTIONS=only, DEFAULT_CONNECTION=conn):
        page = client_for("view_only").get(url("queues")).content.decode()
        out, _ = command("queue_status", "--json", "--queue", "default")
    return {"page": page, "json": json.loads(out.splitlines()[-1])}
