"""Jobs queued in a busy horse (a short jobs' horse is handed several ahead, see
``worker/slots.py``): with real ``runworker`` subprocesses, whatever happens to the horse or
the worker, a queued job that never began is never charged an attempt and never lost."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from django_jobqueue.models import FailedJob
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support import ledger
from tests.support.params import MARIADB_AND_REDIS
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"]),
]
RETURNED = "event=queued_jobs_returned"


def _records(conn: str, values: range) -> None:
    for n in values:
        jobs.Record(n).dispatch(connection=conn)


def _record_runs() -> Counter[tuple[int, int]]:
    """(value, attempt) of every Record run."""
    return Counter(
        (e["value"], e["attempt"]) for e in ledger.events("ran") if e["job"] == "Record"
    )


# A horse is handed jobs ahead only while its jobs run under ``INBOX_BUDGET``: on a loaded
# machine a round may queue nothing behind the killer. Each round must keep every job; the
# scenario is run again, a few times at most, until one round did return queued jobs.
ROUNDS = 3


@pytest.mark.parametrize("conn", MARIADB_AND_REDIS)
def test_jobs_queued_behind_a_killed_horse_run_once_uncharged(conn, start_worker, empty_queues):
    returned = 0
    for _ in range(ROUNDS):
        output = _kill_a_horse_with_jobs_queued_behind(conn, start_worker)
        returned += RETURNED in output
        if returned:
            break
    # The jobs queued behind the killer went back in line and ran once, as attempt 1.
    assert returned, f"no round queued a job behind the killer: {output}"


def _kill_a_horse_with_jobs_queued_behind(conn: str, start_worker) -> str:
    ledger.path().unlink(missing_ok=True)
    FailedJob.objects.all().delete()
    _records(conn, range(40))
    jobs.SelfDestruct("boom").dispatch(connection=conn)
    _records(conn, range(40, 80))
    worker = start_worker("--burst", "--connection", conn, "--prefetch", "16")
    assert worker.wait(60) == 0, worker.output()
    assert _record_runs() == Counter((n, 1) for n in range(80))
    assert [e["attempt"] for e in ledger.events("started")] == [1, 2]
    row = FailedJob.objects.get()
    assert row.exception_class == "django_jobqueue.exceptions.WorkHorseKilled"
    assert len(ledger.events("failed_hook")) == 1
    return worker.output()


def test_recycled_horses_leave_no_queued_job_behind(start_worker, empty_queues):
    _records("redis", range(300))
    worker = start_worker("--burst", "--connection", "redis", "--horse-max-jobs", "7")
    assert worker.wait(60) == 0, worker.output()
    assert _record_runs() == Counter((n, 1) for n in range(300))
    assert len({e["pid"] for e in ledger.events("ran")}) >= 300 // 7
    assert not FailedJob.objects.exists()
    assert get_transport("redis").size("default").total == 0


@pytest.mark.parametrize("conn", MARIADB_AND_REDIS)
def test_a_failure_does_not_hold_up_the_jobs_queued_behind_it(conn, start_worker, empty_queues):
    _records(conn, range(30))
    jobs.Unrecoverable("bad").dispatch(connection=conn)
    _records(conn, range(30, 60))
    worker = start_worker("--burst", "--connection", conn)
    assert worker.wait(60) == 0, worker.output()
    assert _record_runs() == Counter((n, 1) for n in range(60))
    assert FailedJob.objects.get().exception_class == "KeyError"
    # The hook ran once, in the horse that ran the job, with the job's own exception. (Where
    # it falls among the jobs behind depends on how fast the store records the failure: on a
    # quick one it may come before the next job, so no position is asserted.)
    [hook] = ledger.events("failed_hook")
    [failed_run] = [e for e in ledger.events("ran") if e["job"] == "Unrecoverable"]
    assert (hook["value"], hook["exc"], hook["pid"]) == ("bad", "KeyError", failed_run["pid"])
    order = [(e["event"], e.get("value")) for e in ledger.read()]
    assert order.index(("failed_hook", "bad")) > order.index(("ran", "bad"))


def test_sigterm_skips_the_jobs_queued_in_a_horse(start_worker, empty_queues):
    _records("redis", range(30))
    jobs.LongJob(2, key="long").dispatch(connection="redis")
    _records("redis", range(30, 60))
    worker = start_worker("--connection", "redis", "--prefetch", "16",
                          settings_overrides={"PREFETCH_HOLD": 60.0})
    wait_until(lambda: ledger.events("started"), timeout=30)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.output()
    # The long job finished; those queued behind it were skipped and handed back.
    assert [e["value"] for e in ledger.events("ran") if e["job"] == "LongJob"] == ["long"]
    assert "skipped: the worker is stopping" in worker.output()
    ran = _record_runs()
    assert set(ran.values()) == {1} and all(attempt == 1 for _, attempt in ran)
    left = get_transport("redis").size("default")
    assert (left.reserved, left.ready) == (0, 60 - len(ran))
    other = start_worker("--burst", "--connection", "redis")
    assert other.wait(30) == 0, other.output()
    assert _record_runs() == Counter((n, 1) for n in range(60))


def test_a_failed_hook_whose_horse_died_runs_elsewhere_with_a_stand_in(start_worker, empty_queues):
    _records("redis", range(30))
    jobs.Unrecoverable("bad").dispatch(connection="redis")
    jobs.SelfDestruct("boom").dispatch(connection="redis")  # queued behind: kills the horse
    _records("redis", range(30, 60))
    worker = start_worker("--burst", "--connection", "redis")
    assert worker.wait(60) == 0, worker.output()
    assert _record_runs() == Counter((n, 1) for n in range(60))
    hooks = {e["value"]: e["exc"] for e in ledger.events("failed_hook")}
    # The KeyError lived in the dead horse; another one calls failed() with a stand-in.
    assert hooks == {"bad": "JobFailed", "boom": "WorkHorseKilled"}
    assert FailedJob.objects.filter(exception_class="KeyError").count() == 1


@pytest.mark.parametrize(("times", "hooks"), [(1, 1), (5, 0)], ids=["once", "always"])
def test_a_hook_that_kills_its_horse_is_called_once_more_at_most(
    times, hooks, start_worker, empty_queues
):
    jobs.HookKillsHorse("h", times=times).dispatch(connection="redis")
    _records("redis", range(5))
    worker = start_worker("--burst", "--connection", "redis")
    assert worker.wait(60) == 0, worker.output()
    assert len(ledger.events("hook_started")) == 2
    assert len(ledger.events("failed_hook")) == hooks
    assert _record_runs() == Counter((n, 1) for n in range(5))
    assert FailedJob.objects.get().exception_class == "ValueError"


@pytest.mark.parametrize("conn", MARIADB_AND_REDIS)
def test_many_failures_at_once_are_each_recorded_and_hooked_once(conn, start_worker, empty_queues):
    for n in range(200):
        jobs.Unrecoverable(f"k{n}").dispatch(connection=conn)
    worker = start_worker("--burst", "--connection", conn, "--concurrency", "2")
    assert worker.wait(60) == 0, worker.output()
    assert sorted(FailedJob.objects.values_list("attempts", flat=True)) == [1] * 200
    hooks = Counter((e["value"], e["exc"]) for e in ledger.events("failed_hook"))
    assert hooks == Counter((f"k{n}", "KeyError") for n in range(200))
    assert get_transport(conn).size("default").total == 0


def test_large_failures_queued_in_a_busy_horse_do_not_jam_its_socket(start_worker, empty_queues):
    # Large results from the horse while large messages go to it: a socket buffer full in
    # both directions would block both processes for good.
    _records("redis", range(30))
    for n in range(60):
        jobs.BigFailure(f"big{n}", "y" * 30_000).dispatch(connection="redis")
    worker = start_worker("--burst", "--connection", "redis")
    assert worker.wait(60) == 0, worker.output()
    assert FailedJob.objects.count() == 60
    assert len(ledger.events("failed_hook")) == 60


def test_max_jobs_counts_jobs_begun_not_jobs_queued(start_worker, empty_queues):
    _records("redis", range(200))
    worker = start_worker("--connection", "redis", "--max-jobs", "50")
    assert worker.wait(60) == 0, worker.output()
    assert len(_record_runs()) == 50
    assert get_transport("redis").size("default").ready == 150


@pytest.mark.parametrize("conn", MARIADB_AND_REDIS)
def test_jobs_queued_behind_a_job_that_turns_long_go_back_once_their_lease_is_unsure(
    conn, start_worker, empty_queues
):
    _records(conn, range(40))
    jobs.LongJob(1.5, key="slow").dispatch(connection=conn)
    _records(conn, range(40, 80))
    worker = start_worker("--burst", "--connection", conn, "--prefetch", "16")
    assert worker.wait(60) == 0, worker.output()
    # The jobs queued behind the long one were skipped by the horse, not run on a short
    # lease that might have lapsed meanwhile (prefetch.HAND_OUT_WITHIN), and ran once.
    assert "skipped: it waited too long behind another job" in worker.output()
    assert _record_runs() == Counter((n, 1) for n in range(80))
