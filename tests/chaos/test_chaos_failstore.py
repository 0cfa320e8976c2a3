"""Scenario 6: the failed-job table is down while jobs fail for good.

The table lives on a MariaDB of its own (``tests.support.servers.chaos``), SIGKILLed for the outage.
Every failure lands in the Redis fallback, ``failed()`` runs once per job; once the database
is back, a mover moves the entries into the table, is SIGKILLed halfway and run again: no
record lost, none twice. With both stores down (the fallback on a redis-server of its own,
killed too) the jobs stay in flight and end correctly once both are back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
import redis as redis_py

from tests.chaos import jobs
from tests.chaos.harness import (
    FALLBACK_KEY,
    MARIADB_DB,
    TRANSPORTS,
    dispatch_all,
    size,
)
from tests.support import REPO
from tests.support.servers import chaos as chaos_servers
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow, MARIADB_DB]

FAILING = size(100, 500)


@pytest.fixture(scope="module")
def chaosdb():
    db = chaos_servers.MariaDB()
    db.start()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.chaos.settings",
           "JQ_CHAOS_MYSQL_PORT": str(db.port), "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "django", "migrate", "django_jobqueue",
                    "--database", "chaosdb", "-v", "0"], env=env, check=True, timeout=300)
    yield db
    db.stop()


def _rows(db):
    db.sql("SELECT 1")
    return [row[0] for row in db.sql("SELECT uuid FROM queue_failed_jobs", "chaos")]


def _fallback(client):
    return [json.loads(raw)["uuid"] for raw in client.lrange(FALLBACK_KEY, 0, -1)]


@pytest.mark.parametrize("chaos", TRANSPORTS, indirect=True)
def test_database_down_fallback_then_moved_back_exactly_once(chaos, chaosdb, redis_client):
    chaosdb.sql("DELETE FROM queue_failed_jobs", "chaos")
    chaos.env["JQ_CHAOS_MYSQL_PORT"] = str(chaosdb.port)
    chaos.settings.update(FAILED_DATABASE="chaosdb", FAILED_DATABASE_RETRY_INTERVAL=1.0)
    chaosdb.kill()
    ids = dispatch_all((jobs.Step(i, fail=True) for i in range(FAILING)), chaos.connection)
    worker = chaos.worker("--burst", "--concurrency", "2")
    assert worker.wait(size(120, 600)) == 0, worker.output()[-3000:]
    in_fallback = _fallback(redis_client)
    hooks_down = Counter(e["id"] for e in chaos.events("hook"))
    chaosdb.start()
    mover = subprocess.Popen(
        [sys.executable, "-m", "tests.chaos.mover", "10"], cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.chaos.settings",
             "JQ_SETTINGS_JSON": json.dumps(chaos.settings), "JQ_TESTING_DB": "1",
             "JQ_CHAOS_MYSQL_PORT": str(chaosdb.port), "PYTHONPATH": str(REPO)})
    assert mover.stdout.readline().startswith("moved"), "the mover moved nothing"
    mover.send_signal(signal.SIGKILL)
    mover.wait(10)
    after_kill = (len(_rows(chaosdb)), len(_fallback(redis_client)))
    again = chaos.worker(settings={"MAINTENANCE_INTERVAL": 0.5})
    wait_until(lambda: not _fallback(redis_client), timeout=60, interval=0.2)
    again.signal(signal.SIGTERM)
    again.wait(30)
    rows = _rows(chaosdb)
    hooks = Counter(e["id"] for e in chaos.events("hook"))
    figures = {
        "jobs": FAILING, "in_fallback_while_down": len(set(in_fallback) & set(ids)),
        "failed_hooks_while_down": sum(hooks_down.values()),
        "rows_and_fallback_after_mover_killed": after_kill,
        "rows": len(rows), "distinct_rows": len(set(rows)),
        "lost": len(set(ids) - set(rows)), "fallback_left": len(_fallback(redis_client)),
        "failed_hook_calls": dict(Counter(hooks[i] for i in ids)),
        "still_queued": chaos.queued(),
    }
    chaos.report("6-database-down-fallback", figures)
    assert figures["in_fallback_while_down"] == FAILING
    assert sum(after_kill) >= FAILING and after_kill[0] > 0  # halfway: nothing lost
    assert figures["rows"] == figures["distinct_rows"] == FAILING and figures["lost"] == 0
    assert figures["fallback_left"] == 0 and figures["still_queued"] == 0
    assert figures["failed_hook_calls"] == {1: FAILING}


@pytest.mark.parametrize("chaos", TRANSPORTS, indirect=True)
def test_both_stores_down_jobs_stay_in_flight_then_end(chaos, chaosdb):
    count = size(20, 100)
    fallback = chaos_servers.Redis()
    fallback.start(fresh=True)
    chaosdb.sql("DELETE FROM queue_failed_jobs", "chaos")
    chaos.env["JQ_CHAOS_MYSQL_PORT"] = str(chaosdb.port)
    chaos.settings.update(FAILED_DATABASE="chaosdb", FAILED_DATABASE_RETRY_INTERVAL=1.0,
                          FAILED_REDIS={"URL": fallback.url}, LEASE=3.0, HEARTBEAT=0.5)
    try:
        chaosdb.kill()
        fallback.kill()
        ids = dispatch_all((jobs.Step(i, fail=True) for i in range(count)), chaos.connection)
        worker = chaos.worker("--concurrency", "2")
        # The jobs fail and cannot be recorded: the supervisor keeps each one owed (lease
        # renewed, nothing acked) until a store answers.
        chaos.wait_events("finish", 2, timeout=60)
        wait_until(lambda: "event=outcome_deferred" in worker.output(), timeout=30)
        in_flight = chaos.queued()
        hooks_before = len(chaos.events("hook"))
        ran_while_down = len(chaos.events("finish"))
        chaosdb.start()
        fallback.start()
        chaos.wait_drained(timeout=120)
        wait_until(lambda: len(chaos.events("hook")) >= count, timeout=60, interval=0.2)
        worker.signal(signal.SIGTERM)
        worker.wait(30)
        client = redis_py.Redis.from_url(fallback.url)
        entries = [json.loads(raw)["uuid"] for raw in client.lrange(FALLBACK_KEY, 0, -1)]
        client.close()
        rows = _rows(chaosdb)
        hooks = Counter(e["id"] for e in chaos.events("hook"))
        runs = Counter(e["id"] for e in chaos.events("start"))
        figures = {
            "jobs": count, "in_flight_while_both_down": in_flight,
            "failed_hooks_while_down": hooks_before, "ran_while_down": ran_while_down,
            "rows": len(rows),
            "fallback_entries": len(entries), "lost": len(set(ids) - set(rows) - set(entries)),
            "runs_per_job": dict(Counter(runs[i] for i in ids)),
            "failed_hook_calls": dict(Counter(hooks[i] for i in ids)),
        }
        chaos.report("6-both-stores-down", figures)
        assert in_flight == count and hooks_before == 0
        assert figures["lost"] == 0 and len(rows) + len(entries) == count
        assert figures["failed_hook_calls"] == {1: count}
    finally:
        fallback.kill()
