"""Real ``runworker`` subprocesses: outcomes, timeouts, killed horses, signals."""

from __future__ import annotations

import re
import signal
import statistics
import time

import pytest
from django.conf import settings

from django_jobqueue.models import FailedJob
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support import ledger
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"]),
]

CONNECTIONS = [
    pytest.param("default", id="sqlite"),
    pytest.param("mysql", id="mariadb"),
    pytest.param("postgres", id="postgresql"),
    pytest.param("redis", id="redis"),
]



@pytest.mark.parametrize("conn", CONNECTIONS)
def test_burst_worker_runs_everything_and_records_failures(conn, start_worker, empty_queues):
    for i in range(20):
        jobs.Record(i).dispatch(connection=conn)
    jobs.Flaky("f", fails=1).dispatch(connection=conn)
    jobs.AlwaysFails("a").dispatch(connection=conn)
    worker = start_worker("--burst", "--connection", conn, "--concurrency", "2")
    assert worker.wait(60) == 0, worker.output()
    values = [e["value"] for e in ledger.events("ran") if e["job"] == "Record"]
    assert sorted(values) == list(range(20))
    flaky = [e["attempt"] for e in ledger.events("ran") if e["job"] == "Flaky"]
    assert sorted(flaky) == [1, 2]
    row = FailedJob.objects.get()
    assert (row.connection, row.attempts, row.exception_class) == (conn, 3, "RuntimeError")
    assert len(ledger.events("failed_hook")) == 1
    assert get_transport(conn).size("default").total == 0


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        (jobs.Sleeper(5), "JobTimeout: job exceeded its timeout of 1s"),
        (jobs.Sleeper(5, busy=True), "JobTimeout: job exceeded its timeout of 1s"),
        (jobs.AsyncSleeper(5), "JobTimeout: job exceeded its timeout of 1s"),
        (jobs.AsyncSleeper(5, blocking=True), "JobTimeout: job exceeded its timeout of 1s"),
        (jobs.IgnoresAlarm(), "JobTimeout: job exceeded its timeout of 1s and did not stop"),
    ],
    ids=["sleep", "busy-loop", "async", "async-blocking", "hard-kill"],
)
def test_timeouts_hold_for_blocking_code(job, reason, start_worker, empty_queues):
    job.dispatch(connection="redis")
    started = time.monotonic()
    worker = start_worker("--burst", "--connection", "redis")
    assert worker.wait(30) == 0, worker.output()
    assert time.monotonic() - started < 15
    row = FailedJob.objects.get()
    assert row.exception.startswith(f"django_jobqueue.exceptions.{reason}"), row.exception


@pytest.mark.parametrize("how", ["sigkill", "exit"])
def test_killed_horse_counts_as_attempt_and_calls_handler(how, start_worker, empty_queues):
    jobs.SelfDestruct("s", how=how).dispatch(connection="redis")
    worker = start_worker(
        "--burst", "--connection", "redis",
        "--work-horse-killed-handler", "tests.handlers.killed",
    )
    assert worker.wait(30) == 0, worker.output()
    assert len(ledger.events("started")) == 2  # max_tries = 2
    row = FailedJob.objects.get()
    assert row.exception_class == "django_jobqueue.exceptions.WorkHorseKilled"
    assert row.attempts == 2
    if how == "sigkill":
        assert row.term_signal == signal.SIGKILL and "signal 9" in row.message
    else:
        assert row.exit_code == 7 and "code 7" in row.message
    assert row.max_rss_kb and row.max_rss_kb > 1000
    calls = ledger.events("killed_handler")
    assert [c["attempt"] for c in calls] == [1, 2]
    assert calls[0]["job"] == "SelfDestruct" and calls[0]["maxrss"] > 1000
    assert {c["retpid"] for c in calls} == {e["pid"] for e in ledger.events("started")}
    [hook] = ledger.events("failed_hook")
    assert hook["exc"] == "WorkHorseKilled"


