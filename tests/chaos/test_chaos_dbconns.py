"""Scenario 5: the workers' database connections die under them.

Two workers (two horses each) whose MariaDB sessions have ``wait_timeout`` = 2 s and who poll
every 3 s when idle (``--sleep 3`` and ``IDLE_POLL`` 3, see ``tests.chaos.settings``), so an
idle worker's connections are always timed out by the server before it uses them again.
Failed jobs are recorded on the same MariaDB.

1. One (CI) or two (full) waves of jobs (a fifth of them failing for good), each after the
   workers have been idle long enough that the server closed every session they had
   (waited for in the processlist, by session id; on the Redis transport a primer wave first
   makes the failed-job store open its session);
2. a long wave during which, every 2 s, an admin connection KILLs every MariaDB session of
   the workers' processes (supervisors and horses, matched by TCP port).

Expected: no worker exits; no job fails because of it: exactly the jobs meant to fail have a
failed row (``RuntimeError``, ``failed()`` once), every other job is done, no system failure
(``AbandonedJobError``: a lease lost), nothing lost, no duplicate run.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.chaos import jobs
from tests.chaos.dbconns import Admin
from tests.chaos.harness import (
    MARIADB_DB,
    TRANSPORTS,
    assert_sound,
    dispatch_all,
    size,
)
from tests.support.servers import ensure_servers
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow, MARIADB_DB]

WAIT_TIMEOUT = 2
IDLE_SLEEP = 3.0
WAVE = size(20, 100)             # jobs of each idle wave
IDLE_WAVES = size(1, 2)
KILL_WAVE = size(120, 2_000)     # jobs of the wave with kills
JOB_SECONDS = 0.1
# Every periodic use of the connection (polls, heartbeats, maintenance) less often than the
# server's wait_timeout, so an idle worker's sessions do time out.
IDLE = {"LEASE": 10.0, "HEARTBEAT": 3.0, "MAINTENANCE_INTERVAL": 4.0}
KILL_EVERY = 2.0
FAIL_EVERY = 5                   # every fifth job fails for good


def _admin() -> Admin:
    cfg = ensure_servers()
    return Admin(host=cfg["MYSQL_HOST"], port=int(cfg["MYSQL_PORT"]), user=cfg["MYSQL_USER"],
                 passwd=cfg["MYSQL_PASSWORD"])


def _pids(chaos) -> list[int]:
    return [pid for w in chaos.alive() for pid in (w.pid, *w.horse_pids())]


def _jobs(start: int, count: int):
    return [jobs.Step(i, seconds=JOB_SECONDS, max_tries=1, fail=i % FAIL_EVERY == 0)
            for i in range(start, start + count)]


@pytest.mark.parametrize("chaos", TRANSPORTS, indirect=True)
def test_killed_and_timed_out_connections_fail_no_job(chaos):
    admin = _admin()
    chaos.env["JQ_CHAOS_WAIT_TIMEOUT"] = str(WAIT_TIMEOUT)
    try:
        workers = [chaos.worker("--concurrency", "2", "--sleep", str(IDLE_SLEEP),
                                settings=IDLE) for _ in range(2)]
        chaos.wait_ready()
        ids: list[str] = []
        fail_ids: set[str] = set()
        timed_out: set[int] = set()
        waves = []

        def run_wave(count: int) -> list[str]:
            batch = _jobs(len(ids), count)
            wave_ids = dispatch_all(batch, chaos.connection)
            ids.extend(wave_ids)
            fail_ids.update(i for i, job in zip(wave_ids, batch, strict=True)
                            if job.options.get("fail"))
            return wave_ids

        def finished(wave_ids):
            ended = {e["id"] for e in chaos.events("finish")}
            return chaos.queued() == 0 and ended.issuperset(wave_ids)

        # 1. Idle longer than wait_timeout: every session the workers hold now must
        # be closed by the server before the next wave.
        for _ in range(IDLE_WAVES):
            sessions = set(admin.sessions_of(_pids(chaos)))
            if not sessions:
                # Redis transport: no MariaDB session before the first failure is recorded.
                primer = run_wave(WAVE // 2)
                wait_until(lambda w=primer: finished(w), timeout=size(60, 300), interval=0.2)
                waves.append("primer")
                sessions = set(admin.sessions_of(_pids(chaos)))
            if sessions:
                wait_until(lambda s=sessions: not s & set(admin.sessions_of(_pids(chaos))),
                           timeout=WAIT_TIMEOUT + IDLE_SLEEP + 20, interval=0.2)
                timed_out |= sessions
            wave_ids = run_wave(WAVE)
            wait_until(lambda w=wave_ids: finished(w), timeout=size(60, 300), interval=0.2)
            waves.append("idle")

        # 2. A wave under fire: every worker session KILLed every 2 s until it is done.
        wave_ids = run_wave(KILL_WAVE)
        kills = killed = 0
        exits_during = []
        deadline = time.monotonic() + size(120, 900)
        next_at = time.monotonic() + 0.5
        while not finished(wave_ids):
            assert time.monotonic() < deadline, "the kill wave did not finish"
            time.sleep(max(next_at - time.monotonic(), 0))  # the fault's pacing
            next_at += KILL_EVERY
            killed += admin.kill(admin.sessions_of(_pids(chaos)))
            kills += 1
            exits_during += [w.pid for w in workers if w.proc.poll() is not None]
        alive_at_end = len(chaos.alive())
        chaos.stop_all()

        figures = chaos.tally(ids, max_tries=1)
        rows = chaos.failed_rows()
        errors = Counter(e["exc"] for e in chaos.events("error"))
        log = chaos.outputs()
        figures.update(
            waves=[*waves, "kills"],
            wait_timeout=WAIT_TIMEOUT,
            idle_sleep=IDLE_SLEEP,
            sessions_timed_out_while_idle=len(timed_out),
            kill_rounds=kills,
            sessions_killed=killed,
            reconnect_warnings=log.count("event=db_reconnecting"),
            workers_exited_before_stop=len(set(exits_during)),
            workers_alive_at_end=alive_at_end,
            meant_to_fail=len(fail_ids),
            failed_rows_by_class=dict(Counter(r["exception_class"] for r in rows)),
            errors_by_class=dict(errors),
            failed_not_meant=sum(1 for r in rows if r["uuid"] not in fail_ids),
        )
        chaos.report("5-db-connections-killed", figures)
        assert_sound(figures)
        assert figures["workers_exited_before_stop"] == 0, log[-3000:]
        assert alive_at_end == 2
        assert figures["failed_not_meant"] == 0, figures
        assert figures["done"] == len(ids) - len(fail_ids), figures
        assert figures["failed"] == len(fail_ids), figures
        assert set(errors) <= {"RuntimeError"}, figures
        assert figures["system_failures"] == {}, figures
        assert kills >= 2 and killed >= 1, figures
        assert timed_out, "no worker session was idle long enough to time out"
    finally:
        admin.close()
