"""The example project's ``manage.py demo``, run as a user runs it: on SQLite, and on the
real Redis and MariaDB test servers through its JOBQUEUE_EXAMPLE_* variables.

The demo checks every job's outcome against how the job is written and exits non-zero on
any surprise; these tests hold it to that and to the counts it prints.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

REPO = Path(__file__).resolve().parent.parent
# A Redis database of the example's own: the suite's fixtures flush database 0.
EXAMPLE_REDIS_DB = 7
EXAMPLE_MYSQL_DB = "jobqueue_example"
# 40 dispatched (PageOnCall, dispatched by the handler, and the batch's callbacks, queued by
# the worker, are not counted): 29 end well, 9 fail for good, each a new kind of failure; of
# the flow-control jobs, one is cancelled while it runs and one expires. Those two are kept
# in the failed-job table too, not as failures. Of the 40, the order chain's 3 steps succeed,
# and the catalogue batch's 8 products are 6 synced and 2 failed.
DISPATCHED, SUCCEEDED, FAILED, CANCELLED, EXPIRED = 40, 29, 9, 1, 1

pytestmark = pytest.mark.slow


def _run_demo(tmp_path: Path, **env_vars: str) -> str:
    # A copy of the project, so its SQLite file and nothing else lands in tmp_path; the
    # checkout comes first on the path, whatever the venv has installed.
    project = tmp_path / "example_project"
    shutil.copytree(REPO / "example_project", project, ignore=shutil.ignore_patterns(
        "*.sqlite3*", "__pycache__"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JQ_", "DJANGO_", "JOBQUEUE_EXAMPLE_"))}
    env.update(PYTHONPATH=str(REPO), **env_vars)
    done = subprocess.run(
        [sys.executable, str(project / "manage.py"), "demo"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def _assert_outcome(output: str) -> None:
    counts = re.search(r"(\d+) jobs dispatched: (\d+) succeeded, (\d+) failed for good,"
                       r" (\d+) cancelled, (\d+) expired", output)
    assert counts, output
    assert tuple(map(int, counts.groups())) == (
        DISPATCHED, SUCCEEDED, FAILED, CANCELLED, EXPIRED), output
    assert "Every job ended as written: the demo works." in output
    # The hooks the settings name, each seen doing its part.
    assert output.count("job_failed: job=") == FAILED  # the job_failed receiver
    assert output.count("on-call paged: new kind of failure") == FAILED
    assert "work horse killed: job=ResizeImagesJob" in output
    assert "attempt failed: job=GenerateReportJob attempt=3" in output
    # log_attempt returns False, so the built-in handler's tracebacks never print.
    assert "Traceback" not in output
    # The unique job: a second dispatch for the same warehouse names the first job.
    assert "event=job_duplicate job=shop.jobs.SyncStockJob" in output
    assert "duplicate=True" in output
    # The schedule: the settings' nightly prune and the class-level entry, listed (a burst
    # worker fires neither).
    assert re.search(r"prune-failed-jobs +cron 0 2 \* \* \* \(UTC\)", output), output
    assert re.search(r"shop\.jobs\.ReleaseExpiredCarts +cron \* \* \* \* \* \(UTC\)", output)
    assert "event=schedule_fired entry=" not in output
    _assert_flow_control(output)
    _assert_workflows(output)


def _assert_flow_control(output: str) -> None:
    """The flow-control jobs: limits held (the simulated partners would have refused the
    jobs otherwise, and the demo counted a failure), one expiry, one cancel while running
    seen from the demo's process, progress read back with job_status()."""
    assert output.count("catalog of shop north synced") == 2
    assert output.count("published on example-market") == 6
    assert "event=job_expired job=shop.jobs.FlashSaleReminder" in output
    assert re.search(r"\[demo\] job_status\(\w+\.\.\.\): running, \d+ of 100000 rows", output)
    assert "outcome 'requested' (it was running)" in output
    assert "event=job_cancel_seen" in output
    assert re.search(r"job_cancelled: job=shop\.jobs\.ImportProductsJob id=\w+ running=True",
                     output)
    assert "ImportProductsJob(feed='spring', rows=2000): succeeded, 2000 of 2000" in output
    assert re.search(r"ImportProductsJob\(feed='winter', rows=100000\): cancelled, \d+ of"
                     r" 100000 rows imported", output)