@pytest.mark.parametrize(
    ("how", "head"),
    [("exit", "SystemExit: 3"), ("async-exit", "SystemExit: 3"),
     ("interrupt", "KeyboardInterrupt: interrupted e")],
)
def test_exit_in_handle_is_the_attempts_exception(how, head, start_worker, empty_queues):
    jobs.Exits("e", how=how).dispatch(connection="redis")
    # After a coroutine's exit the horse's event loop must still run the next async job.
    follow = jobs.AsyncRecord("next") if how == "async-exit" else jobs.Record("next")
    follow.dispatch(connection="redis")
    worker = start_worker("--burst", "--connection", "redis")
    assert worker.wait(30) == 0, worker.output()
    row = FailedJob.objects.get()
    assert row.exception.startswith(head + "\n"), row.exception
    assert "Traceback (most recent call last)" in row.exception
    assert "sys.exit(3)" in row.exception or "raise KeyboardInterrupt" in row.exception
    assert (row.exception_class, row.attempts) == (head.split(":")[0], 2)
    started = ledger.events("started")
    assert [e["attempt"] for e in started] == [1, 2]  # max_tries = 2
    [hook] = ledger.events("failed_hook")
    assert hook["exc"] == row.exception_class
    # The horse lived on: both attempts and the next job ran in the one process.
    [ran] = ledger.events("ran")
    assert {e["pid"] for e in started} == {ran["pid"]}
    assert "event=horse_crashed" not in worker.output()


def test_memory_limit_kills_horse(start_worker, empty_queues):
    jobs.MemoryHog(400).dispatch(connection="redis")
    worker = start_worker("--burst", "--connection", "redis", "--memory-limit", "150")
    assert worker.wait(30) == 0, worker.output()
    row = FailedJob.objects.get()
    assert row.exception_class == "django_jobqueue.exceptions.WorkHorseKilled"
    assert "over the memory limit of 150 MB" in row.message
    assert row.max_rss_kb > 150 * 1024


def test_exception_handler_chain_from_command_line(start_worker, empty_queues):
    jobs.Unrecoverable("c").dispatch(connection="redis")
    worker = start_worker(
        "--burst", "--connection", "redis",
        "--exception-handler", "tests.handlers.first",
        "--exception-handler", "tests.handlers.stopper",
        "--exception-handler", "tests.handlers.never",
    )
    assert worker.wait(30) == 0, worker.output()
    names = [e["name"] for e in ledger.events("handler")]
    assert names == ["first", "stopper"]
    # Bookkeeping happened although a handler stopped the chain.
    assert FailedJob.objects.get().exception_class == "KeyError"
    assert "event=job_raised" not in worker.output()  # the default handler came after the stop


def test_sigterm_lets_the_running_job_finish(start_worker, empty_queues):
    jobs.LongJob(2, key="t").dispatch(connection="redis")
    worker = start_worker("--connection", "redis")
    wait_until(lambda: ledger.events("started"))
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.output()
    assert [e["value"] for e in ledger.events("ran")] == ["t"]
    assert get_transport("redis").size("default").total == 0


@pytest.mark.parametrize("how", ["shutdown-timeout", "second-signal"])
def test_interrupted_job_is_released_and_finishes_elsewhere(how, start_worker, empty_queues):
    jobs.LongJob(30, key="r", first_only=True).dispatch(connection="redis")
    args = ["--connection", "redis", "--shutdown-timeout", "0.5" if how == "shutdown-timeout"
            else "60"]
    # Long heartbeat and maintenance intervals: the stop must not wait for either.
    worker = start_worker(*args, settings_overrides={"HEARTBEAT": 5.0,
                                                     "MAINTENANCE_INTERVAL": 10.0})
    wait_until(lambda: ledger.events("started"))
    sent = time.monotonic()
    worker.signal(signal.SIGTERM)
    if how == "second-signal":
        time.sleep(0.2)
        worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0, worker.output()
    assert time.monotonic() - sent < 2.5
    assert "event=job_released" in worker.output()
    assert get_transport("redis").size("default").ready == 1
    second = start_worker("--burst", "--connection", "redis")
    assert second.wait(30) == 0, second.output()
    # The interrupted run did not count: the job's next run is attempt 1 again.
    assert [e["attempt"] for e in ledger.events("started")] == [1, 1]
    assert len(ledger.events("ran")) == 1


