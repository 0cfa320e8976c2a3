"""Each failed-job command once as a real ``python -m django`` process on the test databases:
argument parsing from a real command line, exit codes and output as cron would see them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from django_jobqueue import dispatch, failures
from django_jobqueue.models import FailedJob, QueuedJob
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support import REPO
from tests.support.factories import make

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, databases=["default"])]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, JQ_TESTING_DB="1", PYTHONPATH=str(REPO), JQ_SETTINGS_JSON="{}")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "-m", "django", *args, "--settings", "tests.settings"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )


def test_prune_and_its_refusal():
    failures.record(make(queue="old", age_hours=24 * 40))
    failures.record(make(queue="new"))
    refused = run("prune_failed_jobs")
    assert refused.returncode == 2 and "refusing to delete every failed job" in refused.stderr
    bad = run("prune_failed_jobs", "--days", "1", "--hours", "2")
    assert bad.returncode == 2 and "not allowed with argument --days" in bad.stderr
    done = run("prune_failed_jobs", "--days", "30")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "Deleted 1 failed job:"
    assert list(FailedJob.objects.values_list("queue", flat=True)) == ["new"]


def test_retry_pushes_to_the_database_queue_and_exits_1_for_kept_rows():
    get_transport("default").clear("default")
    ok = failures.record(make(connection="default"))
    gone = failures.record(make(connection="default", job="shop.jobs.Deleted"))
    result = run("retry_failed_jobs", str(ok.id), str(gone.id), "--rate", "100")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[:2] == ["Retried 1 failed job (default 1).",
                                              "Kept 1 that cannot be retried:"]
    assert list(FailedJob.objects.values_list("pk", flat=True)) == [gone.id]
    [queued] = QueuedJob.objects.all()
    assert json.loads(queued.payload)["retry_of"] != queued.uuid
    get_transport("default").clear("default")


def test_list_and_show():
    recorded = failures.record(make(exc="KeyError", message="user 5 missing"))
    listed = run("failed_jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["id"] == recorded.id
    shown = run("failed_jobs", "show", str(recorded.id))
    assert shown.returncode == 0 and f"Failed job #{recorded.id}" in shown.stdout
    assert "KeyError: user 5 missing" in shown.stdout
    missing = run("failed_jobs", "show", "999")
    assert missing.returncode == 1 and "no failed job with id 999" in missing.stderr


def test_stats_and_check():
    for _ in range(3):
        failures.record(make())
    stats = run("failed_jobs_stats", "--json", "--since", "1h")
    assert stats.returncode == 0 and json.loads(stats.stdout)["total"] == 3
    alert = run("check_failed_jobs", "--threshold", "2", "--window", "1h")
    assert (alert.returncode, alert.stdout) == (
        1, "ALERT: 3 failed jobs in the last 1h (threshold 2)\n")
    ok = run("check_failed_jobs", "--threshold", "3")
    assert (ok.returncode, ok.stdout) == (0, "OK: 3 failed jobs in the last 1h (threshold 3)\n")
    bad = run("check_failed_jobs", "--threshold", "3", "--window", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_queue_status_json():
    transport = get_transport("default")
    transport.clear("default")
    dispatch(jobs.Record(1), connection="default")
    status = run("queue_status", "--json", "--connection", "default", "--queue", "default")
    transport.clear("default")
    assert status.returncode == 0, status.stderr
    queue, workers = (json.loads(line) for line in status.stdout.splitlines())
    assert queue.pop("oldest_age") >= 0
    assert queue == {"kind": "queue", "connection": "default", "queue": "default",
                     "ready": 1, "delayed": 0, "reserved": 0, "error": "", "paused": False,
                     "paused_at": None, "paused_by": ""}
    assert workers == {"kind": "workers", "connection": "default", "tracked": True,
                       "error": "", "workers": []}