def _assert_workflows(output: str) -> None:
    """The chain ran its steps in order, each queued by the worker once; the batch fired
    on_failure and on_complete once each with its counts, and no on_success (the demo
    itself checks the counts and the failed ids against the merchandising inbox)."""
    assert "order 2001 (chain " in output
    assert "): charged -> stock reserved -> confirmation sent" in output
    steps = re.findall(r"event=chain_next chain=\w+ id=\w+ after=\w+ step=(\d) steps=3", output)
    assert steps == ["2", "3"], output
    assert output.count("event=chain_finished") == 1
    assert "event=chain_next_repeat" not in output
    callbacks = re.findall(r"event=batch_callback batch=\w+ callback=(\w+) id=\w+"
                           r" job=shop.jobs.CatalogueSyncReport succeeded=(\d+) failed=(\d+)"
                           r" cancelled=(\d+)", output)
    assert sorted(callbacks) == [("on_complete", "6", "2", "0"), ("on_failure", "6", "2", "0")]
    assert output.count("merchandising inbox: on_failure: 6 of 8 synced, 2 failed") == 1
    assert output.count("merchandising inbox: on_complete: 6 of 8 synced, 2 failed") == 1
    assert "merchandising inbox: on_success" not in output
    assert re.search(r"batch_status\(\w+\.\.\.\): nightly catalogue sync, 8 products: 6 synced,"
                     r" 2 failed, complete=True", output)


def test_demo_on_sqlite(tmp_path: Path) -> None:
    output = _run_demo(tmp_path)
    assert "(SQLite: no server needed)" in output
    assert "Queue: the queue_jobs table" in output
    _assert_outcome(output)


def test_demo_on_redis_and_mariadb(tmp_path: Path) -> None:
    import MySQLdb
    import redis

    servers = settings.SERVERS
    redis_url = f"redis://127.0.0.1:{servers['REDIS_PORT']}/{EXAMPLE_REDIS_DB}"
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    conn = MySQLdb.connect(host=servers["MYSQL_HOST"], port=int(servers["MYSQL_PORT"]),
                           user=servers["MYSQL_USER"], password=servers["MYSQL_PASSWORD"])
    try:
        cursor = conn.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS `{EXAMPLE_MYSQL_DB}`")
        cursor.execute(f"CREATE DATABASE `{EXAMPLE_MYSQL_DB}` CHARACTER SET utf8mb4 "
                       "COLLATE utf8mb4_unicode_ci")
        mysql = ":".join([servers["MYSQL_HOST"], servers["MYSQL_PORT"], servers["MYSQL_USER"],
                          servers["MYSQL_PASSWORD"], EXAMPLE_MYSQL_DB])
        output = _run_demo(tmp_path, JOBQUEUE_EXAMPLE_REDIS_URL=redis_url,
                           JOBQUEUE_EXAMPLE_MYSQL=mysql)
        assert f"Database: MariaDB/MySQL database '{EXAMPLE_MYSQL_DB}'" in output
        assert f"Queue: Redis at {redis_url}" in output
        _assert_outcome(output)
        # The jobs really were in Redis, under the example's prefix, and left nothing behind.
        assert client.keys("jobqueue-example:*")
        cursor.execute(f"SELECT COUNT(*) FROM `{EXAMPLE_MYSQL_DB}`.queue_failed_jobs")
        assert cursor.fetchone()[0] == FAILED + CANCELLED + EXPIRED
        cursor.execute(f"SELECT COUNT(*) FROM `{EXAMPLE_MYSQL_DB}`.queue_jobs")
        assert cursor.fetchone()[0] == 0
    finally:
        conn.close()
        client.flushdb()
        client.close()