# Turns (heartbeat, maintenance) 10 s apart: an idle worker that noticed a signal only at
# its next turn would take seconds to stop. One that notices it at once waits out its wait in
# the store (SLEEP, 0.2 s) and stops; the slack is its teardown on 2 loaded cores, where
# scripts/test runs two suites at once.
SPARSE_TURNS = {"HEARTBEAT": 10.0, "MAINTENANCE_INTERVAL": 10.0}
IDLE_EXIT_BOUND = 0.2 + 2.0


def test_idle_worker_exits_on_sigterm_not_at_its_next_turn(start_worker, empty_queues):
    worker = start_worker("--connection", "redis", settings_overrides=SPARSE_TURNS)
    wait_until(lambda: "event=worker_started" in worker.output())
    time.sleep(0.3)
    sent = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    assert time.monotonic() - sent < IDLE_EXIT_BOUND


@pytest.mark.parametrize("conn", CONNECTIONS)
def test_killed_supervisor_job_is_collected_as_abandoned(conn, start_worker, empty_queues):
    fast_lease = {"LEASE": 2.0, "HEARTBEAT": 0.5, "MAINTENANCE_INTERVAL": 0.5}
    jobs.LongJob(30, key="ab", first_only=True).dispatch(connection=conn)
    first = start_worker("--connection", conn, settings_overrides=fast_lease)
    wait_until(lambda: ledger.events("started"), timeout=30)
    horse = ledger.events("started")[0]["pid"]
    first.signal(signal.SIGKILL)
    first.wait(5)
    wait_until(lambda: not _alive(horse), timeout=5)  # the horse died with its supervisor
    killed_at = time.monotonic()
    second = start_worker("--connection", conn, settings_overrides=fast_lease)
    wait_until(lambda: ledger.events("ran"), timeout=30)
    assert time.monotonic() - killed_at < 15
    assert [e["attempt"] for e in ledger.events("started")] == [1, 2]
    second.signal(signal.SIGTERM)
    assert second.wait(10) == 0
    assert "event=abandoned_job_collected" in second.output()
    assert FailedJob.objects.count() == 0


def test_idle_redis_worker_picks_up_new_job_quickly(start_worker, empty_queues, redis_client):
    worker = start_worker("--connection", "redis", "--sleep", "5")
    wait_until(lambda: "event=worker_started" in worker.output())
    delays = []
    for n in range(5):
        # Idle means blocked in BLPOP: without a wake-up it would sleep up to 5 s.
        wait_until(lambda: redis_client.info("clients")["blocked_clients"] >= 1, timeout=10)
        dispatched = time.time()
        jobs.Record(n).dispatch(connection="redis")
        ran = wait_until(lambda n=n: [e for e in ledger.events("ran") if e["value"] == n])
        delays.append(ran[0]["t"] - dispatched)
    # The bound is 100 ms; the worst sample gets slack for a loaded CI machine.
    assert statistics.median(delays) < 0.1, delays
    assert max(delays) < 0.3, delays
    worker.signal(signal.SIGTERM)
    worker.wait(10)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_failures_go_to_redis_fallback_when_the_database_is_down(
    start_worker, empty_queues, redis_client
):
    for key in range(5):
        jobs.AlwaysFails(key).dispatch(connection="redis")
    worker = start_worker("--burst", "--connection", "redis",
                          settings_overrides={"FAILED_DATABASE": "broken"})
    assert worker.wait(60) == 0, worker.output()
    assert redis_client.llen("jqtest:queue:failed:default") == 5
    assert "event=fallback_used" in worker.output()
    assert len(ledger.events("failed_hook")) == 5  # once per job, not per store attempt
    assert FailedJob.objects.count() == 0
    # Once the database answers, any worker's maintenance moves them in.
    mover = start_worker("--connection", "redis")
    wait_until(lambda: FailedJob.objects.count() == 5, timeout=20)
    mover.signal(signal.SIGTERM)
    assert mover.wait(10) == 0
    assert redis_client.llen("jqtest:queue:failed:default") == 0


