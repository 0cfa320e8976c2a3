"""Scenario 11: contention on the database transport.

Many workers claim empty jobs from one queue as fast as they can (one horse each,
``--prefetch 1``: every job is its own claim, the most claims per job a worker makes) on
MariaDB, PostgreSQL and SQLite (4 workers, WAL, the ``IMMEDIATE`` transactions of the test
settings).

Expected: every job done, 0 failed (none by a deadlock, a lock wait timeout or "database is
locked": those are retried by the transport and never reach a job), 0 double claims (a job
started twice), nothing lost, and the workers' logs carry no lock error.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.chaos import jobs
from tests.chaos.harness import assert_sound, dispatch_all, size

pytestmark = [pytest.mark.slow]

_DBS = ["default", "mysql"]
PARAMS = [
    pytest.param("mysql", size(4, 10), size(800, 10_000), id="mariadb",
                 marks=pytest.mark.django_db(transaction=True, databases=_DBS)),
    pytest.param("postgres", size(4, 10), size(800, 10_000), id="postgresql",
                 marks=pytest.mark.django_db(transaction=True,
                                             databases=[*_DBS, "postgres"])),
    pytest.param("default", 4, size(400, 10_000), id="sqlite",
                 marks=pytest.mark.django_db(transaction=True, databases=_DBS)),
]
LOCK_WORDS = ("deadlock", "database is locked", "lock wait timeout")


@pytest.mark.parametrize(("connection", "workers", "count"), PARAMS)
def test_contention_no_deadlock_failure_no_double_claim(connection, workers, count,
                                                        chaos_factory):
    chaos = chaos_factory(connection)
    ids = dispatch_all((jobs.Step(i, max_tries=1) for i in range(count)), connection)
    for _ in range(workers):
        chaos.worker("--burst", "--concurrency", "1", "--prefetch", "1", "--sleep", "0.05")
    since = time.monotonic()
    exits = [w.wait(size(120, 1800)) for w in chaos.workers]
    seconds = time.monotonic() - since
    starts = Counter(e["id"] for e in chaos.events("start"))
    by_pid = Counter(e["pid"] for e in chaos.events("start"))
    log = chaos.outputs().lower()
    figures = chaos.tally(ids, max_tries=1)
    figures.update(
        workers=workers,
        prefetch=1,
        seconds_to_drain=round(seconds, 2),
        jobs_per_second=round(count / seconds, 1),
        double_claims=sum(1 for i in ids if starts[i] > 1),
        never_started=sum(1 for i in ids if not starts[i]),
        failed_rows=len(chaos.failed_rows()),
        error_events=len(chaos.events("error")),
        lock_errors_in_logs={w: log.count(w) for w in LOCK_WORDS if w in log},
        jobs_per_horse_min_max=[min(by_pid.values()), max(by_pid.values())],
        worker_exits=sorted(set(exits)),
    )
    chaos.report("11-contention", figures)
    assert_sound(figures)
    assert exits == [0] * workers, chaos.outputs()[-3000:]
    assert figures["done"] == count, figures
    assert figures["failed_rows"] == 0 and figures["error_events"] == 0, figures
    assert figures["double_claims"] == 0, figures
    assert figures["lock_errors_in_logs"] == {}, figures
