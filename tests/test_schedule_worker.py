"""Real ``runworker`` subprocesses fire the schedule (no beat process); ``--no-scheduler``
and ``--burst`` workers do not."""

from __future__ import annotations

import uuid

import pytest

from tests.support import ledger
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"]),
]


def every_second(connection: str) -> tuple[str, dict]:
    name = f"tick-{uuid.uuid4().hex[:8]}"
    return name, {"SCHEDULE": {name: {"JOB": "tests.jobs.Record", "ARGS": [name], "EVERY": 1,
                                      "CONNECTION": connection}}}


def runs(name: str) -> list[dict]:
    return [e for e in ledger.events("ran") if e.get("value") == name]


@pytest.mark.parametrize("conn", [pytest.param("default", id="sqlite"),
                                  pytest.param("mysql", id="mariadb"),
                                  pytest.param("redis", id="redis")])
def test_two_workers_fire_every_slot_once(conn, start_worker, empty_queues):
    name, settings = every_second(conn)
    workers = [start_worker("--connection", conn, settings_overrides=settings)
               for _ in range(2)]
    wait_until(lambda: len(runs(name)) >= 4, timeout=30)
    for worker in workers:
        worker.stop()
    fired = [line for worker in workers for line in worker.output().splitlines()
             if "event=schedule_fired" in line and f"entry={name}" in line]
    slots = [line.split("slot=")[1].split()[0] for line in fired]
    assert len(slots) == len(set(slots)) >= 4, "each slot fired by one of the two"
    ids = {line.split(" id=")[1].split()[0] for line in fired}
    assert {e["id"] for e in runs(name)} <= ids


def test_a_worker_without_the_scheduler_fires_nothing(start_worker):
    name, settings = every_second("default")
    quiet = start_worker("--connection", "default", "--no-scheduler", "--max-time", "3",
                         settings_overrides=settings)
    burst = start_worker("--connection", "default", "--burst", settings_overrides=settings)
    assert burst.wait(30) == 0, burst.output()
    assert quiet.wait(30) == 0, quiet.output()
    assert "schedule_fired" not in quiet.output() + burst.output()
    assert runs(name) == []
