"""SQLite and MySQL/MariaDB: an idle worker looks for a new job every ``IDLE_POLL`` seconds
(one index probe), so a dispatched job starts within milliseconds, whatever ``SLEEP`` is."""

from __future__ import annotations

import time

import pytest

from django_jobqueue.checks import check_settings
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support import ledger
from tests.support.settings_overrides import jobqueue
from tests.support.waiting import wait_until

QUEUE = "pickup"


def ran(value):
    return next((e for e in ledger.events("ran") if e["value"] == value), None)


@pytest.mark.parametrize("connection", [
    pytest.param("default", id="sqlite",
                 marks=pytest.mark.django_db(transaction=True, databases=["default"])),
    pytest.param("mysql", id="mariadb",
                 marks=pytest.mark.django_db(transaction=True, databases=["default", "mysql"])),
])
def test_an_idle_worker_starts_a_dispatched_job_within_milliseconds(connection, start_worker):
    transport = get_transport(connection)
    transport.clear(QUEUE)
    # --sleep 5: before, an idle worker looked for new jobs every 5 s (SLEEP).
    start_worker("--connection", connection, QUEUE, "--sleep", "5")
    jobs.Record("warm-up").dispatch(connection=connection, queue=QUEUE)
    wait_until(lambda: ran("warm-up"), timeout=30)
    wait_until(lambda: transport.size(QUEUE).total == 0, timeout=10)  # settled: idle again
    latencies = []
    for n in range(3):
        dispatched = time.time()
        jobs.Record(f"timed-{n}").dispatch(connection=connection, queue=QUEUE)
        wait_until(lambda n=n: ran(f"timed-{n}"), timeout=10)
        latencies.append(ran(f"timed-{n}")["t"] - dispatched)
        wait_until(lambda: transport.size(QUEUE).total == 0, timeout=10)
    assert max(latencies) < 0.25, latencies


@pytest.mark.parametrize("value", [0, -1, "fast", 60])
def test_a_bad_idle_poll_is_a_configuration_error(value):
    connections = {"default": {"TRANSPORT": "django_jobqueue.transports.database."
                                            "DatabaseTransport",
                               "OPTIONS": {"IDLE_POLL": value}}}
    with jobqueue(CONNECTIONS=connections):
        [message] = check_settings()
    assert message.id == "django_jobqueue.E008" and "IDLE_POLL" in message.msg