def test_horses_are_recycled_after_max_jobs(start_worker, empty_queues):
    for i in range(5):
        jobs.Record(i).dispatch(connection="redis")
    worker = start_worker("--burst", "--connection", "redis", "--horse-max-jobs", "2")
    assert worker.wait(30) == 0, worker.output()
    runs = ledger.events("ran")
    assert len(runs) == 5
    assert len({run["pid"] for run in runs}) == 3  # 2 + 2 + 1
    assert "event=idle_horse_ended" not in worker.output()  # recycling is not reported as a death


def test_a_job_id_that_is_not_utf8_runs_alone_and_blocks_no_one(
    start_worker, empty_queues, redis_client
):
    # Another client wrote the second job under an id that is not UTF-8, behind a valid one.
    jobs.Record(1).dispatch(connection="redis")
    moved = jobs.Record(2).dispatch(connection="redis")
    transport = get_transport("redis")
    jobs_key, ready = transport.keys("default")[:2]
    bad = b"\xff\xfe" + moved.id.encode()
    redis_client.hset(jobs_key, bad, redis_client.hget(jobs_key, moved.id))
    redis_client.zadd(ready, {bad: redis_client.zscore(ready, moved.id) + 1})
    redis_client.hdel(jobs_key, moved.id)
    redis_client.zrem(ready, moved.id)
    worker = start_worker("--burst", "--connection", "redis")
    assert worker.wait(60) == 0, worker.output()
    assert sorted(e["value"] for e in ledger.events("ran")) == [1, 2]
    assert not FailedJob.objects.exists()
    assert transport.size("default").total == 0


def test_a_burst_worker_gives_up_on_a_store_that_never_answers(start_worker):
    broken = {"TRANSPORT": "django_jobqueue.transports.database.DatabaseTransport",
              "OPTIONS": {"DATABASE": "broken"}}
    connections = {**settings.JOBQUEUE["CONNECTIONS"], "broken": broken}
    worker = start_worker("--burst", "--connection", "broken", "--burst-store-wait", "2",
                          settings_overrides={"CONNECTIONS": connections})
    started = time.monotonic()
    code = worker.wait(60)
    # The bound: 2 s, plus one step's own reconnect attempts (about 3 s), plus the stop.
    assert code == 1 and time.monotonic() - started < 30, worker.output()
    out = worker.output()
    assert "event=burst_gave_up" in out and "connection=broken" in out
    assert "has not answered for 2 s" in out and "Can't connect" in out


@pytest.mark.parametrize("conn", ["default", "redis"], ids=["sqlite", "redis"])
def test_a_burst_worker_says_which_delayed_jobs_it_waits_for(conn, start_worker, empty_queues):
    waiting = jobs.Record(1).dispatch(connection=conn, delay=3)
    worker = start_worker("--burst", "--connection", conn)
    assert worker.wait(60) == 0, worker.output()
    [line] = [ln for ln in worker.output().splitlines() if "event=burst_waiting" in ln]
    assert "delayed=1" in line and re.search(r"next_due_in=[0-3]\.\ds", line), line
    assert f"tests.jobs.Record {waiting.id[:12]} due in " in line
    assert [e["value"] for e in ledger.events("ran")] == [1]


def test_a_burst_worker_says_so_at_each_new_wait(start_worker, empty_queues):
    jobs.BackingOff("b", fails=2).dispatch(connection="redis")
    worker = start_worker("--burst", "--connection", "redis")
    assert worker.wait(60) == 0, worker.output()
    lines = [ln for ln in worker.output().splitlines() if "event=burst_waiting" in ln]
    # One line as each backoff begins (1 s, then 2 s), not one per 15 s.
    assert len(lines) == 2 and all("tests.jobs.BackingOff" in ln for ln in lines), lines
    assert [e["attempt"] for e in ledger.events("ran")] == [1, 2, 3]
